"""Run-time device selection and mixed precision (CUDA only)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch


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


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bfloat16/float16 autocast on CUDA; a no-op on CPU (CPU runs stay in float32)."""
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast(device_type="cuda", dtype=dtype):
            yield
    else:
        yield


def configure_threads(threads: int | None) -> None:
    """Bound intra-op threads to what the scheduler granted the job."""
    if threads:
        torch.set_num_threads(max(1, int(threads)))
