"""Clips at several temporal sampling steps, with weak and strong views (004 Sec. 3.2, 3.4).

One short-term clip x^S (step ``strides[0]``, 004: 8) and N long-term clips x^{L_n} (steps
``strides[1:]``, 004: 16 and 32), all of ``clip_len`` frames (004: T = 8). FixMatch uses the
same dataset with one stride (the short clip only).

Placement of the long clips (004 only says they are sampled "by using different sampling
rates"): ``"nested"`` centres each long clip on the short clip's centre, so the long clips
hold the short clip's moment in their context, which is what the cross-scale calibration
(eqs. 13-14) weighs; ``"random"`` draws every clip's start independently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from timebalance.data.clips import _FrameDataset
from timebalance.data.strong_augment import WeakStrongAugment
from timebalance.data.temporal import clip_indices, random_start, span

PLACEMENTS = ("nested", "random")


def multiscale_starts(
    n_frames: int,
    clip_len: int,
    strides: tuple[int, ...],
    placement: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Start frame of each clip (one per stride, the short clip first). "nested": the short
    clip starts uniformly at random, each long clip is centred on the short clip's centre
    (clamped at frame 0; clips past the end are padded by the caller); "random": every start
    uniform over the video."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if placement == "random":
        return np.array(
            [random_start(n_frames, span(clip_len, s), rng) for s in strides], dtype=np.int64
        )
    short = random_start(n_frames, span(clip_len, strides[0]), rng)
    centre = short + span(clip_len, strides[0]) // 2
    starts = [short] + [max(0, centre - span(clip_len, s) // 2) for s in strides[1:]]
    return np.array(starts, dtype=np.int64)


class MultiScaleClipDataset(_FrameDataset):
    """Per video: clips at every step of ``strides``, each weakly augmented (independent
    crops), and, when ``strong`` is set, the strong view of the first (short) clip built on
    its weak view.

    Returns {"weak": float S x 3 x T x H x W (S = len(strides), short clip first),
    "strong": float 3 x T x H x W (only with ``strong``), "label": int (-1 when
    ``return_label`` is False), "index": int}.
    """

    def __init__(
        self,
        items: pd.DataFrame | str | Path,
        frames_root: str | Path,
        *,
        augment: WeakStrongAugment,
        clip_len: int,
        strides: tuple[int, ...],
        placement: str = "nested",
        strong: bool = False,
        return_label: bool = True,
        seed: int = 0,
        short_video: str = "loop",
    ) -> None:
        if not strides or min(strides) < 1:
            raise ValueError(f"strides must be a non-empty tuple of steps >= 1, got {strides}")
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        super().__init__(
            items, frames_root, clip_len=clip_len, stride=strides[0], n_clips=len(strides),
            seed=seed, short_video=short_video, need_label=return_label,
        )  # fmt: skip
        self.strides, self.placement = tuple(int(s) for s in strides), placement
        self.augment, self.strong, self.return_label = augment, strong, return_label

    def __getitem__(self, index: int) -> dict:
        rng, g = self.rngs(index)
        n = self.n_frames[index]
        starts = multiscale_starts(n, self.clip_len, self.strides, self.placement, rng)
        idx = np.stack(
            [
                clip_indices(n, self.clip_len, s, int(t), self.short_video)
                for s, t in zip(self.strides, starts, strict=True)
            ]
        )
        frames = self.frames(index, idx.ravel())
        frames = frames.view(len(self.strides), self.clip_len, *frames.shape[1:])
        item: dict = {"index": index}
        if self.strong:
            weak0, item["strong"] = self.augment(frames[0], g)
        else:
            weak0 = self.augment.weak(frames[0], g)
        item["weak"] = torch.stack([weak0, *(self.augment.weak(c, g) for c in frames[1:])])
        labels = self.labels if self.return_label else None
        item["label"] = labels[index] if labels is not None else -1
        return item
