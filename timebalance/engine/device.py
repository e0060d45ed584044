"""Run-time device selection and what makes a GPU fast: mixed precision (autocast, with a
gradient scaler for float16), channels-last 3D weights and cuDNN's algorithm search. Each is
chosen by the `accelerator` settings; on CPU, float32 and bfloat16 autocast work, the rest is
a no-op or a clear error."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

import torch
from torch import nn

from timebalance.engine.settings import PRECISIONS


def select_device(preference: str = "auto") -> torch.device:
    """Pick the device for a job.

    Args:
        preference: "auto" (CUDA when available, else CPU), "cpu", or "cuda[:k]".
            The environment variable TIMEBALANCE_DEVICE overrides "auto", so a
            cluster profile can pin a device without editing config.
    """
    if preference == "auto":
        preference = os.environ.get("TIMEBALANCE_DEVICE", "auto")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {preference!r} requested but CUDA is not available; "
            "set device: auto (or cpu) in config.yaml"
        )
    return device


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype of `precision` on `device`, None for float32 (no autocast).

    "auto": bfloat16 on a GPU that has it, else float16; float32 on CPU (CPU runs keep
    their float32 results). "bf16" works on CPU too; "fp16" needs CUDA (its gradient scaler
    guards float16's small range, which CPU autocast has no use for)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    cuda = device.type == "cuda"
    if precision == "fp32" or (precision == "auto" and not cuda):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16":
        if not cuda:
            raise ValueError(
                "accelerator.precision fp16 needs CUDA; on CPU use bf16 or fp32 (or auto)"
            )
        return torch.float16
    if cuda and not torch.cuda.is_bf16_supported():
        raise ValueError("accelerator.precision bf16: this GPU has no bfloat16; use fp16 (or auto)")
    return torch.bfloat16


# The precision of `autocast` calls that name none (validation inside `fit`, ...).
_PRECISION: contextvars.ContextVar[str] = contextvars.ContextVar("precision", default="auto")


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """`autocast` calls without a precision use `precision` inside this block (fit sets the
    run's, so its validation passes follow it too)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    token = _PRECISION.set(precision)
    try:
        yield
    finally:
        _PRECISION.reset(token)


@contextlib.contextmanager
def autocast(
    device: torch.device, enabled: bool = True, precision: str | None = None
) -> Iterator[None]:
    """Autocast to `autocast_dtype(device, precision)`; `precision` None: the enclosing
    `precision_scope`'s, else "auto" (bfloat16/float16 on CUDA, float32 on CPU)."""
    dtype = autocast_dtype(device, precision or _PRECISION.get()) if enabled else None
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for float16 autocast (bfloat16 and float32 have the
    range of float32 and need none)."""
    enabled = autocast_dtype(device, precision) is torch.float16
    return torch.amp.GradScaler(device.type, enabled=enabled)


def to_channels_last_3d(module: nn.Module) -> int:
    """Store every 5-D parameter and buffer (3D convolution weights) of `module` in the
    channels-last-3d layout, in place (the Parameter objects stay, so an optimiser built
    before or after sees them). cuDNN then runs those convolutions channels-last, and their
    outputs keep the layout, so the inputs need no conversion. Returns the tensors changed."""
    changed = 0
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.dim() == 5 and not tensor.is_contiguous(memory_format=torch.channels_last_3d):
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last_3d)
            changed += 1
    return changed


@contextlib.contextmanager
def cudnn_benchmark(device: torch.device, enabled: bool) -> Iterator[None]:
    """cuDNN's algorithm search (`torch.backends.cudnn.benchmark`) for a CUDA run, restored
    afterwards; nothing on other devices. It pays when input shapes repeat (fixed clip
    sizes); the chosen algorithms may differ between runs in the last bits."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def configure_threads(threads: int | None) -> None:
    """Bound intra-op threads to what the scheduler granted the job."""
    if threads:
        torch.set_num_threads(max(1, int(threads)))
