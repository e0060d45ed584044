"""Figure e: wall time of each stage (rule) of ``make demo``, from the benchmark files Snakemake
wrote when the demo's jobs last ran (results/benchmarks/<rule>/<output>.tsv).

The demo's jobs and their benchmark files come from a forced dry run of the target
(``snakemake -n -F demo``: every job of the DAG, nothing runs), so jobs of other targets
(more seeds, other budgets) that left files in the same folder are not counted. Rules without
a ``benchmark:`` directive (data preparation, tables) are listed with their job counts.
Jobs may have run in parallel: a stage's summed wall time is work, not elapsed time.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from timebalance.benchmarks.dag import job_stats, run_snakemake
from timebalance.report.run_times import collect_run_times
from timebalance.workflow import paths as P

_RULE = re.compile(r"^(?:local)?rule (\S+):\s*$")
_BENCHMARK = re.compile(r"^\s+benchmark: (\S+)\s*$")


def dag_jobs(output: str) -> list[tuple[str, str | None]]:
    """(rule, benchmark file or None) of every job a Snakemake dry run printed."""
    jobs: list[list] = []
    for line in output.splitlines():
        if m := _RULE.match(line):
            jobs.append([m[1], None])
        elif (m := _BENCHMARK.match(line)) and jobs:
            jobs[-1][1] = m[1]
    return [(rule, bench) for rule, bench in jobs]


def stage_times(
    jobs: list[tuple[str, str | None]],
    order: list[str],
    *,
    benchmarks: str | Path,
    workdir: str | Path = ".",
) -> list[dict]:
    """Per rule, in ``order``: jobs, jobs with a ``benchmark:`` file declared and found, and
    the summed and longest wall seconds, summed CPU seconds and peak memory of those found.
    ``jobs`` name their benchmark files relative to ``workdir``, under ``benchmarks``."""
    root = Path(workdir) / benchmarks
    recorded: dict[str, dict] = {}
    if root.is_dir():
        for row in collect_run_times(root).itertuples(index=False):
            recorded[f"{row.rule}/{row.job}"] = row._asdict()

    def record(bench: str) -> dict | None:
        rel = Path(bench).relative_to(benchmarks).with_suffix("")
        return recorded.get(rel.as_posix())

    rows = []
    for rule in order:
        mine = [bench for r, bench in jobs if r == rule]
        declared = [b for b in mine if b is not None]
        hits = [h for h in map(record, declared) if h is not None]
        walls = [float(h["wall_s"]) for h in hits]
        rows.append(
            {
                "rule": rule,
                "jobs": len(mine),
                "with_benchmark": len(declared),
                "benchmark_files_found": len(hits),
                "total_wall_s": sum(walls) if hits else None,
                "max_wall_s": max(walls) if hits else None,
                "total_cpu_s": sum(float(h["cpu_s"]) for h in hits) if hits else None,
                "max_rss_mb": max(float(h["max_rss_mb"]) for h in hits) if hits else None,
            }
        )
    return rows


def measure_demo_stages(
    *,
    workdir: str | Path = ".",
    target: str = "demo",
    benchmarks: str | Path = P.BENCHMARKS,
    extra_args: tuple[str, ...] = (),
) -> dict:
    """The demo's stages and their recorded wall times.

    Args:
        workdir: the workflow's folder.
        target: the target whose jobs count (``make demo`` builds ``demo``).
        benchmarks: the benchmark files' root, relative to ``workdir`` (results/benchmarks).
        extra_args: added to the Snakemake call (e.g. ``--snakefile``).

    Returns:
        JSON-ready dict: the command, the stages (``stage_times``), the summed wall time of
        the jobs found and how many of the target's jobs have no benchmark file.
    """
    args = ["-n", "-F", target, *extra_args]
    _, text = run_snakemake(args, workdir=workdir)
    jobs = dag_jobs(text)
    order = [rule for rule in job_stats(text) if rule != "total"]
    stages = stage_times(jobs, order, benchmarks=benchmarks, workdir=workdir)
    found = [s for s in stages if s["benchmark_files_found"]]
    dates = [
        (Path(workdir) / b).stat().st_mtime for _, b in jobs if b and (Path(workdir) / b).is_file()
    ]
    return {
        "command": ["snakemake", *args],
        "benchmarks": str(benchmarks),
        "jobs": len(jobs),
        "stages": stages,
        "total_wall_s_of_found": sum(s["total_wall_s"] for s in found),
        "jobs_with_benchmark_file": sum(s["benchmark_files_found"] for s in stages),
        "jobs_without_benchmark_directive": sum(s["jobs"] - s["with_benchmark"] for s in stages),
        # When the files were written: old files time older code.
        "recorded": [_iso(min(dates)), _iso(max(dates))] if dates else None,
    }


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")
