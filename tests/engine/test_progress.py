"""Progress lines: when they are written, and their ETAs (on a fake clock)."""

import logging

import pytest

from timebalance.engine import progress as P


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(P.time, "perf_counter", fake)
    return fake


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "timebalance.progress"]


def test_step_lines_every_k_steps_with_etas(clock, caplog):
    caplog.set_level(logging.INFO)
    bar = P.TrainingProgress(epochs=3, every_steps=4, bar=False)
    bar.start_epoch(0, done=0, total=10)
    for n in range(1, 11):
        clock.now += 1.0  # one step per second
        bar.step(n, {"loss": 2.0 * n, "ce": 1.0 * n}, samples=16 * n)
    lines = _lines(caplog)
    assert len(lines) == 2  # steps 4 and 8
    # step 4: 6 s left in the epoch, then 2 epochs of 10 s
    assert lines[0] == (
        "epoch 1/3 step 4/10 loss 2 ce 1 | 16.0 samples/s | epoch ETA 0:00:06, job ETA 0:00:26"
    )
    clock.now += 2.0  # validation
    bar.end_epoch({"epoch": 0, "steps": 10, "loss": 2.0, "val_top1": 50.0}, wall_s=12.0)
    assert _lines(caplog)[-1] == (
        "epoch 1/3 done in 0:00:12 (10 steps): loss 2 val_top1 50 | job ETA 0:00:24"
    )
    # the next epoch's job ETA uses the last whole epoch's wall time (with validation)
    bar.start_epoch(1, done=0, total=10)
    clock.now += 1.0
    bar.every = 1
    bar.step(1, {"loss": 1.0}, samples=16)
    assert _lines(caplog)[-1].endswith("epoch ETA 0:00:09, job ETA 0:00:21")


def test_a_line_at_least_every_period(clock, caplog):
    caplog.set_level(logging.INFO)
    bar = P.TrainingProgress(epochs=1, every_steps=None, period_s=30.0, bar=False)
    bar.start_epoch(0, done=5, total=None)  # resumed after 5 steps, length unknown
    for n in range(6, 20):
        clock.now += 7.0
        bar.step(n, {"loss": 1.0}, samples=0)
    lines = _lines(caplog)
    assert [line.split(" loss")[0] for line in lines] == [
        "epoch 1/1 step 10/?",
        "epoch 1/1 step 15/?",
    ]  # 35 s and 70 s after the (re)start
    assert all("ETA ?" in line for line in lines)


def test_a_bar_on_a_terminal_and_no_step_lines(clock, caplog, capsys):
    caplog.set_level(logging.INFO)
    bar = P.TrainingProgress(epochs=1, every_steps=1, bar=True)
    bar.start_epoch(0, done=0, total=3)
    for n in range(1, 4):
        clock.now += 2.0
        bar.step(n, {"loss": 1.0}, samples=8)
    bar.close()
    assert _lines(caplog) == []
    assert "epoch 1/1" in capsys.readouterr().err  # tqdm's bar


def test_progress_of_a_loop(clock, caplog):
    caplog.set_level(logging.INFO)
    items = []
    for i in P.progress(range(10), what="test batches", every_steps=5):
        clock.now += 0.5
        items.append(i)
    assert items == list(range(10))
    assert _lines(caplog) == [
        "test batches: 5/10, 2.00/s, ETA 0:00:02",
        "test batches: 10/10, 2.00/s, ETA 0:00:00",
        "test batches: 10 done in 0:00:05",
    ]


def test_clock_format():
    assert P.clock(3725.4) == "1:02:05"
    assert P.clock(None) == "?"
    assert P.clock(float("inf")) == "?"
