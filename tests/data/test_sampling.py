"""The endless pass-by-pass batch stream: each item once per pass, batches across pass
boundaries, each pass with its own order and augmentation epoch, any batch readable
without the ones before it."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from timebalance.data.sampling import CycledBatches


class Items(Dataset):
    """Item i of epoch e is (e, i): what the stream asked for is visible in the batch."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = n, -1

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict:
        return {"epoch": self.epoch, "index": i}


def _stream(n: int, batch_size: int, workers: int = 0, seed: int = 3) -> CycledBatches:
    return CycledBatches(
        Items(n), batch_size=batch_size, seed=seed, purpose="unlabeled", workers=workers,
        device=torch.device("cpu"),
    )  # fmt: skip


def _read(loader) -> list[list[tuple[int, int]]]:
    return [list(zip(b["epoch"].tolist(), b["index"].tolist(), strict=True)) for b in loader]


def test_every_item_once_per_pass_and_batches_span_passes():
    stream = _stream(10, 4)
    batches = _read(stream(0, 8))  # 32 items: passes 0, 1, 2 and two items of pass 3
    assert all(len(b) == 4 for b in batches)
    flat = [item for b in batches for item in b]
    for k in range(3):
        one_pass = flat[10 * k : 10 * (k + 1)]
        assert {e for e, _ in one_pass} == {k}  # drawn as the dataset's epoch k
        assert sorted(i for _, i in one_pass) == list(range(10))  # each item once
    assert batches[2] == [(0, flat[8][1]), (0, flat[9][1]), (1, flat[10][1]), (1, flat[11][1])]
    orders = [[i for _, i in flat[10 * k : 10 * (k + 1)]] for k in range(3)]
    assert len({tuple(o) for o in orders}) == 3  # a new order every pass


def test_any_batch_reads_as_in_an_uninterrupted_stream():
    stream = _stream(7, 3)
    full = _read(stream(0, 12))
    for start in (1, 2, 5, 9):
        assert _read(stream(start, 12 - start)) == full[start:]
    assert _read(_stream(7, 3)(4, 3)) == full[4:7]  # a new object (a resumed job)
    assert _read(_stream(7, 3, seed=4)(0, 12)) != full  # the seed names the stream


def test_batch_size_is_capped_at_the_dataset_and_bad_arguments_are_refused():
    stream = _stream(3, 8)
    batches = _read(stream(0, 2))
    assert [len(b) for b in batches] == [3, 3]  # never an item twice in one batch
    assert {i for _, i in batches[0]} == {0, 1, 2}
    with pytest.raises(ValueError, match="empty dataset"):
        _stream(0, 2)
    with pytest.raises(ValueError, match="start and count"):
        stream(-1, 2)


def test_worker_processes_draw_each_item_from_its_own_pass():
    assert _read(_stream(5, 2, workers=2)(1, 6)) == _read(_stream(5, 2)(1, 6))


def test_each_training_process_reads_its_part_of_every_batch(monkeypatch):
    from timebalance.engine import distributed

    whole = _read(_stream(9, 4)(2, 5))
    parts = []
    for rank in (0, 1):
        monkeypatch.setattr(distributed, "world", lambda r=rank: distributed.World(r, 2, r))
        parts.append(_read(_stream(9, 4)(2, 5)))
    assert [a + b for a, b in zip(*parts, strict=True)] == whole
    assert all(len(a) == len(b) == 2 for a, b in zip(*parts, strict=True))
