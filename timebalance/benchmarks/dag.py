"""Figure d: what the workflow costs before any job runs: ``snakemake -n paper_grid`` (building
the whole paper grid's DAG) and a no-op run of the demo when everything is up to date, in
seconds and jobs.

The no-op run is a real run (``--cores 1``), so it is started only when a dry run just before
it finds nothing to do (otherwise the JSON says how many jobs are pending and skips it), and
it is terminated if it prints a job table all the same: the benchmark never trains anything.
It runs with ``--nolock`` so it never blocks, nor is blocked by, a workflow run of the same
folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from timebalance.benchmarks.timing import Sample, summarize, time_once

_TOTAL = re.compile(r"^total\s+(\d+)\s*$", re.MULTILINE)
_NOTHING = "Nothing to be done"


def snakemake_command(*args: str) -> list[str]:
    """Snakemake of this interpreter's environment (the one the package is installed in)."""
    return [sys.executable, "-m", "snakemake", *args]


def job_stats(output: str) -> dict[str, int]:
    """The "Job stats" table of Snakemake's output (the last one printed): rule -> jobs, and
    "total"; {} when Snakemake found nothing to do.

    Raises:
        ValueError: the output has neither a job table nor "Nothing to be done".
    """
    blocks = output.split("Job stats:")
    if len(blocks) < 2:
        if _NOTHING in output:
            return {}
        raise ValueError(f"no job table nor {_NOTHING!r} in Snakemake's output:\n{output[-2000:]}")
    stats: dict[str, int] = {}
    for line in blocks[-1].splitlines()[3:]:  # after "job count" and the dashes
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        stats[parts[0]] = int(parts[1])
    if "total" not in stats:
        raise ValueError(f"Snakemake's job table has no total:\n{blocks[-1][:2000]}")
    return stats


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group `proc` leads (it and the jobs it started)."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, sig)


def run_snakemake(
    args: list[str], *, workdir: str | Path, stop_on_jobs: bool = False
) -> tuple[Sample, str]:
    """Run Snakemake with ``args`` in ``workdir``; (its time, its output). Raises if it fails.

    ``stop_on_jobs``: a run that prints a job table (it found jobs to do) is terminated at
    once, before it gets far, and a RuntimeError says so: the no-op run's guard.
    """
    lines: list[str] = []
    stopped = []

    def call() -> None:
        with subprocess.Popen(
            snakemake_command(*args),
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its jobs in its process group: stopped with it
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if stop_on_jobs and line.startswith("Job stats:"):
                    # The whole group: Snakemake alone may let a started job finish and
                    # write its output (a CI run saw a 30 s job complete after SIGTERM).
                    _signal_group(proc, signal.SIGTERM)
                    stopped.append(True)
                    break
            try:
                # Read what it still prints while it stops: a full pipe would block its exit
                # (a CI run hung here once, Snakemake idle after SIGTERM).
                rest, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                rest, _ = proc.communicate()
            lines.append(rest or "")
            lines.append(f"[exit {proc.returncode}]")
            if proc.returncode and not stopped:
                raise RuntimeError(
                    f"snakemake {' '.join(args)} failed in {workdir}:\n{''.join(lines)[-3000:]}"
                )

    sample = time_once(call, children=True)
    if stopped:
        raise RuntimeError(
            f"snakemake {' '.join(args)} found jobs to run and was stopped before running "
            "them: the target changed since the check; run the benchmark again once it is "
            "up to date"
        )
    return sample, "".join(lines)


def _timed(
    args: list[str], *, workdir, repeats: int, stop_on_jobs: bool = False
) -> tuple[dict, dict[str, int]]:
    samples, stats = [], {}
    for _ in range(repeats):
        sample, text = run_snakemake(args, workdir=workdir, stop_on_jobs=stop_on_jobs)
        samples.append(sample)
        stats = job_stats(text)
    return summarize(samples, 1, "runs"), stats


def measure_dag(
    *,
    workdir: str | Path = ".",
    grid_target: str = "paper_grid",
    noop_target: str = "demo",
    repeats: int,
    extra_args: tuple[str, ...] = (),
) -> dict:
    """Time ``snakemake -n <grid_target>`` and a no-op ``snakemake <noop_target>``.

    Args:
        workdir: the workflow's folder (its Snakefile and config are Snakemake's defaults).
        grid_target: the target whose DAG is built by the dry run.
        noop_target: the target of the no-op run (only run when a dry run finds it done).
        repeats: timed repeats of each (medians reported).
        extra_args: added to every Snakemake call (e.g. ``--snakefile``).

    Returns:
        JSON-ready dict: per command its arguments, timings (``summarize``, CPU includes
        Snakemake's own process) and job counts per rule; the no-op's ``skipped`` reason
        when the target is not up to date.
    """
    dry = ["-n", grid_target, *extra_args]
    grid_timing, grid_jobs = _timed(dry, workdir=workdir, repeats=repeats)
    check = ["-n", noop_target, *extra_args]
    check_timing, pending = _timed(check, workdir=workdir, repeats=1)
    result = {
        "dry_run": {"command": ["snakemake", *dry], "jobs": grid_jobs, **grid_timing},
        "noop_check": {"command": ["snakemake", *check], "jobs": pending, **check_timing},
    }
    noop = [noop_target, "--cores", "1", "--nolock", *extra_args]
    if pending:
        result["noop_run"] = {
            "command": ["snakemake", *noop],
            "skipped": f"{pending['total']} jobs of {noop_target!r} are pending (not up to "
            f"date); the benchmark runs no job: build {noop_target!r} first",
        }
        return result
    noop_timing, _ = _timed(noop, workdir=workdir, repeats=repeats, stop_on_jobs=True)
    result["noop_run"] = {"command": ["snakemake", *noop], "jobs": {}, **noop_timing}
    return result
