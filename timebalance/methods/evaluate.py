"""Stage: the test protocol on a finetuned checkpoint: n_clips x n_crops views per video,
softmax averaged, video-level metrics (top-1, top-5, mean class accuracy, confusion)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from timebalance import io
from timebalance.data.clips import EvalDataset
from timebalance.data.splits import read_split
from timebalance.engine.device import autocast
from timebalance.engine.loader import to_device
from timebalance.engine.metrics import classification_metrics
from timebalance.engine.progress import progress
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import start_stage
from timebalance.methods.classifier import (
    classifier_from_checkpoint,
    load_classifier_checkpoint,
    read_class_list,
)
from timebalance.methods.settings import EvalSettings


@torch.inference_mode()
def video_probabilities(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device,
    *,
    batch_size: int,
    workers: int,
    log_every_steps: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax averaged over every view (clips x crops) of each video.

    The dataset yields {"clips": V x 3 x T x H x W, "label", "index"}. Returns
    (N x C probabilities, N labels) in dataset order. Logs its progress every
    `log_every_steps` batches and at least every 30 s.
    """
    model.eval()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    probs, labels, order = [], [], []
    for batch in progress(loader, what="test batches", every_steps=log_every_steps):
        batch = to_device(batch, device)
        clips = batch["clips"]
        b, v = clips.shape[:2]
        with autocast(device):
            logits = model(clips.flatten(0, 1)).logits
        p = logits.float().softmax(-1).view(b, v, -1).mean(1)
        probs.append(p.cpu())
        labels.append(batch["label"].cpu())
        order.append(batch["index"].cpu())
    idx = torch.cat(order).argsort()
    return torch.cat(probs)[idx].numpy(), torch.cat(labels)[idx].numpy()


def evaluate_checkpoint(
    settings: EvalSettings,
    run: RunSettings,
    *,
    checkpoint: str | Path,
    test: str | Path,
    classes: str | Path,
    frames_root: str | Path,
    out: str | Path,
    info: dict[str, Any],
) -> dict[str, Any]:
    """Evaluate a finetuned model on the test list and write the metrics JSON, with `info`
    (what was evaluated, seed, config) and the code version."""
    s = settings
    dev = start_stage(run, seed=0)  # evaluation draws nothing at random
    ckpt = load_classifier_checkpoint(checkpoint)
    model = classifier_from_checkpoint(ckpt, dev, what=str(checkpoint))
    dataset = EvalDataset(
        read_split(test),
        frames_root,
        size=s.crop_size,
        clip_len=s.clip_len,
        stride=s.stride,
        n_clips=s.n_clips,
        n_crops=s.n_crops,
    )
    probs, labels = video_probabilities(
        model,
        dataset,
        dev,
        batch_size=s.batch_size,
        workers=s.workers,
        log_every_steps=run.log_every_steps,
    )
    metrics = classification_metrics(probs, labels, read_class_list(classes))
    metrics.update(
        {
            "checkpoint": str(checkpoint),
            "views": {
                "clips": s.n_clips,
                "crops": s.n_crops,
                "clip_len": s.clip_len,
                "stride": s.stride,
            },
            "selected_epoch": ckpt.get("selected_epoch"),
            "val_top1": ckpt.get("val_top1"),
            **info,
            "code_version": run.code_version,
        }
    )
    io.write_json(metrics, out)
    return metrics
