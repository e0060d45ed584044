"""Classifiers (a backbone with a linear classifier): the class list that sizes them, their
construction from a pretraining checkpoint, supervised training with model selection on the
validation list, and their checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader

from timebalance import io
from timebalance.data.clips import ClipDataset
from timebalance.engine import distributed
from timebalance.engine.checkpoint import load_checkpoint, load_weights
from timebalance.engine.loader import epoch_loader
from timebalance.engine.metrics import clip_accuracy
from timebalance.engine.settings import RunSettings
from timebalance.engine.trainer import FitResult, StepFn, fit
from timebalance.methods.embedder import load_pretrained
from timebalance.methods.settings import ClipSettings, FinetuneSettings, StudentSettings
from timebalance.models import VideoBackbone, build_backbone
from timebalance.seeding import stream

MODULES = ("model",)


def read_class_list(path: str | Path) -> list[str]:
    """Class names in label order from `<index>.classes.txt` (one per line)."""
    return [line for line in Path(path).read_text().splitlines() if line]


def n_classes(classes: str | Path | None, *frames: pd.DataFrame) -> int:
    """Number of classifier outputs: the dataset's class list (`<index>.classes.txt`, one name
    per line) when given, so a class without training videos keeps its output; else inferred
    from the labels of the lists."""
    present = [f for f in frames if len(f)]
    if not present:
        raise ValueError("the labeled and validation lists are both empty: nothing to train on")
    top = max(int(f["label"].max()) for f in present)
    if classes is None:
        return top + 1
    n = len(read_class_list(classes))
    if top >= n:
        raise ValueError(
            f"label {top} in the split lists, but {classes} names only {n} classes; "
            "regenerate the splits from the current index"
        )
    return n


def build_classifier(backbone: str, n_classes: int, init: str | Path | None) -> VideoBackbone:
    """A backbone with a fresh classifier, its trunk initialised from a pretraining
    checkpoint (strictly: every backbone weight must load) or left random (None)."""
    model = build_backbone(backbone, num_classes=n_classes)
    if init is not None:
        ckpt = load_pretrained(init)
        if ckpt["backbone"] != backbone:
            raise ValueError(
                f"{init} holds a {ckpt['backbone']} backbone, this stage builds {backbone}"
            )
        load_weights(
            model, ckpt["weights"]["backbone"], what=str(init), skip_prefixes=("classifier",)
        )
    return model


def load_classifier_checkpoint(path: str | Path) -> dict[str, Any]:
    """A classifier checkpoint written by `save_classifier` (refused if anything else)."""
    return load_checkpoint(path, modules=MODULES)


def classifier_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device, *, what: str
) -> VideoBackbone:
    """The model of a loaded classifier checkpoint, in eval mode with frozen weights."""
    model = build_backbone(ckpt["backbone"], num_classes=ckpt["n_classes"])
    load_weights(model, ckpt["weights"]["model"], what=what)
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_classifier(path: str | Path, device: torch.device) -> VideoBackbone:
    """A finetuned model saved by `save_classifier`, in eval mode with frozen weights."""
    return classifier_from_checkpoint(load_classifier_checkpoint(path), device, what=str(path))


def clip_batches(
    table: pd.DataFrame,
    frames_root: str | Path,
    clips: ClipSettings,
    *,
    train: bool,
    seed: int,
    purpose: str,
    device: torch.device,
    batch_size: int | None = None,
    drop_last: bool = False,
    return_label: bool = True,
) -> Callable[[int], DataLoader]:
    """Epoch -> loader of one clip per video of `table`: for training a random, augmented
    clip, shuffled; else the centre clip and centre crop, in order. `purpose` ("labeled",
    "unlabeled", "val") names its random streams; `batch_size` None: clips.batch_size."""
    dataset = ClipDataset(
        table,
        frames_root,
        size=clips.crop_size,
        clip_len=clips.clip_len,
        stride=clips.stride,
        train=train,
        seed=stream(seed, f"{purpose} clips"),
        return_label=return_label,
        augment=clips.augment(),
    )
    return epoch_loader(
        dataset,
        batch_size=batch_size or clips.batch_size,
        shuffle=train,
        seed=seed,
        purpose=purpose,
        workers=clips.workers,
        device=device,
        drop_last=drop_last,
    )


def train_classifier(
    model: VideoBackbone,
    settings: FinetuneSettings | StudentSettings,
    run: RunSettings,
    *,
    step: StepFn,
    batches: Callable[[int], Iterable[Any]],
    val: pd.DataFrame,
    frames_root: str | Path,
    device: torch.device,
    fingerprint: str,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
    **info: Any,
) -> FitResult:
    """`engine.trainer.fit` of a classifier, keeping the epoch with the best clip top-1 on
    the validation list (centre clips, centre crops); then `save_classifier` with the
    settings, the code version and `info` (rank 0 of a multi-process run)."""
    val_loader = clip_batches(
        val, frames_root, settings.clips, train=False, seed=0, purpose="val", device=device
    )(0)
    result = fit(
        modules={"model": model},
        step_fn=step,
        batches=batches,
        optim=settings.optim,
        device=device,
        resume_path=resume,
        metrics_path=metrics,
        validate=lambda: {"val_top1": clip_accuracy(model, val_loader, device)},
        seed=settings.seed,
        fingerprint=fingerprint,
        log_every_steps=run.log_every_steps,
        tensorboard=run.tensorboard,
        accelerator=run.accelerator,
    )
    if not distributed.is_main():
        return result
    save_classifier(
        out,
        result,
        resume=resume,
        backbone=settings.backbone,
        n_classes=model.num_classes,
        settings=settings.to_dict(),
        code_version=run.code_version,
        **info,
    )
    return result


def save_classifier(
    out: str | Path,
    result: FitResult,
    *,
    resume: str | Path,
    backbone: str,
    n_classes: int,
    **info: Any,
) -> None:
    """Write the selected weights and plain metadata (`info`: init, settings, code version),
    then drop the resume file: the output exists, nothing is left to resume."""
    io.write_torch(
        {
            "weights": {"model": result.state["model"]},
            "backbone": backbone,
            "n_classes": n_classes,
            "selected_epoch": result.selected_epoch,
            "val_top1": result.selected_metric,
            "history": result.history,
            **info,
        },
        out,
    )
    Path(resume).unlink(missing_ok=True)
