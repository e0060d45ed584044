"""DataLoader construction: worker processes, pinned memory on CUDA, prefetch, and an
epoch-seeded order so a resumed run sees the same batches as an uninterrupted one, also
when it resumes in the middle of an epoch (`skip`). In a multi-process training
(`engine.distributed`) each training batch is split over the processes: the configured
batch size is the global batch, and every process reads only its rows."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from timebalance.engine import distributed
from timebalance.seeding import stream

# epoch, skip -> the epoch's batches without its first `skip` ones
EpochBatches = Callable[..., DataLoader]


def _worker_ignores_sigterm(worker_id: int) -> None:
    # SLURM sends SIGTERM to every process of a job. A worker that died of it would make the
    # main process fail in its next fetch, before it writes its resume checkpoint; the main
    # process ends the workers itself when it exits.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def shard_batches(
    rows: list[int], batch_size: int, *, drop_last: bool, world: distributed.World
) -> list[list[int]]:
    """This process's part of each batch of `rows` (in order, `batch_size` at a time):
    consecutive parts of sizes that differ by at most one, rank 0 first, so the processes
    together see exactly the batches of one process. A last, smaller batch is dropped with
    `drop_last`, and also when it has fewer rows than there are processes (some would get
    none)."""
    if batch_size % world.size:
        raise ValueError(
            f"a batch of {batch_size} cannot be split evenly over {world.size} training "
            f"processes; make the batch size a multiple of {world.size}"
        )
    parts = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        if len(batch) < batch_size and (drop_last or len(batch) < world.size):
            break
        base, extra = divmod(len(batch), world.size)
        lo = world.rank * base + min(world.rank, extra)
        parts.append(batch[lo : lo + base + (world.rank < extra)])
    return parts


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
    shard: bool | None = None,
) -> EpochBatches:
    """Return (epoch, skip=0) -> DataLoader. The dataset's own augmentation RNG is tied to
    the epoch through its `set_epoch`, the order to `stream(seed, purpose, epoch)`
    (`purpose` names the list, so two loaders of one run never share an order). `skip`
    drops the epoch's first batches without loading them: the loader then yields exactly
    the batches an uninterrupted pass yields after them.

    `shard`: in a multi-process training, each process loads only its part of every batch
    (`shard_batches`; `batch_size` is the global batch). None: the shuffled (training)
    loaders are split, an ordered one (validation) is read whole by every process. Memory
    is pinned for CUDA (the steps' `to_device` copies are then asynchronous)."""
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("empty dataset: the split list has no usable video")
    batch_size = max(1, min(batch_size, n))
    drop = drop_last and n > batch_size
    n_batches = n // batch_size if drop else -(-n // batch_size)
    split = shuffle if shard is None else shard

    def make(epoch: int, skip: int = 0) -> DataLoader:
        if not 0 <= skip <= n_batches:
            raise ValueError(f"cannot skip {skip} of the {n_batches} batches of an epoch")
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        generator = torch.Generator().manual_seed(stream(seed, f"{purpose} order", epoch))
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        rows = order[skip * batch_size :].tolist()
        common = {
            "generator": generator,  # worker seeds; the datasets draw from their own streams
            "num_workers": workers,
            "worker_init_fn": _worker_ignores_sigterm if workers > 0 else None,
            "pin_memory": device.type == "cuda",
            "prefetch_factor": 4 if workers > 0 else None,
        }
        world = distributed.world()
        if split and world.size > 1:
            parts = shard_batches(rows, batch_size, drop_last=drop, world=world)
            return DataLoader(dataset, batch_sampler=parts, **common)
        return DataLoader(dataset, batch_size=batch_size, sampler=rows, drop_last=drop, **common)

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
