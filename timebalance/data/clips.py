"""Torch datasets that read extracted JPEG frames: pretraining samples, training clips,
evaluation views and the clips behind the temporal-similarity score.

Frames live at ``<frames_root>/<video_id>/00001.jpg ...`` (1-based); indices here are 0-based
and frame ``i`` is file ``i + 1``. Only the frames a sample needs are read, each once, and
decoded with libjpeg-turbo (``simplejpeg``).

Temporal sampling is done by the pure functions of ``temporal.py`` (unit tested); a clip that
runs past the end of a video wraps around ("loop", the default) or reflects ("mirror").

Randomness: item ``i`` of epoch ``e`` draws from generators seeded by
``seeding.stream(seed, "clip-sampling", e, i)`` only, so samples are reproducible and
independent of the DataLoader's worker count and order; call ``set_epoch`` before each epoch
(``engine.loader.epoch_loader`` does).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import simplejpeg
import torch
from torch.utils.data import Dataset

from timebalance import seeding
from timebalance.data.splits import read_split
from timebalance.data.temporal import (
    SHORT_VIDEO_MODES,
    centre_start,
    clip_indices,
    pretrain_indices,
    random_start,
    span,
    uniform_starts,
)
from timebalance.data.transforms import CROPS, ClipAugment, EvalTransform


# ---------------------------------------------------------------- frame reading
def read_frames(frames_dir: Path, indices: np.ndarray, *, video: str = "") -> torch.Tensor:
    """Decode the 0-based ``indices`` of a frame folder: uint8 len(indices) x 3 x H x W.
    Each distinct frame is read and decoded once.

    Raises:
        FileNotFoundError: a frame file is missing (names the video and its folder).
        ValueError: a frame cannot be decoded or frames differ in size.
    """
    unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    # simplejpeg (libjpeg-turbo, like torchvision's decode_jpeg, and pixel-identical to it:
    # tests/benchmarks) decodes the small frames of a clip 1.6-2.5x faster per core.
    decoded = []
    folder = os.fspath(frames_dir)
    for i in unique.tolist():
        name = f"{i + 1:05d}.jpg"
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"video {video!r}: frame {name} is missing in {frames_dir} (its "
                "list says it has more frames); re-run frame extraction for this video"
            ) from None
        except OSError as err:
            raise ValueError(f"video {video!r}: cannot read {path}: {err}") from err
        try:
            decoded.append(simplejpeg.decode_jpeg(data, colorspace="RGB"))
        except ValueError as err:
            raise ValueError(f"video {video!r}: cannot decode {path}: {err}") from err
    if len({d.shape for d in decoded}) > 1:
        raise ValueError(
            f"video {video!r}: the frames in {frames_dir} differ in size "
            f"({sorted({d.shape[:2] for d in decoded})}); re-run frame extraction for this video"
        )
    frames = np.stack(decoded)  # T' x H x W x 3
    inverse = inverse.reshape(-1)
    if len(inverse) != len(unique) or np.any(inverse != np.arange(len(inverse))):
        # repeated or unsorted indices: gather the rows here (torch's index on the
        # channels-last view below took 0.45 ms for 8 frames of 171 x 128, numpy's 0.01)
        frames = frames[inverse]
    return torch.from_numpy(frames).permute(0, 3, 1, 2)


# ---------------------------------------------------------------- datasets
class _FrameDataset(Dataset):
    """Common part: the video list, the frame folders, the clip shape (``n_clips`` clips of
    ``clip_len`` frames at ``stride``), the per-item random streams."""

    def __init__(
        self,
        items: pd.DataFrame | str | Path,
        frames_root: str | Path,
        *,
        clip_len: int,
        stride: int = 1,
        n_clips: int = 1,
        seed: int = 0,
        short_video: str = "loop",
        need_label: bool = False,
    ) -> None:
        table = read_split(items) if isinstance(items, str | Path) else items
        need = ["video_id", "n_frames", *(["label"] if need_label else [])]
        if missing := [c for c in need if c not in table.columns]:
            raise ValueError(f"video list lacks columns {missing} (has {list(table.columns)})")
        if short_video not in SHORT_VIDEO_MODES:
            raise ValueError(f"short_video must be one of {SHORT_VIDEO_MODES}, got {short_video!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if n_clips < 1:
            raise ValueError(f"need n_clips >= 1, got {n_clips}")
        clip_indices(1, clip_len, stride, 0)  # validates clip_len and stride
        self.frames_root = Path(frames_root)
        self.video_ids = table["video_id"].astype(str).tolist()
        self.n_frames = table["n_frames"].astype("int64").tolist()
        self.labels = table["label"].astype("int64").tolist() if "label" in table else None
        empty = [v for v, n in zip(self.video_ids, self.n_frames, strict=True) if n < 1]
        if empty:
            raise ValueError(
                f"{len(empty)} video(s) have no frames, e.g. {empty[0]!r} in "
                f"{self.frames_root / empty[0]}; drop them from the list (status != ok)"
            )
        self.n_clips, self.clip_len, self.stride = n_clips, clip_len, stride
        self.seed, self.short_video, self.epoch = int(seed), short_video, 0

    def __len__(self) -> int:
        return len(self.video_ids)

    def set_epoch(self, epoch: int) -> None:
        """Select the random streams of ``epoch`` (call before building its DataLoader)."""
        self.epoch = int(epoch)

    def rngs(self, index: int) -> tuple[np.random.Generator, torch.Generator]:
        """(numpy generator for temporal sampling, torch generator for augmentation)."""
        s = seeding.stream(self.seed, "clip-sampling", self.epoch, index)
        return np.random.default_rng(s), torch.Generator().manual_seed(s)

    def frames(self, index: int, indices: np.ndarray) -> torch.Tensor:
        vid = self.video_ids[index]
        return read_frames(self.frames_root / vid, indices, video=vid)


class _ViewDataset(_FrameDataset):
    """Deterministic views: the clips at ``starts(n_frames)``, each cut in every crop of
    ``crops`` after one resize per distinct frame. Nothing is random."""

    crops: tuple[str, ...] = ("center",)

    def starts(self, n_frames: int) -> np.ndarray:
        raise NotImplementedError

    def views(self, index: int, transform: EvalTransform) -> torch.Tensor:
        """float (n_clips * len(crops)) x 3 x T x S x S, clip-major."""
        n = self.n_frames[index]
        idx = np.stack(
            [
                clip_indices(n, self.clip_len, self.stride, int(s), self.short_video)
                for s in self.starts(n)
            ]
        )
        # Resize each distinct frame once, then gather the clips and cut the crops.
        unique, inverse = np.unique(idx, return_inverse=True)
        prepared = transform.prepare(self.frames(index, unique))
        views = [
            transform.crop_view(prepared[torch.from_numpy(row)], crop)
            for row in inverse.reshape(idx.shape)
            for crop in self.crops
        ]
        return torch.stack(views)


class PretrainDataset(_FrameDataset):
    """TCLR-style pretraining samples (DESIGN "Method facts").

    Per video a window of ``n_clips * clip_len`` frames at a random start; ``n_clips`` dense
    clips of ``clip_len`` consecutive frames tile it; one sparse clip of ``clip_len`` frames
    (every ``sparse_stride``-th, default ``n_clips``, so it spans the window) covers it. Each
    clip gets two independently augmented copies.

    Returns {"sparse": float 2 x 3 x T x S x S, "dense": float 2 x n x 3 x T x S x S,
    "index": int} with T = ``clip_len``, S = ``size``.
    """

    def __init__(
        self,
        items: pd.DataFrame | str | Path,
        frames_root: str | Path,
        *,
        size: int = 112,
        n_clips: int = 4,
        clip_len: int = 16,
        sparse_stride: int | None = None,
        seed: int = 0,
        short_video: str = "loop",
        augment: ClipAugment | None = None,
    ) -> None:
        super().__init__(
            items, frames_root, clip_len=clip_len, n_clips=n_clips, seed=seed,
            short_video=short_video,
        )  # fmt: skip
        self.sparse_stride = n_clips if sparse_stride is None else sparse_stride
        pretrain_indices(n_clips * clip_len, n_clips, clip_len, self.sparse_stride, 0)
        self.augment = augment or ClipAugment(size)

    def __getitem__(self, index: int) -> dict:
        rng, g = self.rngs(index)
        n = self.n_frames[index]
        start = random_start(n, self.n_clips * self.clip_len, rng)
        sparse, dense = pretrain_indices(
            n, self.n_clips, self.clip_len, self.sparse_stride, start, self.short_video
        )
        frames = self.frames(index, np.concatenate([sparse, dense.ravel()]))
        sparse_frames, dense_frames = frames[: self.clip_len], frames[self.clip_len :]
        dense_frames = dense_frames.view(self.n_clips, self.clip_len, *frames.shape[1:])
        copies_sparse = [self.augment(sparse_frames, g) for _ in range(2)]
        copies_dense = [
            torch.stack([self.augment(clip, g) for clip in dense_frames]) for _ in range(2)
        ]
        return {
            "sparse": torch.stack(copies_sparse),
            "dense": torch.stack(copies_dense),
            "index": index,
        }


class ClipDataset(_FrameDataset):
    """One clip per video for supervised / semi-supervised training.

    ``train=True``: a random start (uniform over the video) and ``ClipAugment``;
    ``train=False``: the centre clip and the centre crop (deterministic; validation).
    Returns {"clip": float 3 x T x S x S, "label": int (-1 when ``return_label`` is False),
    "index": int}. Teachers take the same "clip" tensor as the student.
    """

    def __init__(
        self,
        items: pd.DataFrame | str | Path,
        frames_root: str | Path,
        *,
        size: int = 112,
        clip_len: int = 8,
        stride: int = 2,
        train: bool = True,
        seed: int = 0,
        return_label: bool = True,
        short_video: str = "loop",
        augment: ClipAugment | None = None,
    ) -> None:
        super().__init__(
            items, frames_root, clip_len=clip_len, stride=stride, seed=seed,
            short_video=short_video, need_label=return_label,
        )  # fmt: skip
        self.train, self.return_label = train, return_label
        self.augment = augment or ClipAugment(size)
        self.eval_transform = EvalTransform(size, "center")

    def __getitem__(self, index: int) -> dict:
        rng, g = self.rngs(index)
        n, length = self.n_frames[index], span(self.clip_len, self.stride)
        start = random_start(n, length, rng) if self.train else centre_start(n, length)
        idx = clip_indices(n, self.clip_len, self.stride, start, self.short_video)
        frames = self.frames(index, idx)
        clip = self.augment(frames, g) if self.train else self.eval_transform(frames)
        label = self.labels[index] if self.return_label and self.labels is not None else -1
        return {"clip": clip, "label": label, "index": index}


class EvalDataset(_ViewDataset):
    """The test protocol: ``n_clips`` uniformly spaced clips x ``n_crops`` spatial crops
    (3: left, center, right along the long side; 1: center), views ordered clip-major.

    Returns {"clips": float (n_clips * n_crops) x 3 x T x S x S, "label": int, "index": int}.
    """

    def __init__(
        self,
        items: pd.DataFrame | str | Path,
        frames_root: str | Path,
        *,
        size: int = 112,
        clip_len: int = 8,
        stride: int = 2,
        n_clips: int = 10,
        n_crops: int = 3,
        short_video: str = "loop",
    ) -> None:
        super().__init__(
            items, frames_root, clip_len=clip_len, stride=stride, n_clips=n_clips,
            short_video=short_video, need_label=True,
        )  # fmt: skip
        if n_crops not in (1, 3):
            raise ValueError(f"need n_crops in (1, 3), got {n_crops}")
        self.crops = CROPS if n_crops == 3 else ("center",)
        self.transform = EvalTransform(size, "center")

    def starts(self, n_frames: int) -> np.ndarray:
        return uniform_starts(n_frames, span(self.clip_len, self.stride), self.n_clips)

    def __getitem__(self, index: int) -> dict:
        clips = self.views(index, self.transform)
        return {"clips": clips, "label": self.labels[index], "index": index}


class ScoreDataset(_ViewDataset):
    """Deterministic clips for the temporal-similarity score: ``n_clips`` consecutive clips of
    ``clip_len`` frames tiling the window at the video's centre, centre crop, no augmentation.

    Returns {"clips": float n x 3 x T x S x S, "index": int}. ``seed`` only keeps the
    constructor uniform with the other datasets: nothing here is random.
    """

    def __init__(
        self,
        items: pd.DataFrame | str | Path,
        frames_root: str | Path,
        *,
        size: int = 112,
        n_clips: int = 4,
        clip_len: int = 16,
        seed: int = 0,
        short_video: str = "loop",
    ) -> None:
        super().__init__(
            items, frames_root, clip_len=clip_len, n_clips=n_clips, seed=seed,
            short_video=short_video,
        )  # fmt: skip
        self.transform = EvalTransform(size, "center")

    def starts(self, n_frames: int) -> np.ndarray:
        first = centre_start(n_frames, self.n_clips * self.clip_len)
        return first + self.clip_len * np.arange(self.n_clips, dtype=np.int64)

    def __getitem__(self, index: int) -> dict:
        return {"clips": self.views(index, self.transform), "index": index}
