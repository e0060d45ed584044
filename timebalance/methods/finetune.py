"""Stage: a teacher finetuned with cross-entropy on the labeled list."""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F

from timebalance.data.clips import ClipDataset
from timebalance.data.splits import read_split
from timebalance.engine.loader import epoch_loader, to_device
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import stage_fingerprint, start_stage
from timebalance.methods.classifier import (
    build_classifier,
    fit_classifier,
    n_classes,
    save_classifier,
)
from timebalance.methods.settings import FinetuneSettings
from timebalance.seeding import stream


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
    s, cs = settings, settings.clips
    run_id = stage_fingerprint(s, run, inputs=[labeled, val, pretrained, classes])
    dev = start_stage(run, seed=s.seed)
    lab, va = read_split(labeled), read_split(val)
    k = n_classes(classes, lab, va)
    model = build_classifier(s.backbone, k, pretrained).to(dev)
    train = ClipDataset(
        lab,
        frames_root,
        size=cs.crop_size,
        clip_len=cs.clip_len,
        stride=cs.stride,
        train=True,
        seed=stream(s.seed, "labeled clips"),
        augment=cs.augment(),
    )

    def step(batch):
        batch = to_device(batch, dev)
        return {"loss": F.cross_entropy(model(batch["clip"]).logits.float(), batch["label"])}

    batches = epoch_loader(
        train,
        batch_size=cs.batch_size,
        shuffle=True,
        seed=s.seed,
        purpose="labeled",
        workers=cs.workers,
        device=dev,
    )
    result = fit_classifier(
        model,
        step=step,
        batches=batches,
        val=va,
        frames_root=frames_root,
        clips=cs,
        optim=s.optim,
        seed=s.seed,
        device=dev,
        resume=resume,
        metrics=metrics,
        fingerprint=run_id,
    )
    save_classifier(
        out,
        result,
        resume=resume,
        backbone=s.backbone,
        n_classes=k,
        init=str(pretrained) if pretrained else "scratch",
        settings=s.to_dict(),
        code_version=run.code_version,
    )
