"""Classification metrics: the video-level test metrics and the clip-level validation top-1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from timebalance.engine.device import autocast
from timebalance.engine.loader import to_device


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
