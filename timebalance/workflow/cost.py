"""Plan a grid before spending it: GPU-hours and wall time of a target's jobs.

    python -m timebalance.workflow.cost calibrate --backbone r3d18 --frames 16 8 --size 112
    python -m timebalance.workflow.cost plan paper_grid --gpus 8 --nodes 1

`plan` takes the target's jobs from Snakemake's own dry run (`workflow.dryrun`), computes
what each GPU job processes (`workflow.cost_model`: the settings its rule passes and the list
sizes of its dataset), multiplies by the seconds per clip measured by `calibrate` on the
user's GPU (`CALIBRATION`), and schedules the jobs on the allocation
(`workflow.list_schedule`). It writes `OUT`/<target>.md and .csv: per stage x
dataset x budget the jobs, GPU-hours and when the stage is done, the total wall time, and
what the DAG's sharing saves (a pretraining runs once per dataset and serves every budget
and seed). A backbone without a calibration is reported "not calibrated", never guessed.
Other rules (index, frames, splits, tables, figures) are CPU steps the model does not time.
Data loading is assumed to keep up with the GPU (the calibration times the network only).

A command, not a rule: the allocation is no property of the experiment, and a rule would
run Snakemake inside Snakemake.
"""

from __future__ import annotations

import argparse
import csv
import io as text_io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from timebalance.workflow import config as C
from timebalance.workflow import cost_model as M
from timebalance.workflow import dryrun
from timebalance.workflow import list_schedule as LS
from timebalance.workflow import paths as P

REPO = Path(__file__).resolve().parents[2]
CALIBRATION = f"{P.R}/cost/calibration.json"
OUT = f"{P.R}/cost"
NOT_CALIBRATED = "not calibrated"


# --- the plan ---------------------------------------------------------------------------
@dataclass
class Plan:
    """A target's jobs with their work, device-seconds (None: not calibrated) and, when
    every GPU job is calibrated, their slots in the list schedule."""

    targets: list[str]
    jobs: dict[int, dryrun.Job]
    deps: dict[int, set[int]]
    work: dict[int, M.Work]
    seconds: dict[int, float | None]
    how: dict[int, str]
    sizes: dict[str, M.DatasetSize]
    devices_per_node: int
    nodes: int
    slots: dict[int, LS.Slot] | None
    config: dict
    forceall: bool = True  # every job of the target (False: the jobs not done yet)

    def calibrated(self) -> bool:
        return all(s is not None for s in self.seconds.values())


def make_plan(
    jobs: Sequence[dryrun.Job],
    config: dict,
    calibration: list[dict],
    *,
    directory: Path,
    targets: Sequence[str],
    devices_per_node: int,
    nodes: int = 1,
    forceall: bool = True,
) -> Plan:
    """Work, device-seconds and (when calibrated) the schedule of `jobs`. A job requesting
    k GPUs holds k devices and runs k times faster (ideal data parallelism)."""
    by_id = {j.jobid: j for j in jobs}
    modelled = [j for j in jobs if j.rule in M.MODELLED]
    sizes = {
        name: M.dataset_size(config, name, directory)
        for name in sorted({j.wildcards["dataset"] for j in modelled})
    }
    lists: dict[tuple[str, str], dict[str, int]] = {}
    work, seconds, how = {}, {}, {}
    for job in modelled:
        ds, budget = job.wildcards["dataset"], job.wildcards.get("budget")
        if budget and (ds, budget) not in lists:
            lists[ds, budget] = M.split_sizes(config, ds, budget, sizes[ds])
        w = M.job_work(config, job, lists.get((ds, budget), {}), sum(sizes[ds].train))
        work[job.jobid] = w
        per_clip = M.clip_seconds(calibration, w)
        seconds[job.jobid] = (
            None if per_clip is None else w.train_clips * per_clip[0] + w.eval_clips * per_clip[1]
        )
        how[job.jobid] = NOT_CALIBRATED if per_clip is None else per_clip[2]
    deps = dryrun.dependencies(jobs)
    plan = Plan(
        list(targets), by_id, deps, work, seconds, how, sizes, devices_per_node, nodes, None,
        config, forceall,
    )  # fmt: skip
    if plan.calibrated():
        demand = {j: _devices(plan, j) for j in by_id}
        plan.slots = LS.list_schedule(
            _durations(plan), deps, demand, devices_per_node=devices_per_node, nodes=nodes
        )
    return plan


