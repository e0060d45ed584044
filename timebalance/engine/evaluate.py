"""Evaluation protocol: clip-level validation and the 10 clips x 3 crops video-level test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from timebalance.engine.device import autocast
from timebalance.engine.loader import to_device


def read_class_list(path: str | Path) -> list[str]:
    """Class names in label order from `<index>.classes.txt` (one per line)."""
    return [line for line in Path(path).read_text().splitlines() if line]


def classification_metrics(
    probs: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> dict:
    """Video-level metrics in percent.

    Args:
        probs: N x C averaged class probabilities.
        labels: N ground-truth labels in [0, C).
    Returns top1, top5 (top-min(5, C)), mean_class_accuracy (over classes present in
    `labels`), per_class_accuracy (name -> percent, None for an absent class), the
    C x C confusion matrix (rows = truth) and n_test_videos.
    """
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    n, c = probs.shape
    if n == 0:
        raise ValueError("no video to evaluate")
    if len(class_names) != c:
        raise ValueError(f"{len(class_names)} class names for {c} model outputs")
    pred = probs.argmax(1)
    k = min(5, c)
    topk = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    support = confusion.sum(1)
    per_class = {
        name: (100.0 * confusion[i, i] / support[i] if support[i] else None)
        for i, name in enumerate(class_names)
    }
    present = [v for v in per_class.values() if v is not None]
    return {
        "top1": 100.0 * float((pred == labels).mean()),
        "top5": 100.0 * float((topk == labels[:, None]).any(1).mean()),
        "mean_class_accuracy": float(np.mean(present)),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
        "n_test_videos": int(n),
    }


@torch.inference_mode()
def clip_accuracy(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Top-1 (percent) of single clips, for model selection on the validation list."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device):
            logits = model(batch["clip"]).logits
        correct += int((logits.argmax(1) == batch["label"]).sum())
        total += int(batch["label"].numel())
    model.train(was_training)
    return 100.0 * correct / max(total, 1)


@torch.inference_mode()
def video_probabilities(
    model: nn.Module, dataset: Dataset, device: torch.device, *, batch_size: int, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax averaged over every view (clips x crops) of each video.

    The dataset yields {"clips": V x 3 x T x H x W, "label", "index"}. Returns
    (N x C probabilities, N labels) in dataset order.
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
    for batch in loader:
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
    *,
    checkpoint: str | Path,
    test: str | Path,
    frames_root: str | Path,
    class_names: str | Path,
    out: str | Path,
    crop_size: int = 112,
    clip_len: int = 8,
    stride: int = 2,
    n_clips: int = 10,
    n_crops: int = 3,
    batch_size: int = 4,
    workers: int = 2,
    device: str = "auto",
    threads: int | None = None,
    info: dict | None = None,
) -> dict:
    """Evaluate a finetuned model on the test list (n_clips x n_crops views per video,
    softmax averaged) and write the metrics JSON, with `info` (seed, config, code version)."""
    from timebalance.data.clips import EvalDataset
    from timebalance.data.splits import read_split
    from timebalance.engine.checkpoint import load_checkpoint, write_json_atomic
    from timebalance.engine.stage import start_stage
    from timebalance.methods.student import load_classifier

    dev = start_stage(device=device, threads=threads)
    model = load_classifier(checkpoint, dev)
    names = read_class_list(class_names)
    dataset = EvalDataset(
        read_split(test),
        frames_root,
        size=crop_size,
        clip_len=clip_len,
        stride=stride,
        n_clips=n_clips,
        n_crops=n_crops,
    )
    probs, labels = video_probabilities(model, dataset, dev, batch_size=batch_size, workers=workers)
    metrics = classification_metrics(probs, labels, names)
    ckpt = load_checkpoint(checkpoint)
    metrics.update(
        {
            "checkpoint": str(checkpoint),
            "views": {"clips": n_clips, "crops": n_crops, "clip_len": clip_len, "stride": stride},
            "selected_epoch": ckpt.get("selected_epoch"),
            "val_top1": ckpt.get("val_top1"),
            **(info or {}),
        }
    )
    write_json_atomic(metrics, out)
    return metrics
