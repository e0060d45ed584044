"""The measuring loop every benchmark shares: interleaved repeats, wall and CPU seconds, medians.

Alternatives are timed round-robin (A, B, C, A, B, C, ...) so a load change on a shared machine
hits all of them alike, and each figure is the median over the repeats. CPU seconds are this
process's (all its threads) plus, with ``children=True``, those of the subprocesses it waited
for (ffmpeg): on a busy machine they move less than wall seconds, and a ratio of CPU seconds is
a ratio of work per core.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One timed repeat: wall-clock and CPU seconds."""

    wall_s: float
    cpu_s: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(fn: Callable[[], object], *, children: bool = False) -> Sample:
    """Run ``fn`` once; its wall and CPU seconds (CPU of waited-for subprocesses included
    when ``children``)."""
    cpu0 = time.process_time() + (_children_cpu() if children else 0.0)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    cpu = time.process_time() + (_children_cpu() if children else 0.0) - cpu0
    return Sample(wall_s=wall, cpu_s=cpu)


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 1,
    children: bool = False,
) -> dict[str, list[Sample]]:
    """Time every function ``repeats`` times, round-robin, after ``warmup`` untimed rounds
    (first calls pay for imports, caches and lazy initialisation)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[Sample]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(time_once(fn, children=children))
    return samples


def summarize(samples: list[Sample], work: float, unit: str) -> dict:
    """Medians of the repeats and the throughput of ``work`` items (``unit``) per second and
    per CPU second. The raw repeats are kept so every figure can be recomputed."""
    if not samples:
        raise ValueError("no timed repeat to summarize")
    if not work > 0:
        raise ValueError(f"work must be > 0 {unit}, got {work}")
    wall = statistics.median(s.wall_s for s in samples)
    cpu = statistics.median(s.cpu_s for s in samples)
    return {
        "repeats": len(samples),
        "work": work,
        "unit": unit,
        "wall_s": [round(s.wall_s, 6) for s in samples],
        "cpu_s": [round(s.cpu_s, 6) for s in samples],
        "median_wall_s": wall,
        "median_cpu_s": cpu,
        f"{unit}_per_s": work / wall if wall > 0 else math.inf,
        f"{unit}_per_cpu_s": work / cpu if cpu > 0 else math.inf,
    }


def ratio(numerator: float, denominator: float, *, what: str) -> float:
    """``numerator / denominator`` of two measured quantities, refusing a result that is not
    a positive finite number (a zero or missing time means the measurement failed)."""
    value = numerator / denominator if denominator else math.inf
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{what}: {numerator!r} / {denominator!r} is not a positive finite ratio; the "
            "timed run was too short or failed (raise the repeats or the inputs)"
        )
    return value