def _devices(plan: Plan, jobid: int) -> int:
    """Devices a job holds: its GPU request (at least one) for a modelled job, else none."""
    return max(1, plan.jobs[jobid].gpus()) if jobid in plan.work else 0


def _durations(plan: Plan) -> dict[int, float]:
    """Seconds each job runs (0: not modelled, or not calibrated)."""
    return {
        j: (plan.seconds[j] or 0.0) / _devices(plan, j) if j in plan.work else 0.0
        for j in plan.jobs
    }


def _descendants(after: dict[int, list[int]], start: int) -> set[int]:
    seen, todo = set(), [start]
    while todo:
        for c in after[todo.pop()]:
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def sharing(plan: Plan) -> tuple[float, float] | None:
    """(device-seconds of the jobs shared across cells, what they would cost if every
    (budget, seed) cell downstream of each ran its own copy). The shared jobs are the GPU
    jobs without a budget: pretraining and score caches, one per dataset. None when one of
    them is not calibrated."""
    real = alone = 0.0
    after = LS.children(plan.jobs, plan.deps)
    for jobid in plan.work:
        job = plan.jobs[jobid]
        if "budget" in job.wildcards:
            continue
        if plan.seconds[jobid] is None:
            return None
        cells = {
            (plan.jobs[d].wildcards["budget"], plan.jobs[d].wildcards["seed"])
            for d in _descendants(after, jobid)
            if {"budget", "seed"} <= set(plan.jobs[d].wildcards)
        }
        real += plan.seconds[jobid]
        alone += plan.seconds[jobid] * max(1, len(cells))
    return real, alone


