"""Progress a person can read while a job runs, and TensorBoard event files.

A log line every `every_steps` steps and at least every `PERIOD_S` seconds (epoch, step /
total, the epoch's running mean of each loss term, samples/s, ETA of the epoch and of the
job), then one summary line per epoch. A tqdm bar instead of the step lines when stderr is
an interactive terminal; plain lines in rule logs. The values shown are the Python floats
the training loop already holds: progress adds no device synchronisation.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

log = logging.getLogger("timebalance.progress")
T = TypeVar("T")

PERIOD_S = 30.0  # a job says where it is at least this often


def clock(seconds: float | None) -> str:
    """H:MM:SS (or "?" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = round(max(0.0, seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def terms(values: Mapping[str, float]) -> str:
    """ "loss 1.234 ce 0.567" (4 significant digits)."""
    return " ".join(f"{k} {v:.4g}" for k, v in values.items())


def interactive() -> bool:
    """True when stderr is a terminal (a person watching), False in a rule's log file."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class TrainingProgress:
    """Step and epoch lines of one training run (epochs `start`..`epochs`-1).

    Args:
        epochs: epochs of the whole job.
        every_steps: a line every this many steps (None or 0: by time only).
        period_s: and at least this often, in seconds.
        bar: a tqdm bar instead of step lines (default: when stderr is a terminal).
    """

    def __init__(
        self,
        *,
        epochs: int,
        every_steps: int | None,
        period_s: float = PERIOD_S,
        bar: bool | None = None,
    ) -> None:
        self.epochs = epochs
        self.every = every_steps or 0
        self.period_s = period_s
        self.bar_enabled = interactive() if bar is None else bar
        self.bar: Any = None
        self.epoch_wall: float | None = None  # wall time of the last whole epoch

    def start_epoch(self, epoch: int, *, done: int, total: int | None) -> None:
        """Epoch `epoch` starts (or resumes after `done` steps); `total` steps if known."""
        self.epoch, self.total, self.done0 = epoch, total, done
        self.t0 = self.last_t = time.perf_counter()
        if self.bar_enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="step",
                dynamic_ncols=True,
                leave=False,
            )

    def _etas(self, n: int, now: float) -> tuple[float | None, float | None]:
        rate = (n - self.done0) / max(now - self.t0, 1e-9)  # steps/s since (re)start
        if self.total is None or rate <= 0:
            return None, None
        epoch_eta = (self.total - n) / rate
        per_epoch = self.epoch_wall if self.epoch_wall is not None else self.total / rate
        return epoch_eta, epoch_eta + (self.epochs - self.epoch - 1) * per_epoch

    def step(self, n: int, sums: Mapping[str, float], samples: int) -> None:
        """After step `n` of the epoch (1-based); `sums` of the loss terms over its steps,
        `samples` (batch rows) seen since the epoch (re)started."""
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(1)
            if now - self.last_t >= 1.0:
                self.bar.set_postfix_str(terms({k: v / n for k, v in sums.items()}))
                self.last_t = now
            return
        if not ((self.every and n % self.every == 0) or now - self.last_t >= self.period_s):
            return
        self.last_t = now
        epoch_eta, job_eta = self._etas(n, now)
        log.info(
            "epoch %d/%d step %d/%s %s | %.1f samples/s | epoch ETA %s, job ETA %s",
            self.epoch + 1,
            self.epochs,
            n,
            self.total if self.total is not None else "?",
            terms({k: v / n for k, v in sums.items()}),
            samples / max(now - self.t0, 1e-9),
            clock(epoch_eta),
            clock(job_eta),
        )

    def end_epoch(self, record: Mapping[str, Any], *, wall_s: float) -> None:
        """One summary line: the epoch's record (means, validation, lr) and the job's ETA."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.epoch_wall = wall_s
        left = (self.epochs - self.epoch - 1) * wall_s
        shown = {k: v for k, v in record.items() if k not in ("epoch", "steps", "time_s")}
        log.info(
            "epoch %d/%d done in %s (%d steps): %s | job ETA %s",
            self.epoch + 1,
            self.epochs,
            clock(wall_s),
            record.get("steps", 0),
            terms({k: v for k, v in shown.items() if isinstance(v, int | float)}),
            clock(left),
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress(
    items: Iterable[T],
    *,
    what: str,
    total: int | None = None,
    every_steps: int | None = None,
    period_s: float = PERIOD_S,
) -> Iterator[T]:
    """`items`, logging "<what>: i/total, items/s, ETA" every `every_steps` items and at
    least every `period_s` seconds (a tqdm bar on a terminal), and a last line with the
    total time. For long loops outside training (score caching, evaluation)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if interactive():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=what, dynamic_ncols=True, leave=False)
        return
    t0 = last = time.perf_counter()
    n = 0
    for item in items:
        yield item
        n += 1
        now = time.perf_counter()
        if (every_steps and n % every_steps == 0) or now - last >= period_s:
            last = now
            rate = n / max(now - t0, 1e-9)
            eta = (total - n) / rate if total is not None else None
            log.info("%s: %d/%s, %.2f/s, ETA %s", what, n, total or "?", rate, clock(eta))
    log.info("%s: %d done in %s", what, n, clock(time.perf_counter() - t0))


class EventFiles:
    """TensorBoard event files of one run (torch.utils.tensorboard's own writer).

    Every tag is indexed by the run's global step (optimiser steps since the start of the
    job), so a resumed run continues the same axis. `purge_step` is the first step this
    process writes: TensorBoard's reader drops the events a killed earlier process wrote
    at or after it (a fresh run passes 0 and hides any older run's events in `log_dir`).
    """

    def __init__(self, log_dir: str | Path, *, purge_step: int, flush_secs: int = 30) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge_step, flush_secs=flush_secs)

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}{key}", value, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        self.writer.add_histogram(tag, values.detach().float().cpu(), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
