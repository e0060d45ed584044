"""Seconds per clip of a backbone on this machine's device: the measured costs the grid
planner (timebalance.workflow.cost) multiplies by the clips each job processes.

A training step here is the one `engine.trainer.fit` runs: forward under `autocast` (mixed
precision on CUDA), cross-entropy, backward through the GradScaler, an Adam step. A
forward-only step is the teachers' and the evaluation's: eval mode, inference mode,
autocast. Inputs are random clips already on the device, so the figures leave out data
loading (decoding JPEG frames, augmentation), which workers overlap with the GPU's work.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from timebalance.engine.device import autocast, select_device
from timebalance.models import build_backbone


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(
    step: Callable[[], None], device: torch.device, *, warmup: int, repeats: int
) -> float:
    """Median wall time of `repeats` calls after `warmup` untimed ones (cuDNN autotuning,
    allocator growth and lazy initialisation happen in the first calls)."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def device_name(device: torch.device) -> str:
    """What the figures were measured on: the GPU's name, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"cpu ({cpu}, {torch.get_num_threads()} threads)"


def time_backbone(
    backbone: str,
    *,
    frames: int,
    size: int,
    device: str = "auto",
    batch_size: int = 16,
    warmup: int = 2,
    repeats: int = 5,
    n_classes: int = 101,
) -> dict:
    """Seconds per clip of `backbone` on clips of `frames` x `size` x `size` pixels.

    Args:
        device: "auto", "cpu" or "cuda[:k]" (as `engine.device.select_device`).
        batch_size: clips per step; the per-clip figure is the step time / batch_size.
        warmup, repeats: untimed and timed steps; the median of the timed ones is kept.
        n_classes: classifier outputs (the head's cost is negligible beside the trunk's).

    Returns:
        {"backbone", "frames", "size", "batch_size", "device", "device_name",
        "train_s_per_clip" (forward + backward + optimiser step), "eval_s_per_clip"
        (forward only), "warmup", "repeats", "torch"}.
    """
    if min(frames, size, batch_size, repeats) < 1 or warmup < 0:
        raise ValueError(
            f"frames, size, batch_size and repeats must be >= 1 and warmup >= 0 (got frames="
            f"{frames}, size={size}, batch_size={batch_size}, repeats={repeats}, warmup={warmup})"
        )
    dev = select_device(device)
    model = build_backbone(backbone, num_classes=n_classes).to(dev)
    clips = torch.randn(batch_size, 3, frames, size, size, device=dev)
    labels = torch.randint(n_classes, (batch_size,), device=dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")

    def train_step() -> None:
        with autocast(dev):
            loss = F.cross_entropy(model(clips).logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def eval_step() -> None:
        with torch.inference_mode(), autocast(dev):
            model(clips)

    model.train()
    train = _median_seconds(train_step, dev, warmup=warmup, repeats=repeats)
    model.eval()
    evaluate = _median_seconds(eval_step, dev, warmup=warmup, repeats=repeats)
    return {
        "backbone": backbone,
        "frames": frames,
        "size": size,
        "batch_size": batch_size,
        "device": str(dev),
        "device_name": device_name(dev),
        "train_s_per_clip": train / batch_size,
        "eval_s_per_clip": evaluate / batch_size,
        "warmup": warmup,
        "repeats": repeats,
        "torch": torch.__version__,
    }