def rows(plan: Plan) -> list[dict]:
    """One row per GPU stage x dataset x budget ("shared": jobs serving every budget):
    jobs, GPU-hours, the longest job and when the last job of the row ends (hours)."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    durations = _durations(plan)
    for jobid in plan.work:
        w = plan.jobs[jobid].wildcards
        key = (plan.jobs[jobid].rule, w["dataset"], w.get("budget", "shared"))
        groups.setdefault(key, []).append(jobid)
    out = []
    for (rule, ds, budget), ids in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        costs = [plan.seconds[j] for j in ids]
        known = None not in costs
        out.append(
            {
                "stage": rule,
                "dataset": ds,
                "budget": budget,
                "jobs": len(ids),
                "gpu_hours": sum(costs) / 3600 if known else None,
                "longest_job_h": max(durations[j] for j in ids) / 3600 if known else None,
                "done_after_h": (
                    None if plan.slots is None else max(plan.slots[j].end for j in ids) / 3600
                ),
                "per_clip": ", ".join(sorted({plan.how[j] for j in ids})),
            }
        )
    return out


def _order(key: tuple[str, str, str]) -> tuple:
    rule, ds, budget = key
    return (M.MODELLED.index(rule), ds, budget != "shared", _budget_value(budget), budget)


def _budget_value(budget: str) -> float:
    m = re.match(r"([0-9.]+)", budget)
    return float(m.group(1)) if m else 0.0


# --- the report -------------------------------------------------------------------------
def _hours(value: float | None) -> str:
    if value is None:
        return NOT_CALIBRATED
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def render_markdown(plan: Plan, calibration: list[dict], *, calibration_path: str) -> str:
    """The plan as Markdown: allocation, sources, totals, sharing, the per-row table."""
    table = rows(plan)
    gpu_jobs = len(plan.work)
    devices = plan.devices_per_node * plan.nodes
    target = " ".join(plan.targets)
    lines = [
        f"# Cost of `{target}` on {plan.devices_per_node} GPU(s) x {plan.nodes} node(s)",
        "",
        f"- Jobs: `snakemake -n {target}{' --forceall' * plan.forceall}`: {len(plan.jobs)} "
        f"jobs, {gpu_jobs} "
        f"running a network; schedule `{plan.config['schedule']}`, seeds {plan.config['seeds']}.",
    ]
    used = {(e["backbone"], e["frames"], e["size"]): e for e in calibration}
    backbones = sorted({w.backbone for w in plan.work.values()})
    for b in backbones:
        measured = [e for k, e in sorted(used.items()) if k[0] == b]
        if not measured:
            lines.append(
                f"- Per-clip cost of {b}: {NOT_CALIBRATED}; run `python -m "
                f"timebalance.workflow.cost calibrate --backbone {b} ...` on the GPU to use."
            )
        for e in measured:
            lines.append(
                f"- Per-clip cost of {b} ({e['frames']} x {e['size']}^2): "
                f"{1000 * e['train_s_per_clip']:.3g} ms training, "
                f"{1000 * e['eval_s_per_clip']:.3g} ms forward, on {e['device_name']} "
                f"(batch {e.get('batch_size', '?')}; {calibration_path})."
            )
    for name, size in plan.sizes.items():
        lines.append(
            f"- {name}: {sum(size.train)} training / {size.test} test videos, "
            f"{len(size.train)} classes ({size.source})."
        )
    total = sum(plan.seconds.values()) / 3600 if plan.calibrated() else None
    lines.append(f"- GPU-hours: {_hours(total)}.")
    if plan.slots is not None:
        wall = LS.makespan(plan.slots) / 3600
        bound = max(
            max(LS.bottom_levels(_durations(plan), plan.deps).values(), default=0.0) / 3600,
            (total or 0.0) / devices,
        )
        lines.append(
            f"- Wall time: {_hours(wall)} h on {devices} GPU(s) (list scheduling; no schedule "
            f"can beat {_hours(bound)} h: the longest chain of jobs, or GPU-hours / GPUs)."
        )
    else:
        lines.append(f"- Wall time: {NOT_CALIBRATED} (a GPU job's backbone has no calibration).")
    shared = sharing(plan)
    if shared is None:
        lines.append(f"- Sharing saves: {NOT_CALIBRATED}.")
    else:
        real, alone = (x / 3600 for x in shared)
        lines.append(
            f"- Sharing saves {_hours(alone - real)} GPU-hours: pretraining and score caches "
            f"run once per dataset ({_hours(real)} GPU-hours); run again for every (budget, "
            f"seed) that uses them they would cost {_hours(alone)}."
        )
    lines += [
        "",
        "| stage | dataset | budget | jobs | GPU-hours | longest job (h) | done after (h) "
        "| per-clip cost |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['stage']} | {r['dataset']} | {r['budget']} | {r['jobs']} "
            f"| {_hours(r['gpu_hours'])} | {_hours(r['longest_job_h'])} "
            f"| {_hours(r['done_after_h'])} | {r['per_clip']} |"
        )
    cpu: dict[str, int] = {}
    for job in plan.jobs.values():
        if job.rule not in M.MODELLED:
            cpu[job.rule] = cpu.get(job.rule, 0) + 1
    lines += [
        "",
        "Not timed (CPU steps): "
        + (", ".join(f"{rule} ({n})" for rule, n in sorted(cpu.items())) or "none")
        + ". Frame extraction decodes every video once with ffmpeg: hours of CPU time for "
        "Kinetics-400, outside these GPU figures.",
        "",
        "Model: clips per job from the rules' settings and the list sizes above "
        "(timebalance/workflow/cost_model.py), times the measured seconds per clip (data loading "
        "assumed to keep up); 'done after' is when the row's last job ends in the schedule.",
    ]
    return "\n".join(lines) + "\n"


def render_csv(plan: Plan) -> str:
    buffer = text_io.StringIO()
    fields = ["stage", "dataset", "budget", "jobs", "gpu_hours", "longest_job_h"]
    fields += ["done_after_h", "per_clip"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows(plan):
        writer.writerow(
            {
                k: (
                    NOT_CALIBRATED
                    if v is None
                    else float(f"{v:.6g}")
                    if isinstance(v, float)
                    else v
                )
                for k, v in r.items()
            }
        )
    return buffer.getvalue()


# --- command line -----------------------------------------------------------------------
def load_config(
    directory: Path, schema: Path, configfiles: Sequence[str] = (), config: Sequence[str] = ()
) -> dict:
    """The config Snakemake runs with: `config.yaml` of the working directory (the
    Snakefile's `configfile:`), updated by each `--configfile`, then `--config`, parsed
    and merged by Snakemake's own functions, then validated as rules/common.smk does."""
    from snakemake.cli import parse_config
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    merged: dict = {}
    if (directory / "config.yaml").is_file():
        update_config(merged, load_configfile(str(directory / "config.yaml")))
    for path in configfiles:
        update_config(merged, load_configfile(str(path)))
    update_config(merged, parse_config(list(config)))
    return C.validate(merged, schema)


def output_stem(targets: Sequence[str]) -> str:
    """`OUT`/<targets>: each target's characters outside [A-Za-z0-9_.-] as '_'."""
    return "+".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", t).strip("_") for t in targets)


def plan_command(args: argparse.Namespace) -> Path:
    directory = Path(args.directory).resolve()
    snakefile = Path(args.snakefile or REPO / "Snakefile").resolve()
    config = load_config(
        directory, snakefile.parent / "rules" / "config.schema.yaml", args.configfile, args.config
    )
    jobs = dryrun.dry_run(
        args.targets,
        snakefile=snakefile,
        directory=directory,
        configfiles=[Path(f).resolve() for f in args.configfile],
        config=args.config,
        forceall=not args.remaining,
    )
    calibration = M.load_calibration(directory / args.calibration)
    plan = make_plan(
        jobs,
        config,
        calibration,
        directory=directory,
        targets=args.targets,
        devices_per_node=args.gpus,
        nodes=args.nodes,
        forceall=not args.remaining,
    )
    from timebalance import io

    stem = directory / (args.out or f"{OUT}/{output_stem(args.targets)}")
    markdown = render_markdown(plan, calibration, calibration_path=args.calibration)
    io.write_text(markdown, stem.with_suffix(".md"))
    io.write_text(render_csv(plan), stem.with_suffix(".csv"))
    print(markdown, end="")
    print(f"wrote {stem.with_suffix('.md')} and .csv", file=sys.stderr)
    return stem.with_suffix(".md")


def calibrate_command(args: argparse.Namespace) -> Path:
    from timebalance import io
    from timebalance.engine.calibration import time_backbone

    out = Path(args.out)
    entries = M.load_calibration(out)
    for backbone in args.backbone:
        for frames in args.frames:
            for size in args.size:
                entry = time_backbone(
                    backbone,
                    frames=frames,
                    size=size,
                    device=args.device,
                    batch_size=args.batch_size,
                    warmup=args.warmup,
                    repeats=args.repeats,
                )
                key = (backbone, frames, size)
                entries = [e for e in entries if (e["backbone"], e["frames"], e["size"]) != key]
                entries.append(entry)
                print(
                    f"{backbone} {frames}x{size}: {1000 * entry['train_s_per_clip']:.3g} ms/clip "
                    f"training, {1000 * entry['eval_s_per_clip']:.3g} ms/clip forward "
                    f"({entry['device_name']})"
                )
    io.write_json({"entries": entries}, out)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m timebalance.workflow.cost", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="GPU-hours and wall time of a target's jobs")
    plan.add_argument("targets", nargs="+", help="rule or file targets, e.g. paper_grid")
    plan.add_argument("--gpus", type=int, default=1, help="GPUs per node (default 1)")
    plan.add_argument("--nodes", type=int, default=1, help="nodes (default 1)")
    plan.add_argument("--calibration", default=CALIBRATION, help=f"default {CALIBRATION}")
    plan.add_argument("--directory", default=".", help="Snakemake's working directory")
    plan.add_argument("--snakefile", help="default: the Snakefile of this checkout")
    plan.add_argument("--configfile", nargs="+", default=[], help="as snakemake's")
    plan.add_argument("--config", nargs="+", default=[], help="KEY=VALUE, as snakemake's")
    plan.add_argument(
        "--remaining", action="store_true", help="only the jobs not done yet (no --forceall)"
    )
    plan.add_argument("--out", help=f"output path without suffix (default {OUT}/<targets>)")
    cal = sub.add_parser("calibrate", help="measure seconds per clip on this machine")
    cal.add_argument("--backbone", nargs="+", required=True)
    cal.add_argument("--frames", nargs="+", type=int, required=True, help="clip length(s)")
    cal.add_argument("--size", nargs="+", type=int, required=True, help="crop size(s)")
    cal.add_argument("--device", default="auto", help="auto | cpu | cuda[:k]")
    cal.add_argument("--batch-size", type=int, default=16)
    cal.add_argument("--warmup", type=int, default=2)
    cal.add_argument("--repeats", type=int, default=5)
    cal.add_argument("--out", default=CALIBRATION)
    args = parser.parse_args(argv)
    if args.command == "plan":
        if args.gpus < 1 or args.nodes < 1:
            parser.error("--gpus and --nodes must be >= 1")
        plan_command(args)
    else:
        calibrate_command(args)


if __name__ == "__main__":
    main()
