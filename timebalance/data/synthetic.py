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
clip), and FFmpeg's encoder runs with ``bitexact`` in one thread, so the same seed gives the same
bytes.

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
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import av
import numpy as np
import pandas as pd

from timebalance import io
from timebalance.data.synthetic_render import (
    SYNTHETIC_CLASSES,
    draw_appearance,
    render_clip,
    select_classes,
)

N_SPLITS = 3  # UCF101 ships three train/test splits


# ---------------------------------------------------------------------------------------------
# Encoding and the UCF101 tree


def encode_avi(frames: np.ndarray, path: Path, *, fps: int) -> None:
    """Encode T x H x W x 3 uint8 RGB frames as MPEG-4 Part 2 in AVI (like UCF101's XviD), at
    the fixed quantiser 3 (the `ffmpeg -q:v 3` of frame extraction).

    FFmpeg's encoder through PyAV, in this process: starting an ``ffmpeg`` per video cost
    0.24 s of the 0.26 s a video took (measured on 90-frame 64 x 48 videos), PyAV 0.02 s.
    ``bitexact`` and one thread make the bytes a function of the frames only.
    """
    n, h, w, _ = frames.shape
    try:
        with av.open(str(path), "w", format="avi", options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream(
                "mpeg4", rate=fps, options={"flags": "+bitexact", "qmin": "3", "qmax": "3"}
            )
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.thread_count = 1
            for frame in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            out.mux(stream.encode(None))
    except (av.FFmpegError, ValueError) as err:
        raise RuntimeError(f"cannot encode {path} ({n} frames {w}x{h}): {err}") from err


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
    # CRLF like the official UCF101 lists (io.write_text writes the text exactly as given).
    io.write_text("".join(line + "\r\n" for line in lines), path)


def _replaceable(root: Path) -> bool:
    """An existing ``root`` is replaced only if it is an empty folder tree or a previous
    synthetic dataset; anything else raises, naming it."""
    is_previous = (root / "synthetic.json").is_file()
    has_files = any(p.is_file() or p.is_symlink() for p in root.rglob("*"))
    if not root.is_dir() or (has_files and not is_previous):
        raise FileExistsError(
            f"{root} exists and is not a dataset written by synthesize_dataset (no "
            "synthetic.json); remove it or choose another root"
        )
    return True


def _write_lists(lists: Path, classes, rows: list[dict], n_groups: int, n_test_groups: int):
    _write_lines(lists / "classInd.txt", [f"{i + 1} {c.name}" for i, c in enumerate(classes)])
    for split in range(1, N_SPLITS + 1):
        test = _test_groups(split, n_groups, n_test_groups)
        _write_lines(
            lists / f"trainlist{split:02d}.txt",
            [f"{r['entry']} {r['label'] + 1}" for r in rows if r["group"] not in test],
        )
        _write_lines(
            lists / f"testlist{split:02d}.txt", [r["entry"] for r in rows if r["group"] in test]
        )


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
    palette: int = 0,
    workers: int = 2,
) -> pd.DataFrame:
    """Write the synthetic dataset under ``root`` in the UCF101 layout (see the module doc).

    Args:
        root: output directory; built in a hidden temporary folder beside it and renamed
            when complete (timebalance.io.write_dir).
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
        palette: 0 (default): each clip (or group) its own appearance. k >= 1: every clip
            takes one of k appearances shared by all classes (drawn once from the seed), so
            clips of different videos, even of different classes, look alike and only their
            motion tells them apart; the motions are those of palette 0 (same seed).
        workers: videos rendered and encoded in parallel (threads; numpy and the encoder release
            the GIL).

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
    if palette < 0:
        raise ValueError(f"palette={palette}: need 0 (no palette) or a number of appearances")
    lo_hi = (clips_per_group,) * 2 if isinstance(clips_per_group, int) else clips_per_group
    if not 1 <= lo_hi[0] <= lo_hi[1] <= 99:
        raise ValueError(f"clips_per_group={clips_per_group}: need 1 <= low <= high <= 99")
    if n_frames < 8:
        raise ValueError(f"n_frames={n_frames}: need at least 8 frames per video")
    root = Path(root).absolute()
    classes = select_classes(n_classes)
    key_of = {c.name: i for i, c in enumerate(SYNTHETIC_CLASSES)}
    jitter = round(0.2 * n_frames)

    # These streams predate timebalance.seeding and are kept as they are, so that a seed keeps
    # giving the same videos (byte for byte) as before; keys are (class catalogue index,
    # group[, clip]), so adding a class or a group never changes the others' clips.
    jobs = []  # (row, group appearance, clip generator)
    shared_looks = [
        draw_appearance(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(10**6, i))))
        for i in range(palette)
    ]
    for label, cls in enumerate(classes):
        for g in range(1, n_groups + 1):
            g_rng = np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(key_of[cls.name], g))
            )
            shared = draw_appearance(g_rng)
            for c in range(1, _clip_counts(clips_per_group, g_rng) + 1):
                rng = np.random.default_rng(
                    np.random.SeedSequence(seed, spawn_key=(key_of[cls.name], g, c))
                )
                appearance = shared if group_appearance else draw_appearance(rng)
                if palette:  # (after the draw above: the clip's motion stays palette 0's)
                    pick = np.random.default_rng(
                        np.random.SeedSequence(seed, spawn_key=(key_of[cls.name], g, c, 10**6))
                    )
                    appearance = shared_looks[int(pick.integers(palette))]
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

    rows = [job[0] for job in jobs]
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
            "palette": palette,
            "seed": seed,
        },
        "classes": [
            {"label": i, "name": c.name, "kind": c.kind, "subactions": list(c.subactions)}
            for i, c in enumerate(classes)
        ],
        "n_videos": len(rows),
    }

    def make(tmp: Path, job) -> None:
        row, cls, appearance, rng = job
        frames = render_clip(
            cls, appearance, rng, n_frames=row["n_frames"], width=width, height=height
        )
        encode_avi(frames, tmp / row["video"], fps=fps)

    def fill(tmp: Path) -> None:
        for cls in classes:
            (tmp / "UCF-101" / cls.name).mkdir(parents=True)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(partial(make, tmp), jobs))  # list() re-raises the first failure
        _write_lists(tmp / "ucfTrainTestlist", classes, rows, n_groups, n_test_groups)
        io.write_text(json.dumps(meta, indent=2) + "\n", tmp / "synthetic.json")

    io.write_dir(root, fill, replace_if=_replaceable)
    return pd.DataFrame(rows)
