"""Run the speed benchmarks, print a table and write every figure to a JSON file.

    python -m timebalance.benchmarks.run [--quick] [--only loader,extraction,student,dag,demo]
        --out results/benchmarks/<name>.json

Run it from the repository root (it reads config.yaml and runs Snakemake there). Settings come
from the config: the UCF101-like inputs use the `paper` schedule and the ucf101 dataset's clip
and frame settings, the synthetic default uses the configured schedule. Every figure is a
ratio of medians measured in this process on the same inputs; the JSON keeps the raw repeats,
the machine (CPU, cores, load) and the library versions.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
import yaml

from timebalance import io
from timebalance.workflow import config as C
from timebalance.workflow import paths as P

FIGURES = ("loader", "extraction", "student", "dag", "demo")
SCHEMA = "rules/config.schema.yaml"
DEFAULT_OUT = f"{P.BENCHMARKS}/benchmark.json"
LIBRARIES = (
    "torch",
    "torchvision",
    "numpy",
    "opencv-python-headless",
    "av",
    "pytorchvideo",
    "simplejpeg",
    "snakemake",
)


@dataclass(frozen=True)
class Sizes:
    """How much each figure measures (videos, clips, repeats)."""

    ucf_videos: int  # generated UCF101-like videos
    synthetic_videos: int  # videos of the synthetic default
    clips_per_video: int  # clips each loader loads per video and repeat
    loader_repeats: int
    extraction_videos: int  # of each set, for the extraction figure
    extraction_repeats: int
    student_steps: int  # optimiser steps per timed repeat
    student_repeats: int
    dag_repeats: int


FULL = Sizes(8, 16, 4, 5, 8, 3, 2, 5, 3)
QUICK = Sizes(3, 6, 2, 3, 3, 2, 1, 3, 1)


# ------------------------------------------------------------------ machine and settings
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; lscpu; the platform's word otherwise)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the figures use, and ffmpeg's (None: missing)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
        versions["ffmpeg"] = out.split("\n", 1)[0].removeprefix("ffmpeg version ").split()[0]
    except (OSError, IndexError):
        versions["ffmpeg"] = None
    return versions


def machine_info() -> dict:
    """CPU, cores, load and versions: what the figures were measured on."""
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "torch_threads": torch.get_num_threads(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def load_config(path: str | Path, schema: str | Path | None = None) -> dict:
    """The workflow's config, validated and completed with the schema's defaults (the schema
    beside it at rules/config.schema.yaml unless given)."""
    path = Path(path)
    schema = path.parent / SCHEMA if schema is None else Path(schema)
    for what, p in (("config", path), ("config schema", schema)):
        if not p.is_file():
            raise FileNotFoundError(
                f"{what} {p} not found; run the benchmark from the repository root (or pass "
                "--config)"
            )
    return C.validate(yaml.safe_load(path.read_text()), schema)


def settings(config: dict) -> dict:
    """Clip, frame and student settings of each input set, from the config."""
    paper = copy.deepcopy(config)
    paper["schedule"] = "paper"
    spec = {k: v for k, v in C.student_variant(config, "student").items() if k != "init"}
    synthetic = C.dataset(config, "synthetic")
    return {
        "ucf_like": {
            "clip": C.clips(paper, "student", "ucf101"),
            "frames": C.frames_settings(config, "ucf101"),
        },
        "synthetic": {
            "clip": C.clips(config, "student", "synthetic"),
            "frames": C.frames_settings(config, "synthetic"),
            "generate": synthetic.get("synthetic", {}),
        },
        "student": {
            "spec": spec,
            "backbone": synthetic["backbone"],
            "n_classes": int(synthetic.get("synthetic", {}).get("n_classes", 10)),
            "clip": C.clips(config, "student", "synthetic"),
        },
    }


# ------------------------------------------------------------------ the figures
def _video_sets(work: Path, sizes: Sizes, cfg: dict) -> dict:
    from timebalance.benchmarks.inputs import synthetic_set, ucf_like_set

    ucf, syn = cfg["ucf_like"]["frames"], cfg["synthetic"]["frames"]
    return {
        "ucf_like": ucf_like_set(
            work / "ucf_like",
            sizes.ucf_videos,
            short_side=ucf["short_side"],
            quality=ucf["quality"],
        ),
        "synthetic": synthetic_set(
            work / "synthetic",
            sizes.synthetic_videos,
            settings=cfg["synthetic"]["generate"],
            short_side=syn["short_side"],
            quality=syn["quality"],
        ),
    }


def run_benchmarks(
    *,
    only: tuple[str, ...],
    sizes: Sizes,
    config: dict,
    workdir: str | Path = ".",
    noop_target: str = "demo",
) -> dict:
    """Measure the figures in ``only``; the JSON-ready results (without the machine), with
    the seconds each figure took in ``durations_s``."""
    from timebalance.benchmarks.dag import measure_dag
    from timebalance.benchmarks.demo_stages import measure_demo_stages
    from timebalance.benchmarks.extraction import measure_extraction
    from timebalance.benchmarks.loader import measure_loader
    from timebalance.benchmarks.student_step import measure_student_step

    cfg = settings(config)
    results: dict = {}
    durations: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        durations[name] = round(now - clock, 3)
        clock = now

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a DataLoader worker's setting: figures are per core
    try:
        with tempfile.TemporaryDirectory(prefix="timebalance-benchmark-") as tmp:
            sets = (
                _video_sets(Path(tmp), sizes, cfg) if {"loader", "extraction"} & set(only) else {}
            )
            lap("inputs")
            if "loader" in only:
                results["loader"] = {
                    name: measure_loader(
                        vs,
                        cfg[name]["clip"],
                        clips_per_video=sizes.clips_per_video,
                        repeats=sizes.loader_repeats,
                    )
                    for name, vs in sets.items()
                }
                lap("loader")
            if "extraction" in only:
                results["extraction"] = {}
                for name, vs in sets.items():
                    frames = cfg[name]["frames"]
                    videos = [Path(p) for p in vs.videos["path"]][: sizes.extraction_videos]
                    results["extraction"][name] = measure_extraction(
                        videos,
                        short_side=frames["short_side"],
                        quality=frames["quality"],
                        repeats=sizes.extraction_repeats,
                        work_dir=tmp,
                    )
                lap("extraction")
        if "student" in only:
            st = cfg["student"]
            results["student_step"] = measure_student_step(
                st["spec"],
                backbone=st["backbone"],
                n_classes=st["n_classes"],
                batch_size=st["clip"]["batch_size"],
                clip_len=st["clip"]["clip_len"],
                size=st["clip"]["crop_size"],
                steps=sizes.student_steps,
                repeats=sizes.student_repeats,
            )
            lap("student")
    finally:
        torch.set_num_threads(threads)
    if "dag" in only:
        results["dag"] = measure_dag(
            workdir=workdir, noop_target=noop_target, repeats=sizes.dag_repeats
        )
        lap("dag")
    if "demo" in only:
        results["demo_stages"] = measure_demo_stages(workdir=workdir)
        lap("demo")
    results["targets"] = targets(results)
    results["durations_s"] = durations
    return results


def targets(results: dict) -> list[dict]:
    """The issue's acceptance figures that were measured: value, bound, met."""
    rows = []
    for name, res in results.get("loader", {}).items():
        for kind in ("with_augment", "decode_only"):
            r = res["ratios"][kind]
            for key, target in res["targets"].items():
                if r.get(key) is not None:
                    rows.append(_target(f"loader {name} ({kind}): {key}", r[key], at_least=target))
    if st := results.get("student_step"):
        r = st["ratios"]["overhead_vs_teachers_forward"]
        at_most = st["target_overhead_vs_bound"]
        rows.append(_target("student step overhead / teachers' forward", r, at_most=at_most))
    return rows


