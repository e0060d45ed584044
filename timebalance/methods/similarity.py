"""The clips the temporal-similarity score s is computed on, and the teachers' projections of
them: shared by the score cache (`methods.scores`), the Fig. 4 matrices and the pretraining
diagnosis (`methods.pretrain`). A module of its own so that editing how the score cache is
written does not change the code version of every pretraining."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from timebalance.data.clips import ScoreDataset
from timebalance.engine.device import autocast
from timebalance.engine.loader import to_device
from timebalance.engine.progress import progress
from timebalance.methods.embedder import Embedder
from timebalance.methods.timebalance import similarity_score


def _embed(model: Embedder, clips: torch.Tensor) -> torch.Tensor:
    """B x n x 3 x T x H x W clips -> B x n x d projections."""
    b, n = clips.shape[:2]
    return model.head(model.backbone(clips.flatten(0, 1)).pooled).float().view(b, n, -1)


def score_clips(
    videos: pd.DataFrame,
    frames_root: str | Path,
    *,
    crop_size: int,
    n_clips: int,
    clip_len: int,
) -> ScoreDataset:
    """The clips s is computed on: per video, `n_clips` consecutive clips of `clip_len`
    frames at its centre, centre-cropped to `crop_size` (no randomness)."""
    return ScoreDataset(videos, frames_root, size=crop_size, n_clips=n_clips, clip_len=clip_len)


def score_loader(dataset: ScoreDataset, *, batch_size: int, workers: int) -> DataLoader:
    """The dataset in order. The loader has a generator of its own, so starting its workers
    draws nothing from the global random stream (the pretraining diagnosis runs between
    training epochs and must not change them)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
    )


def embedded_batches(
    models: Sequence[Embedder],
    loader: DataLoader,
    device: torch.device,
    *,
    what: str = "score batches",
    every_steps: int | None = None,
) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
    """(dataset indices, [B x n x d projections of each of `models`]) per batch, without
    gradients; the models' modes (eval, or train for BatchNorm recalibration) are the
    caller's."""
    for batch in progress(loader, what=what, every_steps=every_steps):
        with torch.inference_mode():
            batch = to_device(batch, device)
            with autocast(device):
                projections = [_embed(model, batch["clips"]) for model in models]
        yield batch["index"].tolist(), projections


def teacher_similarity(
    model: Embedder, loader: DataLoader, device: torch.device, *, what: str
) -> np.ndarray:
    """Each video's mean off-diagonal similarity under one teacher (its column of the score
    cache: s_invariant or s_distinctive), in dataset order (float64)."""
    out = np.full(len(loader.dataset), np.nan)  # type: ignore[arg-type]
    for index, (z,) in embedded_batches([model], loader, device, what=what):
        out[index] = similarity_score(z, z).double().cpu().numpy()
    return out


def recalibrated(model: Embedder, loader: DataLoader, device: torch.device) -> Embedder:
    """A copy of `model` whose BatchNorm running statistics are re-estimated on `loader`'s
    clips (statistics reset, momentum None: a cumulative average over one pass), then in
    eval mode. Only the BatchNorm layers run in training mode during the pass; the weights
    and the model given are unchanged."""
    twin = copy.deepcopy(model).eval()
    norms = [m for m in twin.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return twin
    with torch.no_grad():  # (outside inference mode: the statistics stay normal tensors)
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
            m.train()
    for _ in embedded_batches([twin], loader, device, what="BatchNorm recalibration batches"):
        pass
    return twin.eval()
