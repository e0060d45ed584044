"""The temporal-similarity score s(i) (eqs. 5-6) of every training video: the stage that
caches it from the clip projections of the two pretrained teachers, and its reader."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from timebalance import io
from timebalance.data.clips import ScoreDataset
from timebalance.data.pipeline import training_videos
from timebalance.engine.device import autocast
from timebalance.engine.loader import to_device
from timebalance.engine.progress import progress
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import start_stage
from timebalance.methods.embedder import Embedder, load_embedder
from timebalance.methods.settings import ScoreSettings
from timebalance.methods.timebalance import similarity_score, temporal_similarity_matrix

log = logging.getLogger(__name__)

COLUMNS = ("video_id", "label", "s_invariant", "s_distinctive", "s")


def _clip_shape(invariant: str | Path, distinctive: str | Path, ckpts: list[dict]):
    shapes = {(c["n_clips"], c["clip_len"]) for c in ckpts}
    if len(shapes) != 1:
        raise ValueError(
            f"{invariant} and {distinctive} were pretrained on different clips "
            f"(n_clips, clip_len): {sorted(shapes, key=str)}; pair teachers with the same n"
        )
    return shapes.pop()


def _embed(model: Embedder, clips: torch.Tensor) -> torch.Tensor:
    """B x n x 3 x T x H x W clips -> B x n x d projections."""
    b, n = clips.shape[:2]
    return model.head(model.backbone(clips.flatten(0, 1)).pooled).float().view(b, n, -1)


@torch.inference_mode()
def cache_scores(
    settings: ScoreSettings,
    run: RunSettings,
    *,
    manifest: str | Path,
    frames_root: str | Path,
    invariant: str | Path,
    distinctive: str | Path,
    out: str | Path,
) -> None:
    """Write a CSV (video_id, label, s_invariant, s_distinctive, s) for every usable
    training video; s is eq. 6's raw value in [-1, 1] (clamped only when mixing). The
    clips have the shape (n_clips, clip_len) the teachers were pretrained on."""
    dev = start_stage(run, seed=0)  # nothing random: deterministic clips, eval mode
    videos = training_videos(manifest)
    (inv, inv_ckpt), (dis, dis_ckpt) = (load_embedder(p, dev) for p in (invariant, distinctive))
    n_clips, clip_len = _clip_shape(invariant, distinctive, [inv_ckpt, dis_ckpt])
    dataset = ScoreDataset(
        videos, frames_root, size=settings.crop_size, n_clips=n_clips, clip_len=clip_len
    )
    loader = DataLoader(dataset, batch_size=settings.batch_size, num_workers=settings.workers)
    rows = []
    for batch in progress(loader, what="score batches", every_steps=run.log_every_steps):
        batch = to_device(batch, dev)
        with autocast(dev):
            z_inv, z_dis = _embed(inv, batch["clips"]), _embed(dis, batch["clips"])
        columns = zip(
            similarity_score(z_inv, z_inv).tolist(),
            similarity_score(z_dis, z_dis).tolist(),
            similarity_score(z_inv, z_dis).tolist(),
            strict=True,
        )
        for idx, scores in zip(batch["index"].tolist(), columns, strict=True):
            video = videos.iloc[idx]
            rows.append((video["video_id"], int(video["label"]), *scores))
    table = pd.DataFrame(rows, columns=list(COLUMNS)).sort_values("video_id")
    io.write_text(table.to_csv(index=False, float_format="%.6f"), out)
    log.info(
        "scores of %d videos: mean s %.3f (invariant %.3f, distinctive %.3f)",
        len(table),
        table["s"].mean(),
        table["s_invariant"].mean(),
        table["s_distinctive"].mean(),
    )
    if table["s_invariant"].mean() <= table["s_distinctive"].mean():
        log.warning(
            "mean s of the invariant teacher (%.3f) is not above the distinctive teacher's "
            "(%.3f): the teachers contradict the paper's Fig. 4 (the invariant teacher sees the "
            "clips of a video as alike, the distinctive one tells them apart). Check their "
            "pretraining (%s, %s): a distinctive loss at its uniform level means it learned "
            "nothing",
            table["s_invariant"].mean(),
            table["s_distinctive"].mean(),
            invariant,
            distinctive,
        )


@torch.inference_mode()
def similarity_matrices(
    settings: ScoreSettings,
    run: RunSettings,
    *,
    manifest: str | Path,
    frames_root: str | Path,
    invariant: str | Path,
    distinctive: str | Path,
    video_ids: Sequence[str],
) -> dict[str, np.ndarray]:
    """The temporal similarity matrices (eq. 5) of a few training videos, on the clips
    `cache_scores` scores them with: {"invariant": V x n x n, "distinctive": V x n x n},
    in the order of `video_ids` (the Fig. 4 analogue plots them)."""
    dev = start_stage(run, seed=0)
    videos = training_videos(manifest).set_index("video_id")
    missing = sorted(set(video_ids) - set(videos.index))
    if missing:
        raise ValueError(f"{manifest} has no usable training video {missing[:3]}")
    items = videos.loc[list(video_ids)].reset_index()
    (inv, inv_ckpt), (dis, dis_ckpt) = (load_embedder(p, dev) for p in (invariant, distinctive))
    n_clips, clip_len = _clip_shape(invariant, distinctive, [inv_ckpt, dis_ckpt])
    dataset = ScoreDataset(
        items, frames_root, size=settings.crop_size, n_clips=n_clips, clip_len=clip_len
    )
    clips = torch.stack([dataset[i]["clips"] for i in range(len(dataset))]).to(dev)
    with autocast(dev):
        z_inv, z_dis = _embed(inv, clips), _embed(dis, clips)
    return {
        "invariant": temporal_similarity_matrix(z_inv).float().cpu().numpy(),
        "distinctive": temporal_similarity_matrix(z_dis).float().cpu().numpy(),
    }


def read_scores(path: str | Path, video_ids: Sequence[str]) -> np.ndarray:
    """The cached s of each of `video_ids` (float64, in that order); every video must have
    one (a cache of another dataset or of an older split is an error naming the file)."""
    cached = pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False)
    if lacking := {"video_id", "s"} - set(cached.columns):
        raise ValueError(
            f"{path} is not a score cache: lacks columns {sorted(lacking)}; "
            "rerun cache_scores for this dataset"
        )
    s = cached.set_index("video_id")["s"].astype("float64")
    missing = sorted(set(video_ids) - set(s.index))
    if missing:
        raise ValueError(
            f"{path} has no score for {len(missing)} videos (e.g. {missing[:3]}); "
            "rerun cache_scores for this dataset"
        )
    return s.loc[list(video_ids)].to_numpy()
