"""List scheduling of a job DAG on nodes of identical devices: the wall-time model of the
grid planner (timebalance.workflow.cost).

Model: each job needs `demand` devices on one node for `duration` seconds and starts once
every job it depends on has finished. Whenever a device frees (and at the start), the ready
jobs are taken in priority order, highest first, and each that fits on a node starts there
(a smaller job may start before a larger one that does not fit yet). The priority is the
job's bottom level: its duration plus the longest chain of durations after it (critical
path first, the classic HLFET rule), ties broken by job id. A job with demand 0 (a CPU step
the model does not time) starts when ready and takes no device. Nothing is preempted.
No schedule finishes before the longest chain of durations (`bottom_levels`' maximum) nor
before the total device time / devices; Snakemake's scheduler (it does not look at the
critical path) and a cluster's queue waits can only make the real run longer.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """When and where a job runs: [start, end) seconds, on `node` (-1: no device)."""

    start: float
    end: float
    node: int


def children(durations: Mapping[Hashable, float], deps: Mapping[Hashable, set]) -> dict:
    """job -> the jobs that depend on it."""
    out: dict[Hashable, list] = {j: [] for j in durations}
    for job, before in deps.items():
        for d in before:
            out[d].append(job)
    return out


def bottom_levels(
    durations: Mapping[Hashable, float], deps: Mapping[Hashable, set]
) -> dict[Hashable, float]:
    """Each job's duration plus the longest chain of durations of the jobs after it."""
    order = topological_order(durations, deps)
    after = children(durations, deps)
    level: dict[Hashable, float] = {}
    for job in reversed(order):
        level[job] = durations[job] + max((level[c] for c in after[job]), default=0.0)
    return level


def topological_order(durations: Mapping[Hashable, float], deps: Mapping[Hashable, set]) -> list:
    """The jobs, each after every job it depends on.

    Raises:
        ValueError: a dependency on an unknown job, or a cycle.
    """
    unknown = {d for before in deps.values() for d in before} - set(durations)
    if unknown:
        raise ValueError(f"dependencies on unknown jobs: {sorted(map(str, unknown))[:5]}")
    waiting = {j: len(deps.get(j, ())) for j in durations}
    after = children(durations, deps)
    order = [j for j, n in waiting.items() if n == 0]
    for job in order:  # grows while it is read
        for c in after[job]:
            waiting[c] -= 1
            if waiting[c] == 0:
                order.append(c)
    if len(order) != len(durations):
        raise ValueError("the job graph has a cycle")
    return order


def list_schedule(
    durations: Mapping[Hashable, float],
    deps: Mapping[Hashable, set],
    demand: Mapping[Hashable, int],
    *,
    devices_per_node: int,
    nodes: int = 1,
) -> dict[Hashable, Slot]:
    """Start and end of every job under the module's model.

    Args:
        durations: job -> seconds (>= 0).
        deps: job -> the jobs it waits for.
        demand: job -> devices it needs on one node (0: none).
        devices_per_node, nodes: the allocation.

    Raises:
        ValueError: a job needs more devices than a node has, a negative duration, a
            dependency cycle, or an allocation without devices.
    """
    if devices_per_node < 1 or nodes < 1:
        raise ValueError(f"need >= 1 device and node, got {devices_per_node} x {nodes}")
    too_big = sorted(str(j) for j, d in demand.items() if d > devices_per_node)
    if too_big:
        raise ValueError(
            f"jobs {too_big[:5]} need more than the {devices_per_node} devices of one node; "
            "give each node more devices (--gpus)"
        )
    if any(d < 0 for d in durations.values()):
        raise ValueError("durations must be >= 0")
    level = bottom_levels(durations, deps)
    rank = {j: k for k, j in enumerate(sorted(durations, key=lambda j: (-level[j], str(j))))}
    waiting = {j: len(deps.get(j, ())) for j in durations}
    after = children(durations, deps)
    free = [devices_per_node] * nodes
    ready = sorted((j for j, n in waiting.items() if n == 0), key=rank.__getitem__)
    running: list[tuple[float, int, Hashable]] = []  # (end, rank, job)
    slots: dict[Hashable, Slot] = {}
    now = 0.0
    while ready or running:
        still = []
        for job in ready:
            need = demand.get(job, 0)
            node = -1
            if need:
                fits = [n for n in range(nodes) if free[n] >= need]
                if not fits:
                    still.append(job)
                    continue
                node = min(fits, key=lambda n: (free[n], n))  # the fullest node that fits
                free[node] -= need
            slots[job] = Slot(now, now + durations[job], node)
            heapq.heappush(running, (now + durations[job], rank[job], job))
        ready = still
        now, _, job = heapq.heappop(running)
        done = [job]
        while running and running[0][0] <= now:
            done.append(heapq.heappop(running)[2])
        for job in done:
            if slots[job].node >= 0:
                free[slots[job].node] += demand[job]
            for c in after[job]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    ready.append(c)
        ready.sort(key=rank.__getitem__)
    return slots


def makespan(slots: Mapping[Hashable, Slot]) -> float:
    """Seconds from the first start to the last end (0 for no job)."""
    return max((s.end for s in slots.values()), default=0.0)