def _target(
    what: str, value: float, *, at_least: float | None = None, at_most: float | None = None
) -> dict:
    met = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    return {"what": what, "value": value, "target_min": at_least, "target_max": at_most, "met": met}


# ------------------------------------------------------------------ the table
def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict) -> str:
    """The figures as a plain-text table (per CPU second unless it says wall)."""
    rows: list[tuple[str, str, str]] = []
    for name, res in results.get("loader", {}).items():
        for kind, timings in (("train clip", res["pipelines"]), ("decode", res["decode_only"])):
            for loader, t in timings.items():
                rows.append(
                    (f"loader {name}", f"{kind}: {loader}", f"{t['clips_per_cpu_s']:,.1f} clips/s")
                )
        rows.append((f"loader {name}", "augment only", _per(res["augment_only"], "clips")))
        for kind, r in res["ratios"].items():
            for key, value in r.items():
                if key != "jpeg_bound":
                    rows.append((f"loader {name}", f"{kind}: {key}", _fmt(value)))
        for mode, t in res["augment_only_by_colour"].items():
            rows.append((f"loader {name}", f"augment only, colour {mode}", _per(t, "clips")))
        ops = res["augment_ops_ms"][res["augment_ops_ms"]["mode"]]
        top = sorted(ops, key=lambda k: -ops[k])[:3]
        rows.append(
            (f"loader {name}", "augment ms/op", ", ".join(f"{k} {ops[k]:.2f}" for k in top))
        )
    for name, res in results.get("extraction", {}).items():
        for variant, t in res["timings"].items():
            rows.append((f"extraction {name}", variant, f"{t['frames_per_cpu_s']:,.0f} frames/s"))
        for key, value in res["ratios"].items():
            rows.append((f"extraction {name}", key, _fmt(value)))
    if st := results.get("student_step"):
        for variant, t in st["timings"].items():
            ms = 1000 * t["median_cpu_s"] / t["work"]
            rows.append(("student step", variant, f"{ms:.0f} CPU ms per step"))
        for key, value in st["ratios"].items():
            rows.append(("student step", key, _fmt(value)))
    if dag := results.get("dag"):
        for key in ("dry_run", "noop_check", "noop_run"):
            d = dag[key]
            cmd = " ".join(d["command"])
            if "skipped" in d:
                rows.append(("dag", cmd, "skipped: " + d["skipped"].split(";")[0]))
            else:
                jobs = d["jobs"].get("total", 0)
                rows.append(("dag", cmd, f"{d['median_wall_s']:.1f} s wall, {jobs} jobs"))
    if demo := results.get("demo_stages"):
        for s in demo["stages"]:
            if s["benchmark_files_found"]:
                value = f"{s['total_wall_s']:,.0f} s wall ({s['benchmark_files_found']} jobs)"
            else:
                value = f"no benchmark file ({s['jobs']} jobs)"
            rows.append(("demo stage", s["rule"], value))
    for t in results.get("targets", []):
        bounds = [f">= {t['target_min']}"] if t["target_min"] is not None else []
        bounds += [f"<= {t['target_max']}"] if t["target_max"] is not None else []
        verdict = "met" if t["met"] else "MISSED"
        rows.append(("target", t["what"], f"{_fmt(t['value'])} ({', '.join(bounds)}: {verdict})"))
    rows.insert(0, ("figure", "measure", "value (per CPU second of one core unless it says wall)"))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows)


