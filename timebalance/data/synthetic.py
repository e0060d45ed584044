"""A small synthetic action dataset written as real videos in the exact UCF101 layout.

It is the embedded default of the DAG: it flows through the same ``ucf101`` adapter, frame
extractor and clip loaders as the real dataset. Two kinds of classes, as in TimeBalance:

* ``atomic``: one periodic sub-action all video long, so any two clips of a video look alike
  (high temporal self-similarity);
* ``sequence``: 2-3 sub-actions, each for a contiguous part of the video (split points jittered
  per video), so clips from different times differ. Some sequence classes use the same
  sub-actions in reversed order: only clips that see the order (span a transition) tell them
  apart.

Appearance (grey background level, object shape, colour, size, speed, phase, direction, pixel
noise) is random per clip, so appearance never gives the class away: only the motion does. With
``group_appearance=True`` the clips of one group share the "actor and scene" (shape, colour,
background) as in UCF101; then a model can memorise the training groups' looks, which do not
transfer to the held-out test groups (a demo with minutes of training learned exactly that:
40% clip accuracy on validation clips from training groups, chance on the test groups). The
train/test split is by group either way. The object always moves near the frame centre so random
crops keep the evidence (see DESIGN.md, "The synthetic default"). Everything is deterministic
from the seed: each clip draws from its own ``numpy`` generator keyed by (seed, class, group,
clip), and ffmpeg encodes with ``-bitexact`` in one thread, so the same seed gives the same bytes.

On disk (CRLF line endings like the official lists)::

    <root>/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    <root>/ucfTrainTestlist/classInd.txt         "1 Bounce"
    <root>/ucfTrainTestlist/trainlist0{1,2,3}.txt "Bounce/v_Bounce_g04_c01.avi 1"
    <root>/ucfTrainTestlist/testlist0{1,2,3}.txt  "Bounce/v_Bounce_g01_c01.avi"
    <root>/synthetic.json                         parameters and class catalogue
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
import pandas as pd

SUBACTIONS: tuple[str, ...] = ("Circle", "Swing", "Bounce", "Pulse", "ZigZag", "Spin")
SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "diamond")
N_SPLITS = 3  # UCF101 ships three train/test splits


@dataclass(frozen=True)
class SyntheticClass:
    """One synthetic action class: ``kind`` is "atomic" or "sequence"; ``subactions`` are
    names from ``SUBACTIONS`` in the order they are performed."""

    name: str
    kind: str
    subactions: tuple[str, ...]


def _sequence(*steps: str) -> SyntheticClass:
    return SyntheticClass("Then".join(steps), "sequence", steps)


_ATOMIC = tuple(SyntheticClass(s, "atomic", (s,)) for s in SUBACTIONS)
# Order matters: ``select_classes`` takes a prefix. The first two form a reversed pair, so every
# dataset with >= 2 sequence classes contains one; later reversed pairs follow their partners.
_SEQUENCES = (
    _sequence("Circle", "Bounce"),
    _sequence("Bounce", "Circle"),
    _sequence("Swing", "Spin", "Pulse"),
    _sequence("ZigZag", "Swing"),
    _sequence("Pulse", "ZigZag"),
    _sequence("Pulse", "Spin", "Swing"),
    _sequence("Swing", "ZigZag"),
    _sequence("ZigZag", "Pulse"),
    _sequence("Spin", "Bounce"),
    _sequence("Bounce", "Spin"),
    _sequence("Circle", "ZigZag", "Pulse"),
    _sequence("Pulse", "ZigZag", "Circle"),
)
#: The full catalogue, atomic classes first; its index is the class's stable seed key.
SYNTHETIC_CLASSES: tuple[SyntheticClass, ...] = _ATOMIC + _SEQUENCES


def select_classes(n_classes: int) -> list[SyntheticClass]:
    """The ``n_classes`` classes a dataset uses, sorted by name (label order, like classInd).

    Half of them (rounded up, at most 6) are atomic, the rest sequences.
    """
    if not 2 <= n_classes <= len(SYNTHETIC_CLASSES):
        raise ValueError(
            f"n_classes={n_classes}: the synthetic catalogue has 2..{len(SYNTHETIC_CLASSES)} "
            "classes; pick a value in that range"
        )
    n_atomic = min(len(_ATOMIC), (n_classes + 1) // 2)
    chosen = list(_ATOMIC[:n_atomic]) + list(_SEQUENCES[: n_classes - n_atomic])
    return sorted(chosen, key=lambda c: c.name)


# ---------------------------------------------------------------------------------------------
# Rendering


def _triangle(x: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1 and range [-1, 1]."""
    return 4.0 * np.abs(x - np.floor(x + 0.5)) - 1.0


