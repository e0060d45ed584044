"""An endless, pass-by-pass stream of fixed-size batches over one dataset: the unlabeled
videos of a student whose epoch is one pass over the labeled list (`student.epoch_unit:
labeled`, the authors' loop, which zips a short labeled loader with a long unlabeled one).

Pass k of the stream is a permutation of the dataset drawn from
``stream(seed, "<purpose> order", k)``, and its items draw their augmentation from the
dataset's epoch k (``set_epoch``). The passes are laid end to end and cut into batches of
``batch_size``, so a batch may hold the end of one pass and the start of the next: every
item appears exactly once per pass, and none twice before every other item has appeared.
Batch b of the stream is a pure function of (seed, purpose, b): a run resumed at any batch
reads exactly what an uninterrupted run reads there, without loading what came before. In a
multi-process training each process reads its part of every batch, as
``engine.loader.epoch_loader``'s training loaders do (``batch_size`` is the global batch).
"""

from __future__ import annotations

from collections.abc import Sized

import torch
from torch.utils.data import DataLoader, Dataset

from timebalance.engine import distributed
from timebalance.engine.loader import _worker_ignores_sigterm, shard_batches
from timebalance.seeding import stream


class _PassItems(Dataset):
    """``dataset[(k, i)]`` is item i as the dataset's epoch k draws it."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        k, i = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(k)  # each worker holds its own copy of the dataset
        return self.dataset[i]


class CycledBatches:
    """Batches ``start .. start + count - 1`` of the endless stream (see the module doc),
    as a DataLoader: ``CycledBatches(...)(start, count)``.

    Args:
        dataset: a map-style dataset; its items are read as ``dataset[i]`` after
            ``dataset.set_epoch(k)`` for an item of pass k (when it has ``set_epoch``).
        batch_size: items per batch, at most the dataset's size (as ``epoch_loader``).
        seed, purpose: name the stream's orders (``purpose`` names the list).
        workers, device: DataLoader worker processes; pinned memory on CUDA.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        seed: int,
        purpose: str,
        workers: int,
        device: torch.device,
    ) -> None:
        n = len(dataset) if isinstance(dataset, Sized) else 0
        if n == 0:
            raise ValueError("empty dataset: the split list has no usable video")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.items, self.n = _PassItems(dataset), n
        self.batch_size = min(batch_size, n)
        self.seed, self.purpose = seed, purpose
        self.workers, self.device = workers, device

    def order(self, k: int) -> list[int]:
        """The item order of pass k."""
        generator = torch.Generator().manual_seed(stream(self.seed, f"{self.purpose} order", k))
        return torch.randperm(self.n, generator=generator).tolist()

    def keys(self, start: int, count: int) -> list[tuple[int, int]]:
        """(pass, item) of every position of batches ``start .. start + count - 1``."""
        if start < 0 or count < 0:
            raise ValueError(f"start and count must be >= 0, got {start} and {count}")
        position, end = start * self.batch_size, (start + count) * self.batch_size
        out: list[tuple[int, int]] = []
        while position < end:
            k, j = divmod(position, self.n)
            take = min(self.n - j, end - position)
            out += [(k, i) for i in self.order(k)[j : j + take]]
            position += take
        return out

    def __call__(self, start: int, count: int) -> DataLoader:
        keys = self.keys(start, count)
        world = distributed.world()
        parts = shard_batches(keys, self.batch_size, drop_last=False, world=world)
        return DataLoader(
            self.items,
            batch_sampler=parts,  # whole batches in one process
            # worker seeds only: the datasets draw from their own streams
            generator=torch.Generator().manual_seed(stream(self.seed, self.purpose, start)),
            num_workers=self.workers,
            worker_init_fn=_worker_ignores_sigterm if self.workers > 0 else None,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.workers > 0 else None,
        )
