"""DataLoader construction: worker processes, pinned memory on CUDA, prefetch, and an
epoch-seeded order so a resumed run sees the same batches as an uninterrupted one, also
when it resumes in the middle of an epoch (`skip`)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from timebalance.seeding import stream

# epoch, skip -> the epoch's batches without its first `skip` ones
EpochBatches = Callable[..., DataLoader]


def _worker_ignores_sigterm(worker_id: int) -> None:
    # SLURM sends SIGTERM to every process of a job. A worker that died of it would make the
    # main process fail in its next fetch, before it writes its resume checkpoint; the main
    # process ends the workers itself when it exits.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


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
) -> EpochBatches:
    """Return (epoch, skip=0) -> DataLoader. The dataset's own augmentation RNG is tied to
    the epoch through its `set_epoch`, the order to `stream(seed, purpose, epoch)`
    (`purpose` names the list, so two loaders of one run never share an order). `skip`
    drops the epoch's first batches without loading them: the loader then yields exactly
    the batches an uninterrupted pass yields after them."""
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("empty dataset: the split list has no usable video")
    batch_size = max(1, min(batch_size, n))
    drop = drop_last and n > batch_size
    n_batches = n // batch_size if drop else -(-n // batch_size)

    def make(epoch: int, skip: int = 0) -> DataLoader:
        if not 0 <= skip <= n_batches:
            raise ValueError(f"cannot skip {skip} of the {n_batches} batches of an epoch")
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        generator = torch.Generator().manual_seed(stream(seed, f"{purpose} order", epoch))
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=order[skip * batch_size :].tolist(),
            generator=generator,  # worker seeds; the datasets draw from their own streams
            num_workers=workers,
            worker_init_fn=_worker_ignores_sigterm if workers > 0 else None,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if workers > 0 else None,
            drop_last=drop,
        )

    return make


def cycle(make: EpochBatches, *, seed: int, epoch: int, skip: int = 0) -> Iterator:
    """Endless batches from successive passes over a loader (the labeled stream of the
    student, which is shorter than the unlabeled one). Pass k of `epoch` is the loader's
    epoch `stream(seed, "cycle", epoch, k)`: its own shuffle and augmentation, the same
    after a resume. `skip` drops the first batches of the stream without loading them."""
    k = 0
    if skip:
        per_pass = len(make(stream(seed, "cycle", epoch, 0)))
        k, skip = divmod(skip, per_pass)
    while True:
        yield from make(stream(seed, "cycle", epoch, k), skip)
        k, skip = k + 1, 0


def to_device(batch, device: torch.device):
    """Move every tensor of a (nested) batch to `device`, non-blocking when pinned."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