def _per(t: dict, unit: str) -> str:
    return f"{t[f'{unit}_per_cpu_s']:,.1f} {unit}/s"


# ------------------------------------------------------------------ entry point
def parse_only(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if unknown := [n for n in names if n not in FIGURES]:
        raise argparse.ArgumentTypeError(
            f"unknown figure(s) {unknown}; choose among {','.join(FIGURES)}"
        )
    if not names:
        raise argparse.ArgumentTypeError(f"--only needs at least one of {','.join(FIGURES)}")
    return names


def main(argv: list[str] | None = None, *, out_stream: Callable[[str], None] = print) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m timebalance.benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer videos and repeats")
    parser.add_argument(
        "--only", type=parse_only, default=FIGURES, help=f"comma-separated: {','.join(FIGURES)}"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="the JSON file to write")
    parser.add_argument("--config", default="config.yaml", help="the workflow's config")
    parser.add_argument(
        "--noop-target",
        default="demo",
        help="target of the no-op Snakemake run (timed only when it is up to date)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = load_config(args.config)
    sizes = QUICK if args.quick else FULL
    machine = machine_info()
    results = run_benchmarks(
        only=args.only, sizes=sizes, config=config, noop_target=args.noop_target
    )
    machine["load_average_at_end"] = list(os.getloadavg())
    report = {
        "machine": machine,
        "settings": {"quick": args.quick, "only": list(args.only), "sizes": asdict(sizes)},
        **results,
        "wall_s": time.perf_counter() - started,
    }
    io.write_json(report, args.out)
    out_stream(table(results))
    out_stream(f"\n{report['wall_s']:.0f} s; written to {args.out}")
    return report


if __name__ == "__main__":
    main()