def _pose(name: str, t: np.ndarray, period: float, phase: float, sign: float, size: float):
    """Offset from the centre (dx, dy, pixels), scale factor and extra rotation (radians) of the
    object at frame times ``t`` (frames since the segment started) for one periodic sub-action.
    ``size`` is the frame's short side; the object's centre stays within 0.14 of it from the
    frame centre (0.17 with the per-clip jitter), so an 80% crop never loses it."""
    cyc = t / period + phase / (2 * np.pi)  # cycles done
    zero = np.zeros_like(t)
    one = np.ones_like(t)
    th = 2 * np.pi * cyc
    if name == "Circle":
        r = 0.12 * size
        return r * np.cos(th), sign * r * np.sin(th), one, zero
    if name == "Swing":
        return 0.14 * size * np.sin(th), zero, one, zero
    if name == "Bounce":  # fast at the bottom, slow at the top: |sin| is a bouncing ball
        return zero, 0.28 * size * (0.5 - np.abs(np.sin(np.pi * cyc))), one, zero
    if name == "Pulse":
        return zero, zero, 1.0 + 0.35 * np.sin(th), zero
    if name == "ZigZag":
        return 0.14 * size * _triangle(cyc), 0.07 * size * _triangle(3 * cyc), one, zero
    if name == "Spin":  # half a turn per period: an elongated shape looks the same after pi
        return zero, zero, one, sign * np.pi * cyc
    raise ValueError(f"unknown sub-action {name!r}; expected one of {SUBACTIONS}")


def _group_appearance(rng: np.random.Generator) -> dict:
    """What all clips of one (class, group) share, like the actor and scene of a UCF group."""
    background = rng.uniform(0.25, 0.75)
    # The object's brightness differs from the background by >= 0.3 so it is always visible.
    delta = rng.uniform(0.3, 0.45)
    luma = background + delta if background + delta <= 0.95 else background - delta
    chroma = rng.uniform(-0.25, 0.25, size=3)
    chroma -= chroma @ np.array([0.299, 0.587, 0.114])  # zero luma, keeps brightness
    return {
        "background": background,
        "colour": np.clip(luma + chroma, 0.0, 1.0),
        "shape": SHAPES[rng.integers(len(SHAPES))],
        "half_length": rng.uniform(0.12, 0.16),  # fraction of the short side
        "aspect": rng.uniform(1.6, 2.2),  # elongated, so Spin is visible for every shape
    }


def render_clip(
    cls: SyntheticClass,
    group: dict,
    rng: np.random.Generator,
    *,
    n_frames: int,
    width: int,
    height: int,
) -> np.ndarray:
    """Render one clip of class ``cls``: T x H x W x 3 uint8 RGB frames.

    ``group`` is from ``_group_appearance``; ``rng`` draws the clip's own speed, phase,
    direction, size, centre jitter, split points and noise.
    """
    size = float(min(width, height))
    t = np.arange(n_frames, dtype=np.float64)
    period = rng.uniform(10.0, 20.0)  # frames per cycle: 0.4-0.8 s at 25 fps
    sign = float(rng.choice([-1.0, 1.0]))
    scale0 = rng.uniform(0.9, 1.1)
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.03, 0.03, 2) * size
    angle0 = rng.uniform(0, np.pi)
    noise = rng.uniform(0.0, 0.03)

    k = len(cls.subactions)
    bounds = [0]
    for i in range(1, k):
        bounds.append(round(n_frames * (i / k + rng.uniform(-0.08, 0.08))))
    bounds.append(n_frames)
    dx, dy, sc, ang = (np.empty(n_frames) for _ in range(4))
    for name, lo, hi in zip(cls.subactions, bounds[:-1], bounds[1:], strict=True):
        phase = rng.uniform(0, 2 * np.pi)
        seg = _pose(name, t[lo:hi] - lo, period, phase, sign, size)
        for out, val in zip((dx, dy, sc, ang), seg, strict=True):
            out[lo:hi] = val

    # Object-local coordinates of every pixel in every frame: T x H x W.
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    cx = (centre[0] + dx).astype(np.float32)[:, None, None]
    cy = (centre[1] + dy).astype(np.float32)[:, None, None]
    theta = (angle0 + ang).astype(np.float32)[:, None, None]
    a = (group["half_length"] * size * scale0 * sc).astype(np.float32)[:, None, None]
    b = a / np.float32(group["aspect"])
    px, py = xs[None] - cx, ys[None] - cy
    u = (px * np.cos(theta) + py * np.sin(theta)) / a
    v = (-px * np.sin(theta) + py * np.cos(theta)) / b
    if group["shape"] == "ellipse":
        d = np.sqrt(u * u + v * v)
    elif group["shape"] == "rectangle":
        d = np.maximum(np.abs(u), np.abs(v))
    else:
        d = np.abs(u) + np.abs(v)
    # (1 - d) * b is roughly the signed distance to the edge in pixels: a one-pixel soft edge.
    alpha = np.clip(0.5 + (1.0 - d) * b, 0.0, 1.0)[..., None]

    colour = group["colour"].astype(np.float32)
    img = np.float32(group["background"]) * (1.0 - alpha) + colour * alpha
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Encoding and the UCF101 tree


