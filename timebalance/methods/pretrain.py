"""Stage: self-supervised pretraining of a teacher (invariant | distinctive) or of the
student's TCLR initialisation (ssl_init), on every usable training video, no labels."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from timebalance.data.clips import PretrainDataset
from timebalance.data.pipeline import training_videos
from timebalance.data.transforms import DEFAULT_CROP_SCALE, ClipAugment
from timebalance.engine.checkpoint import save_atomic
from timebalance.engine.loader import epoch_loader, to_device
from timebalance.engine.stage import fingerprint, start_stage
from timebalance.engine.trainer import OptimConfig, fit
from timebalance.losses import distinctive_loss, invariant_loss, ssl_init_loss
from timebalance.models import ProjectionHead, build_backbone

log = logging.getLogger(__name__)

KINDS = ("invariant", "distinctive", "ssl_init")


class Embedder(nn.Module):
    """Backbone + projection head producing the three kinds of embeddings the losses use.

    Input: sparse B x 2 x 3 x T x H x W, dense B x 2 x n x 3 x T x H x W.
    Output: z_sparse 2 x B x d, z_slices 2 x B x n x d (sparse clip's temporal slices,
    pooled to n when the backbone keeps a different number), z_dense 2 x B x n x d.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
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
        return z_sparse, z_slices, z_dense.transpose(1, 2)


def contrastive_objective(
    kind: str, z_sparse, z_slices, z_dense, *, temperature: float, local_local_reduction: str
) -> torch.Tensor:
    if kind == "invariant":
        return invariant_loss(z_sparse, z_dense, temperature=temperature)
    if kind == "distinctive":
        return distinctive_loss(
            z_slices, z_dense, temperature=temperature, local_local_reduction=local_local_reduction
        )
    if kind == "ssl_init":
        return ssl_init_loss(
            z_sparse,
            z_slices,
            z_dense,
            temperature=temperature,
            local_local_reduction=local_local_reduction,
        )
    raise ValueError(f"unknown pretraining kind {kind!r}; choose one of {KINDS}")


def pretrain_teacher(
    *,
    manifest: str | Path,
    frames_root: str | Path,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
    kind: str,
    backbone: str,
    n_clips: int = 4,
    clip_len: int = 16,
    crop_size: int = 112,
    crop_scale: tuple[float, float] = DEFAULT_CROP_SCALE,
    temperature: float = 0.1,
    local_local_reduction: str = "mean",
    epochs: int = 250,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    warmup_epochs: int = 10,
    patience: int = 5,
    max_steps_per_epoch: int | None = None,
    workers: int = 4,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    code_version: str = "",
) -> None:
    """Pretrain with L_I, L_D or TCLR's full objective; writes `out` (backbone + head
    weights) only when every epoch is done. Resumes from `resume` when it exists."""
    if kind not in KINDS:
        raise ValueError(f"unknown pretraining kind {kind!r}; choose one of {KINDS}")
    if n_clips not in (2, 4):
        # the backbones give 4 temporal slices; L_D2 pairs slice t with dense clip t
        raise ValueError(f"n_clips must be 2 or 4 (the paper's Table 5), got {n_clips}")
    run_id = fingerprint(locals(), inputs=[manifest])
    dev = start_stage(device=device, threads=threads, seed=seed)
    videos = training_videos(manifest)
    log.info("pretraining %s on %d videos (n=%d clips)", kind, len(videos), n_clips)
    dataset = PretrainDataset(
        videos,
        frames_root,
        size=crop_size,
        n_clips=n_clips,
        clip_len=clip_len,
        sparse_stride=n_clips,
        seed=seed,
        augment=ClipAugment(crop_size, scale=tuple(crop_scale)),
    )
    net = build_backbone(backbone)
    model = Embedder(net, ProjectionHead(net.feature_dim)).to(dev)
    with_slices = kind != "invariant"

    def step(batch):
        batch = to_device(batch, dev)
        z_sparse, z_slices, z_dense = model(
            batch["sparse"], batch["dense"], with_slices=with_slices
        )
        loss = contrastive_objective(
            kind,
            z_sparse.float(),
            None if z_slices is None else z_slices.float(),
            z_dense.float(),
            temperature=temperature,
            local_local_reduction=local_local_reduction,
        )
        return {"loss": loss}

    result = fit(
        modules={"model": model},
        step_fn=step,
        batches=epoch_loader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            workers=workers,
            device=dev,
            drop_last=True,
        ),
        optim=OptimConfig(
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            patience=patience,
            max_steps_per_epoch=max_steps_per_epoch,
        ),
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        seed=seed,
        fingerprint=run_id,
    )
    state = result.state["model"]
    save_atomic(
        {
            "model": {
                k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")
            },
            "head": {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")},
            "kind": kind,
            "backbone": backbone,
            "n_clips": n_clips,
            "clip_len": clip_len,
            "epochs": epochs,
            "final_loss": result.history[-1]["loss"],
            "history": result.history,
            "code_version": code_version,
        },
        out,
    )
    Path(resume).unlink(missing_ok=True)  # the output exists: nothing left to resume
    log.info("wrote %s (final loss %.4f)", out, result.history[-1]["loss"])
