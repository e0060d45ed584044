"""Stage: a teacher finetuned with cross-entropy on the labeled list."""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F

from timebalance.data.splits import read_split
from timebalance.engine import launch
from timebalance.engine.loader import to_device
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import stage_fingerprint, start_stage
from timebalance.methods.classifier import (
    build_classifier,
    clip_batches,
    n_classes,
    train_classifier,
)
from timebalance.methods.settings import FinetuneSettings


@launch.stage
def finetune_teacher(
    settings: FinetuneSettings,
    run: RunSettings,
    *,
    labeled: str | Path,
    val: str | Path,
    classes: str | Path | None,
    frames_root: str | Path,
    pretrained: str | Path | None,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
) -> None:
    """Cross-entropy finetuning on the labeled list; the epoch with the best validation
    clip accuracy is kept. `pretrained` None trains from scratch; `classes` (the dataset's
    class list) sizes the classifier (None: the largest label of the lists)."""
    s = settings
    run_id = stage_fingerprint(s, run, inputs=[labeled, val, pretrained, classes])
    dev = start_stage(run, seed=s.seed)
    lab, va = read_split(labeled), read_split(val)
    k = n_classes(classes, lab, va)
    model = build_classifier(s.backbone, k, pretrained).to(dev)
    batches = clip_batches(
        lab, frames_root, s.clips, train=True, seed=s.seed, purpose="labeled", device=dev
    )

    def step(batch):
        batch = to_device(batch, dev)
        return {"loss": F.cross_entropy(model(batch["clip"]).logits.float(), batch["label"])}

    train_classifier(
        model,
        s,
        run,
        step=step,
        batches=batches,
        val=va,
        frames_root=frames_root,
        device=dev,
        fingerprint=run_id,
        out=out,
        resume=resume,
        metrics=metrics,
        init=str(pretrained) if pretrained else "scratch",
    )
