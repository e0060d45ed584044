"""Temporal sampling as pure functions of a video's frame count (0-based frame indices).

A clip that runs past the end of a video is never dropped: its indices wrap around
(``short_video="loop"``: 0 1 2 0 1 2 ...) or reflect (``"mirror"``: 0 1 2 1 0 1 ...). Loop is
the default: it keeps the forward direction of time, which the temporally-distinctive
objectives depend on.
"""

from __future__ import annotations

import numpy as np

SHORT_VIDEO_MODES = ("loop", "mirror")


def pad_indices(indices: np.ndarray, n_frames: int, mode: str = "loop") -> np.ndarray:
    """Map 0-based indices (>= 0, possibly >= ``n_frames``) into ``[0, n_frames)``:
    "loop" wraps around, "mirror" reflects at both ends without repeating the end frames."""
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if mode not in SHORT_VIDEO_MODES:
        raise ValueError(f"short_video must be one of {SHORT_VIDEO_MODES}, got {mode!r}")
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and idx.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {idx.min()}")
    if mode == "loop" or n_frames == 1:
        return idx % n_frames
    period = 2 * (n_frames - 1)
    r = idx % period
    return np.where(r < n_frames, r, period - r)


def clip_indices(
    n_frames: int, clip_len: int, stride: int, start: int, short_video: str = "loop"
) -> np.ndarray:
    """0-based frame indices of the clip ``start, start + stride, ...`` (``clip_len`` frames),
    padded into the video with ``short_video`` where it runs past the end."""
    if clip_len < 1 or stride < 1 or start < 0:
        raise ValueError(
            f"need clip_len >= 1, stride >= 1, start >= 0; got {clip_len}, {stride}, {start}"
        )
    raw = start + stride * np.arange(clip_len, dtype=np.int64)
    return pad_indices(raw, n_frames, short_video)


def span(clip_len: int, stride: int) -> int:
    """Frames covered by a clip from its first to its last frame."""
    return (clip_len - 1) * stride + 1


def random_start(n_frames: int, length: int, rng: np.random.Generator) -> int:
    """Uniform start of a ``length``-frame window; 0 when the video is shorter (padded)."""
    return int(rng.integers(0, n_frames - length + 1)) if n_frames > length else 0


def centre_start(n_frames: int, length: int) -> int:
    """Start of the window of ``length`` frames at the video's centre (0 if shorter)."""
    return max(0, (n_frames - length) // 2)


def uniform_starts(n_frames: int, length: int, n_clips: int) -> np.ndarray:
    """Starts of ``n_clips`` windows spaced uniformly from the first to the last possible
    start (the first and last clips touch the video's ends; a single clip is the centre one);
    all 0 if the video is shorter."""
    last = max(0, n_frames - length)
    if n_clips == 1:
        return np.array([last // 2], dtype=np.int64)
    return np.rint(np.linspace(0, last, n_clips)).astype(np.int64)


def pretrain_indices(
    n_frames: int,
    n_clips: int,
    clip_len: int,
    sparse_stride: int,
    start: int,
    short_video: str = "loop",
) -> tuple[np.ndarray, np.ndarray]:
    """Frames of one pretraining sample in a window of ``n_clips * clip_len`` frames at
    ``start``: the sparse clip (``clip_len``, every ``sparse_stride``-th frame of the window)
    and the dense clips (``n_clips x clip_len``, consecutive frames tiling the window). With
    ``sparse_stride == n_clips``, sparse frames ``[t * clip_len / n, (t+1) * clip_len / n)``
    fall inside dense clip ``t``, so the backbone's temporal slice t lines up with it."""
    window = n_clips * clip_len
    if span(clip_len, sparse_stride) > window:
        raise ValueError(
            f"the sparse clip ({clip_len} frames, stride {sparse_stride}) does not fit in the "
            f"window of {n_clips} x {clip_len} frames; use sparse_stride <= {n_clips}"
        )
    sparse = clip_indices(n_frames, clip_len, sparse_stride, start, short_video)
    dense = np.stack(
        [
            clip_indices(n_frames, clip_len, 1, start + k * clip_len, short_video)
            for k in range(n_clips)
        ]
    )
    return sparse, dense
