"""Stage: cache the temporal-similarity score s(i) (eqs. 5-6) of every training video,
from the clip projections of the two pretrained teachers."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from timebalance.data.clips import ScoreDataset
from timebalance.data.pipeline import training_videos
from timebalance.engine.checkpoint import load_checkpoint, load_weights, write_text_atomic
from timebalance.engine.device import autocast
from timebalance.engine.loader import to_device
from timebalance.engine.stage import start_stage
from timebalance.methods.timebalance import similarity_score
from timebalance.models import ProjectionHead, build_backbone

log = logging.getLogger(__name__)


def load_embedder(path: str | Path, device: torch.device):
    """A pretrained backbone and its projection head, frozen, in eval mode."""
    ckpt = load_checkpoint(path)
    if "head" not in ckpt:
        raise ValueError(f"{path} has no projection head: is it a pretraining checkpoint?")
    net = build_backbone(ckpt["backbone"])
    load_weights(net, ckpt["model"], what=str(path))
    head = ProjectionHead(net.feature_dim)
    load_weights(head, ckpt["head"], what=f"{path} (projection head)")
    net.to(device).eval()
    head.to(device).eval()
    return net, head, ckpt


@torch.inference_mode()
def cache_scores(
    *,
    manifest: str | Path,
    frames_root: str | Path,
    invariant: str | Path,
    distinctive: str | Path,
    out: str | Path,
    crop_size: int = 112,
    n_clips: int | None = None,
    clip_len: int | None = None,
    batch_size: int = 16,
    workers: int = 2,
    device: str = "auto",
    threads: int | None = None,
) -> None:
    """Write a CSV (video_id, label, s_invariant, s_distinctive, s) for every usable
    training video; s is eq. 6's raw value in [-1, 1] (clamped only when mixing)."""
    dev = start_stage(device=device, threads=threads)
    videos = training_videos(manifest)
    models = [load_embedder(invariant, dev), load_embedder(distinctive, dev)]
    shapes = {(m[2].get("n_clips"), m[2].get("clip_len")) for m in models}
    if len(shapes) != 1:
        raise ValueError(
            f"{invariant} and {distinctive} were pretrained on different clips "
            f"(n_clips, clip_len): {sorted(shapes, key=str)}; pair teachers with the same n"
        )
    stored_n, stored_len = shapes.pop()
    n_clips, clip_len = n_clips or stored_n, clip_len or stored_len
    dataset = ScoreDataset(videos, frames_root, size=crop_size, n_clips=n_clips, clip_len=clip_len)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    rows = []
    for batch in loader:
        batch = to_device(batch, dev)
        clips = batch["clips"]  # B x n x 3 x T x H x W
        b, n = clips.shape[:2]
        z = []
        with autocast(dev):
            for net, head, _ in models:
                z.append(head(net(clips.flatten(0, 1)).pooled).float().view(b, n, -1))
        s_inv = similarity_score(z[0], z[0])
        s_dist = similarity_score(z[1], z[1])
        s = similarity_score(z[0], z[1])
        for i, idx in enumerate(batch["index"].tolist()):
            rows.append(
                {
                    "video_id": videos.iloc[idx]["video_id"],
                    "label": int(videos.iloc[idx]["label"]),
                    "s_invariant": float(s_inv[i]),
                    "s_distinctive": float(s_dist[i]),
                    "s": float(s[i]),
                }
            )
    table = pd.DataFrame(rows).sort_values("video_id")
    write_text_atomic(table.to_csv(index=False, float_format="%.6f"), out)
    log.info(
        "scores of %d videos: mean s %.3f (invariant %.3f, distinctive %.3f)",
        len(table),
        table["s"].mean(),
        table["s_invariant"].mean(),
        table["s_distinctive"].mean(),
    )
