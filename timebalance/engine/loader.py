"""DataLoader construction: worker processes, pinned memory on CUDA, prefetch, and an
epoch-seeded shuffle so a resumed run sees the same order as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from timebalance.seeding import stream


def epoch_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    purpose: str,
    workers: int,
    device: torch.device,
    drop_last: bool = False,
) -> Callable[[int], DataLoader]:
    """Return epoch -> DataLoader. The dataset's own augmentation RNG is tied to the
    epoch through its `set_epoch`, the shuffle through `stream(seed, purpose, epoch)`
    (`purpose` names the list, so two loaders of one run never share an order)."""
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("empty dataset: the split list has no usable video")
    batch_size = max(1, min(batch_size, len(dataset)))  # type: ignore[arg-type]

    def make(epoch: int) -> DataLoader:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        generator = torch.Generator().manual_seed(stream(seed, f"{purpose} order", epoch))
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if workers > 0 else None,
            drop_last=drop_last and len(dataset) > batch_size,  # type: ignore[arg-type]
        )

    return make


def cycle(make: Callable[[int], DataLoader], *, seed: int, epoch: int) -> Iterator:
    """Endless batches from successive passes over a loader (the labeled stream of the
    student, which is shorter than the unlabeled one). Pass k of `epoch` is the loader's
    epoch `stream(seed, "cycle", epoch, k)`: its own shuffle and augmentation, the same
    after a resume."""
    k = 0
    while True:
        yield from make(stream(seed, "cycle", epoch, k))
        k += 1


def to_device(batch, device: torch.device):
    """Move every tensor of a (nested) batch to `device`, non-blocking when pinned."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
