"""The jobs of a target as Snakemake plans them, read from its dry run.

`snakemake -n <target> --forceall` prints every job of the target's DAG: rule, jobid,
input and output files, wildcards and resources, and ends with a "Job stats" table (jobs
per rule). Why this output and not another (Snakemake 9.x):
- the Python API builds the DAG but returns no job list (the DAG lives in private
  attributes that change between releases);
- `--d3dag` gives rules and edges but no wildcards, `--dag` only the wildcards a job adds to
  its dependencies, `--summary` one row per output file without wildcards or job ids.
The dry run is what a user reads, and every parse is checked against its own "Job stats"
table: a change of Snakemake's format stops the planner with an error, never a wrong plan.
Dependencies are the jobs whose outputs a job takes as inputs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"(?:local)?(?:rule|checkpoint) (\w+):")
_FIELD = re.compile(r" {4}(\w+): (.*)")
_PAIRS = re.compile(r", (?=\w+=)")  # "a=1, b=x, y" -> ["a=1", "b=x, y"]
_ANNOTATION = re.compile(r" \([^()]*\)$")  # "file (pipe)" -> "file"


class DryRunError(RuntimeError):
    """Snakemake's dry run failed, or its output could not be read as expected."""


@dataclass(frozen=True)
class Job:
    """One job of the dry run. `resources` keeps Snakemake's text values ("gpu": "1")."""

    jobid: int
    rule: str
    wildcards: dict[str, str]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    resources: dict[str, str]

    def gpus(self) -> int:
        """GPUs the job requests (`resources: gpu=N`; 0 when absent)."""
        return int(self.resources.get("gpu", 0))


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in _PAIRS.split(text.strip()):
        key, sep, value = item.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _files(text: str) -> tuple[str, ...]:
    return tuple(_ANNOTATION.sub("", f) for f in text.split(", ") if f)


def parse_jobs(text: str) -> list[Job]:
    """Every job block of a dry run's text (stdout and stderr together)."""
    jobs: list[Job] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        header = _HEADER.fullmatch(lines[i])
        i += 1
        if not header:
            continue
        fields: dict[str, str] = {}
        while i < len(lines) and lines[i].startswith("    "):
            if field := _FIELD.fullmatch(lines[i]):
                fields[field.group(1)] = field.group(2)
            i += 1  # (each key is one line; an indented line without a key is skipped)
        if "jobid" not in fields:
            raise DryRunError(
                f"dry run: a block 'rule {header.group(1)}:' has no jobid line; the dry-run "
                "format of this Snakemake version is not the one this planner reads"
            )
        jobs.append(
            Job(
                jobid=int(fields["jobid"]),
                rule=header.group(1),
                wildcards=_pairs(fields.get("wildcards", "")),
                inputs=_files(fields.get("input", "")),
                outputs=_files(fields.get("output", "")),
                resources=_pairs(fields.get("resources", "")),
            )
        )
    return jobs


def job_stats(text: str) -> dict[str, int]:
    """Rule -> job count from the dry run's "Job stats" table ({} when nothing is planned)."""
    if "Job stats:" not in text:
        return {}
    counts: dict[str, int] = {}
    for line in text.split("Job stats:", 1)[1].splitlines():
        cells = line.split()
        if cells[:1] == ["total"]:
            break
        if len(cells) == 2 and cells[1].isdigit() and cells[0] not in ("job", "count"):
            counts[cells[0]] = int(cells[1])
    return counts


def dependencies(jobs: Iterable[Job]) -> dict[int, set[int]]:
    """jobid -> the jobids whose outputs it reads (jobs of the same dry run only)."""
    jobs = list(jobs)
    producer = {f: job.jobid for job in jobs for f in job.outputs}
    return {
        job.jobid: {producer[f] for f in job.inputs if f in producer} - {job.jobid} for job in jobs
    }


def dry_run(
    targets: Sequence[str],
    *,
    snakefile: str | Path,
    directory: str | Path,
    configfiles: Sequence[str | Path] = (),
    config: Sequence[str] = (),
    forceall: bool = True,
) -> list[Job]:
    """The jobs `snakemake -n <targets>` plans (with `forceall`: every job of the DAG, done
    or not). `--nolock`: planning works while the grid runs in the same directory.

    Raises:
        DryRunError: Snakemake failed (its message is included), or the jobs read from its
            output disagree with its "Job stats" table.
    """
    cmd = [sys.executable, "-m", "snakemake", *targets, "-n", "--nolock", "--nocolor"]
    cmd += ["--snakefile", str(snakefile), "--directory", str(directory)]
    if forceall:
        cmd.append("--forceall")
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    if config:
        cmd += ["--config", *config]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise DryRunError(f"`snakemake -n {' '.join(targets)}` failed:\n{text[-4000:]}")
    jobs = parse_jobs(text)
    counted: dict[str, int] = {}
    for job in jobs:
        counted[job.rule] = counted.get(job.rule, 0) + 1
    stats = job_stats(text)
    if counted != stats:
        raise DryRunError(
            f"dry run of {' '.join(targets)}: read {counted} jobs, but its Job stats table "
            f"says {stats}; this Snakemake version prints jobs in a format the planner does "
            "not read (timebalance/workflow/dryrun.py)"
        )
    return jobs
