"""The synthetic actions: the class catalogue (atomic and sequence classes made of periodic
sub-actions), the motion of each sub-action and the rendering of one clip as RGB frames.
``synthetic.py`` lays the clips out as a UCF101-style dataset; its module doc describes both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBACTIONS: tuple[str, ...] = ("Circle", "Swing", "Bounce", "Pulse", "ZigZag", "Spin")
SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "diamond")


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


def draw_appearance(rng: np.random.Generator) -> dict:
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

    ``group`` is from ``draw_appearance``; ``rng`` draws the clip's own speed, phase,
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
