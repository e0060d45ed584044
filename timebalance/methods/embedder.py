"""A pretrained teacher: backbone + projection head, its forward pass over the pretraining
clips, and its checkpoint (each module's state dict stored under its own name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from timebalance import io
from timebalance.engine.checkpoint import load_checkpoint, load_weights
from timebalance.losses import Projections
from timebalance.models import ProjectionHead, VideoBackbone, build_backbone

MODULES = ("backbone", "head")


class Embedder(nn.Module):
    """Backbone + projection head producing the three kinds of embeddings the losses use.

    Input: sparse B x 2 x 3 x T x H x W, dense B x 2 x n x 3 x T x H x W.
    Output: Projections(sparse 2 x B x d, slices 2 x B x n x d (the sparse clip's temporal
    slices, pooled to n when the backbone keeps a different number; None unless
    `with_slices`), dense 2 x B x n x d).
    """

    def __init__(self, backbone: VideoBackbone, head: ProjectionHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor, *, with_slices: bool):
        b, copies, n = dense.shape[:3]
        out = self.backbone(sparse.transpose(0, 1).flatten(0, 1))
        z_sparse = self.head(out.pooled).view(copies, b, -1)
        z_slices = None
        if with_slices:
            slices = out.slices  # (2B) x S x D
            if slices.shape[1] != n:
                slices = F.adaptive_avg_pool1d(slices.transpose(1, 2), n).transpose(1, 2)
            z_slices = self.head(slices).view(copies, b, n, -1)
        # copies x n x B clips -> one forward pass
        dense_flat = dense.permute(1, 2, 0, *range(3, dense.dim())).flatten(0, 2)
        z_dense = self.head(self.backbone(dense_flat).pooled).view(copies, n, b, -1)
        return Projections(sparse=z_sparse, slices=z_slices, dense=z_dense.transpose(1, 2))


def new_embedder(backbone: str) -> Embedder:
    net = build_backbone(backbone)
    return Embedder(net, ProjectionHead(net.feature_dim))


def save_pretrained(
    path: str | Path, weights: dict[str, dict[str, torch.Tensor]], **info: Any
) -> None:
    """Write a pretraining checkpoint: `weights` holds the state dict of each of MODULES,
    `info` plain metadata (backbone name, n_clips, clip_len, history, ...)."""
    if sorted(weights) != sorted(MODULES):
        raise ValueError(f"a pretraining checkpoint holds {MODULES}, got {sorted(weights)}")
    io.write_torch({"weights": weights, **info}, path)


def load_pretrained(path: str | Path) -> dict[str, Any]:
    """A pretraining checkpoint (refused with a clear error if it is anything else)."""
    return load_checkpoint(path, modules=MODULES)


def load_embedder(path: str | Path, device: torch.device) -> tuple[Embedder, dict[str, Any]]:
    """A pretrained backbone and its projection head, frozen, in eval mode; and the
    checkpoint's metadata."""
    ckpt = load_pretrained(path)
    model = new_embedder(ckpt["backbone"])
    load_weights(model.backbone, ckpt["weights"]["backbone"], what=str(path))
    load_weights(model.head, ckpt["weights"]["head"], what=f"{path} (projection head)")
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, ckpt