def encode_avi(frames: np.ndarray, path: Path, *, fps: int) -> None:
    """Encode T x H x W x 3 uint8 RGB frames as MPEG-4 Part 2 in AVI (like UCF101's XviD).

    ``-bitexact`` and one thread make the bytes a function of the frames only.
    """
    n, h, w, _ = frames.shape
    args = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        .output(
            str(Path(path).absolute()),
            vcodec="mpeg4",
            pix_fmt="yuv420p",
            threads=1,
            fflags="+bitexact",
            flags="+bitexact",
            map_metadata=-1,
            **{"q:v": 3},
        )
        .global_args("-hide_banner", "-loglevel", "error")
        .overwrite_output()
        .compile()
    )
    proc = subprocess.run(args, input=frames.tobytes(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"ffmpeg failed to encode {path} ({n} frames {w}x{h}): "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )


def _clip_counts(clips_per_group: int | tuple[int, int], rng: np.random.Generator) -> int:
    if isinstance(clips_per_group, int):
        return clips_per_group
    lo, hi = clips_per_group
    return int(rng.integers(lo, hi + 1))


def _test_groups(split: int, n_groups: int, n_test_groups: int) -> set[int]:
    """1-based groups held out for testing in ``split`` (1..3), rotating like the official
    lists (split 1 tests groups 1-7 of UCF101, split 2 groups 8-14, ...)."""
    start = (split - 1) * n_test_groups
    return {(start + i) % n_groups + 1 for i in range(n_test_groups)}


def _write_lines(path: Path, lines: list[str]) -> None:
    # newline="" keeps our explicit CRLF (the official UCF101 lists are CRLF).
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.writelines(line + "\r\n" for line in lines)


def _replace_tree(tmp: Path, root: Path) -> None:
    """Move the finished tree ``tmp`` to ``root``, replacing a previous synthetic dataset."""
    if root.exists():
        is_previous = (root / "synthetic.json").is_file()
        has_files = any(p.is_file() or p.is_symlink() for p in root.rglob("*"))
        if not root.is_dir() or (has_files and not is_previous):
            raise FileExistsError(
                f"{root} exists and is not a dataset written by synthesize_dataset (no "
                "synthetic.json); remove it or choose another root"
            )
        old = Path(tempfile.mkdtemp(prefix=f"{root.name}.old-", dir=root.parent))
        os.replace(root, old / root.name)
        os.replace(tmp, root)
        shutil.rmtree(old)
    else:
        os.replace(tmp, root)


def synthesize_dataset(
    root: str | os.PathLike,
    *,
    n_classes: int = 10,
    n_groups: int = 10,
    clips_per_group: int | tuple[int, int] = (2, 4),
    n_test_groups: int = 3,
    n_frames: int = 80,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    seed: int = 0,
    group_appearance: bool = False,
    workers: int = 2,
) -> pd.DataFrame:
    """Write the synthetic dataset under ``root`` in the UCF101 layout (see the module doc).

    Args:
        root: output directory; built in ``<root>.tmp-*`` beside it and renamed when complete.
            An existing ``root`` is replaced only if it is empty or a previous synthetic dataset.
        n_classes: number of classes (2..18), half atomic (at most 6), the rest sequences.
        n_groups: UCF-style groups per class (``gXX``, 1-based).
        clips_per_group: clips per group (``cYY``), fixed or an inclusive (low, high) range.
        n_test_groups: groups held out for testing in each split (groups 1..n in split 1).
        n_frames: mean video length; each video has n_frames +- 20% frames (80 -> 64..96).
        width, height: frame size in pixels (even, for yuv420p).
        fps: frame rate written in the container.
        seed: the same seed gives identical frames and bytes.
        group_appearance: clips of one group share shape, colour and background (UCF-like);
            False (default) draws them per clip so only motion identifies the class.
        workers: videos rendered and encoded in parallel (threads; ffmpeg is a subprocess).

    Returns:
        One row per video, sorted like the lists: ``video`` (relative to ``root``, as the
        ucf101 index gives it: "UCF-101/<Class>/v_...avi"), ``entry`` (as in the split lists:
        "<Class>/v_...avi"), ``class_name``, ``label`` (0-based, = classInd number - 1, as
        the index), ``group``, ``clip``,
        ``kind`` ("atomic"/"sequence"), ``subset`` ("train"/"test" in split 1), ``n_frames``.
    """
    if width % 2 or height % 2 or min(width, height) < 16:
        raise ValueError(f"width={width}, height={height}: need even sizes >= 16 (yuv420p)")
    if not 1 <= n_groups <= 99 or not 1 <= n_test_groups < n_groups:
        raise ValueError(
            f"n_groups={n_groups}, n_test_groups={n_test_groups}: need 1 <= n_groups <= 99 "
            "and 1 <= n_test_groups < n_groups so both subsets are non-empty"
        )
    lo_hi = (clips_per_group,) * 2 if isinstance(clips_per_group, int) else clips_per_group
    if not 1 <= lo_hi[0] <= lo_hi[1] <= 99:
        raise ValueError(f"clips_per_group={clips_per_group}: need 1 <= low <= high <= 99")
    if n_frames < 8:
        raise ValueError(f"n_frames={n_frames}: need at least 8 frames per video")
    root = Path(root).absolute()
    classes = select_classes(n_classes)
    key_of = {c.name: i for i, c in enumerate(SYNTHETIC_CLASSES)}
    jitter = round(0.2 * n_frames)

    jobs = []  # (row, group appearance, clip generator)
    for label, cls in enumerate(classes):
        for g in range(1, n_groups + 1):
            g_rng = np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(key_of[cls.name], g))
            )
            shared = _group_appearance(g_rng)
            for c in range(1, _clip_counts(clips_per_group, g_rng) + 1):
                rng = np.random.default_rng(
                    np.random.SeedSequence(seed, spawn_key=(key_of[cls.name], g, c))
                )
                appearance = shared if group_appearance else _group_appearance(rng)
                name = f"v_{cls.name}_g{g:02d}_c{c:02d}.avi"
                row = {
                    "video": f"UCF-101/{cls.name}/{name}",
                    "entry": f"{cls.name}/{name}",
                    "class_name": cls.name,
                    "label": label,
                    "group": g,
                    "clip": c,
                    "kind": cls.kind,
                    "subset": "test" if g in _test_groups(1, n_groups, n_test_groups) else "train",
                    "n_frames": n_frames + int(rng.integers(-jitter, jitter + 1)),
                }
                jobs.append((row, cls, appearance, rng))

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{root.name}.tmp-", dir=root.parent))
    try:
        for cls in classes:
            (tmp / "UCF-101" / cls.name).mkdir(parents=True)

        def make(job) -> None:
            row, cls, appearance, rng = job
            frames = render_clip(
                cls, appearance, rng, n_frames=row["n_frames"], width=width, height=height
            )
            encode_avi(frames, tmp / row["video"], fps=fps)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(make, jobs))  # list() re-raises the first failure

        lists = tmp / "ucfTrainTestlist"
        lists.mkdir()
        _write_lines(lists / "classInd.txt", [f"{i + 1} {c.name}" for i, c in enumerate(classes)])
        rows = [job[0] for job in jobs]
        for split in range(1, N_SPLITS + 1):
            test = _test_groups(split, n_groups, n_test_groups)
            _write_lines(
                lists / f"trainlist{split:02d}.txt",
                [f"{r['entry']} {r['label'] + 1}" for r in rows if r["group"] not in test],
            )
            _write_lines(
                lists / f"testlist{split:02d}.txt", [r["entry"] for r in rows if r["group"] in test]
            )
        meta = {
            "generator": "timebalance.data.synthetic.synthesize_dataset",
            "params": {
                "n_classes": n_classes,
                "n_groups": n_groups,
                "clips_per_group": list(lo_hi),
                "n_test_groups": n_test_groups,
                "n_frames": n_frames,
                "width": width,
                "height": height,
                "fps": fps,
                "group_appearance": group_appearance,
                "seed": seed,
            },
            "classes": [
                {"label": i, "name": c.name, "kind": c.kind, "subactions": list(c.subactions)}
                for i, c in enumerate(classes)
            ],
            "n_videos": len(rows),
        }
        (tmp / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
        _replace_tree(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return pd.DataFrame(rows)
