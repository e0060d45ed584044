"""The temporal-similarity score s(i) (eqs. 5-6) of every training video: the stage that
caches it from the clip projections of the two pretrained teachers, and its reader. The
clips, the embedding pass and the optional BatchNorm recalibration here are shared by the
score cache, the Fig. 4 analogue and the diagnosis during pretraining."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from timebalance import io
from timebalance.data.pipeline import training_videos
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import start_stage
from timebalance.methods.embedder import Embedder, load_embedder
from timebalance.methods.settings import ScoreSettings
from timebalance.methods.similarity import (
    embedded_batches,
    recalibrated,
    score_clips,
    score_loader,
)
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


def _load_teachers(
    settings: ScoreSettings,
    *,
    videos: pd.DataFrame,
    frames_root: str | Path,
    invariant: str | Path,
    distinctive: str | Path,
    device: torch.device,
) -> tuple[Embedder, Embedder, int, int]:
    """Both teachers in eval mode, recalibrated on the score clips of `videos` when the
    settings ask for it; and the clip shape (n_clips, clip_len) they were pretrained on."""
    (inv, inv_ckpt), (dis, dis_ckpt) = (load_embedder(p, device) for p in (invariant, distinctive))
    n_clips, clip_len = _clip_shape(invariant, distinctive, [inv_ckpt, dis_ckpt])
    if settings.bn_recalibration:
        clips = score_clips(
            videos, frames_root, crop_size=settings.crop_size, n_clips=n_clips, clip_len=clip_len
        )
        loader = score_loader(clips, batch_size=settings.batch_size, workers=settings.workers)
        inv, dis = (recalibrated(m, loader, device) for m in (inv, dis))
        log.info("BatchNorm statistics of both teachers re-estimated on %d videos", len(clips))
    return inv, dis, n_clips, clip_len


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
    inv, dis, n_clips, clip_len = _load_teachers(
        settings,
        videos=videos,
        frames_root=frames_root,
        invariant=invariant,
        distinctive=distinctive,
        device=dev,
    )
    dataset = score_clips(
        videos, frames_root, crop_size=settings.crop_size, n_clips=n_clips, clip_len=clip_len
    )
    loader = score_loader(dataset, batch_size=settings.batch_size, workers=settings.workers)
    rows = []
    for index, (z_inv, z_dis) in embedded_batches(
        [inv, dis], loader, dev, every_steps=run.log_every_steps
    ):
        columns = zip(
            similarity_score(z_inv, z_inv).tolist(),
            similarity_score(z_dis, z_dis).tolist(),
            similarity_score(z_inv, z_dis).tolist(),
            strict=True,
        )
        for idx, scores in zip(index, columns, strict=True):
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
    `cache_scores` scores them with (and its BatchNorm statistics): {"invariant": V x n x n,
    "distinctive": V x n x n}, in the order of `video_ids` (the Fig. 4 analogue plots them)."""
    dev = start_stage(run, seed=0)
    videos = training_videos(manifest)
    indexed = videos.set_index("video_id")
    missing = sorted(set(video_ids) - set(indexed.index))
    if missing:
        raise ValueError(f"{manifest} has no usable training video {missing[:3]}")
    items = indexed.loc[list(video_ids)].reset_index()
    inv, dis, n_clips, clip_len = _load_teachers(
        settings,
        videos=videos,
        frames_root=frames_root,
        invariant=invariant,
        distinctive=distinctive,
        device=dev,
    )
    dataset = score_clips(
        items, frames_root, crop_size=settings.crop_size, n_clips=n_clips, clip_len=clip_len
    )
    loader = score_loader(dataset, batch_size=len(dataset), workers=0)
    ((_, (z_inv, z_dis)),) = embedded_batches([inv, dis], loader, dev, what="Fig. 4 videos")
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
