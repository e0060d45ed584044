"""The benchmark scripts on tiny inputs: every measurement runs, the loaders it compares decode
the same frames, the JSON has its structure and every ratio is computed from the measured
times. No test judges a time's size (timings belong in the benchmark's output, not in tests)."""

from __future__ import annotations

import json
import math
import subprocess
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from timebalance.benchmarks import run as bench_run
from timebalance.benchmarks.dag import job_stats, measure_dag, run_snakemake, snakemake_command
from timebalance.benchmarks.demo_stages import dag_jobs, measure_demo_stages
from timebalance.benchmarks.extraction import measure_extraction
from timebalance.benchmarks.inputs import extract_set, make_ucf_like_videos, synthetic_set
from timebalance.benchmarks.loader import (
    JPEG_LOADERS,
    LOADERS,
    clip_plan,
    dataset_args,
    jpeg_simplejpeg,
    jpeg_torchvision,
    measure_loader,
    opencv_from_start,
    optional_module,
    pyav_pytorchvideo,
    pyav_seek,
)
from timebalance.benchmarks.student_step import measure_student_step
from timebalance.benchmarks.timing import Sample, interleaved, ratio, summarize
from timebalance.data.clips import ClipDataset, read_frames
from timebalance.data.transforms import COLOUR_MODES

ROOT = Path(__file__).resolve().parents[2]
CLIP = {"crop_size": 16, "crop_scale": [0.5, 1.0], "colour": "fused", "clip_len": 4, "stride": 2}


def positive_finite(x) -> bool:
    return isinstance(x, float | int) and math.isfinite(x) and x > 0


def check_summary(t: dict, unit: str, repeats: int) -> None:
    assert t["repeats"] == repeats == len(t["wall_s"]) == len(t["cpu_s"])
    assert t["unit"] == unit
    assert positive_finite(t["median_wall_s"]) and positive_finite(t["median_cpu_s"])
    assert t[f"{unit}_per_cpu_s"] == pytest.approx(t["work"] / t["median_cpu_s"])
    assert t[f"{unit}_per_s"] == pytest.approx(t["work"] / t["median_wall_s"])


@pytest.fixture(scope="module")
def config() -> dict:
    return bench_run.load_config(ROOT / "config.yaml")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two 1-second 64x48 UCF-like videos and their extracted frames."""
    tmp = tmp_path_factory.mktemp("videos")
    paths = make_ucf_like_videos(tmp / "v", 2, width=64, height=48, seconds=1.0)
    return extract_set("tiny", paths, tmp / "frames", short_side=None, quality=2, info={})


@pytest.fixture(scope="module")
def loader_result(videos) -> dict:
    return measure_loader(videos, CLIP, clips_per_video=1, repeats=1)


@pytest.fixture(scope="module")
def extraction_result(videos, tmp_path_factory) -> dict:
    paths = [Path(p) for p in videos.videos["path"]]
    return measure_extraction(
        paths, short_side=32, quality=5, repeats=1, work_dir=tmp_path_factory.mktemp("x")
    )


@pytest.fixture(scope="module")
def student_result(config) -> dict:
    spec = bench_run.settings(config)["student"]["spec"]
    return measure_student_step(
        spec, backbone="tiny", n_classes=3, batch_size=2, clip_len=4, size=16, steps=1, repeats=1
    )


# ------------------------------------------------------------------ timing
def test_summarize_takes_medians_and_rates():
    samples = [Sample(1.0, 2.0), Sample(3.0, 4.0), Sample(2.0, 3.0)]
    t = summarize(samples, 6, "clips")
    assert (t["median_wall_s"], t["median_cpu_s"]) == (2.0, 3.0)
    assert (t["clips_per_s"], t["clips_per_cpu_s"]) == (3.0, 2.0)
    assert t["wall_s"] == [1.0, 3.0, 2.0]


def test_interleaved_runs_round_robin_after_warmup():
    calls: list[str] = []
    fns = {name: (lambda n=name: calls.append(n)) for name in ("a", "b")}
    samples = interleaved(fns, repeats=2, warmup=1)
    assert calls == ["a", "b"] * 3
    assert [len(s) for s in samples.values()] == [2, 2]


@pytest.mark.parametrize("num, den", [(1.0, 0.0), (0.0, 1.0), (-1.0, 1.0), (math.inf, 1.0)])
def test_ratio_refuses_what_is_not_positive_finite(num, den):
    with pytest.raises(ValueError, match="not a positive finite ratio"):
        ratio(num, den, what="x")


# ------------------------------------------------------------------ loaders
@pytest.mark.parametrize("indices", [[3, 4, 5, 9], [20, 22, 24, 0, 2]])  # the second wraps
def test_video_loaders_decode_the_same_frames(videos, indices):
    """OpenCV from the start, pytorchvideo's EncodedVideo and a PyAV seek return the same
    frames for the same indices, and other frames for shifted indices (no off-by-one)."""
    cv2, ev, av = (optional_module(m) for m in ("cv2", "pytorchvideo.data.encoded_video", "av"))
    path, idx = str(videos.videos["path"][0]), np.array(indices)
    fps = Fraction(25)
    a = opencv_from_start(cv2, path, idx)
    b = pyav_pytorchvideo(ev.EncodedVideo, path, idx, fps)
    c = pyav_seek(av, path, idx, fps)
    assert a.shape == (len(idx), 3, 48, 64) and a.dtype == torch.uint8
    assert torch.equal(a, b) and torch.equal(a, c)
    shifted = opencv_from_start(cv2, path, np.minimum(idx + 1, 24))
    assert (a.float() - shifted.float()).abs().mean() > 0.5


def test_jpeg_loaders_decode_what_our_reader_decodes(videos):
    sj = optional_module("simplejpeg")
    frames_dir = videos.frames_root / videos.videos["video_id"][1]
    idx = np.array([7, 2, 2, 11])
    ours = read_frames(frames_dir, idx)
    assert torch.equal(ours, jpeg_torchvision(frames_dir, idx))
    assert torch.equal(ours, jpeg_simplejpeg(sj, frames_dir, idx))


def test_other_loaders_get_our_clips_and_our_augmentation(videos):
    """The plan holds the frames our ClipDataset draws; decoding them another way and
    augmenting with our item's generator gives our training clip exactly."""
    args = dataset_args(videos, CLIP, seed=3)
    plan = clip_plan(args, len(videos.videos), clips_per_video=2)
    ours = ClipDataset(**args)
    assert [(e, i) for e, i, _ in plan] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for epoch, i, idx in plan:
        assert len(idx) == CLIP["clip_len"]
        ours.set_epoch(epoch)
        frames = jpeg_torchvision(videos.frames_root / videos.videos["video_id"][i], idx)
        assert torch.equal(ours[i]["clip"], args["augment"](frames, ours.rngs(i)[1]))


def test_loader_result_structure_and_ratios(loader_result):
    r = loader_result
    assert r["unavailable"] == {}
    assert set(r["pipelines"]) == set(r["decode_only"]) == set(LOADERS)
    n = r["clip"]["clips_per_repeat"]
    assert n == 2  # 2 videos x 1 clip
    for t in [*r["pipelines"].values(), *r["decode_only"].values(), r["augment_only"]]:
        check_summary(t, "clips", 1)
        assert t["work"] == n
    for kind, timings in (("with_augment", r["pipelines"]), ("decode_only", r["decode_only"])):
        for key in ("cpu", "wall"):
            ratios = r["ratios" if key == "cpu" else "ratios_wall"][kind]
            med = {name: t[f"median_{key}_s"] for name, t in timings.items()}
            for other in ("opencv_from_start", "pyav_pytorchvideo", "pyav_seek"):
                assert ratios[f"vs_{other}"] == pytest.approx(med[other] / med["ours"])
            bound = min(JPEG_LOADERS, key=med.get)
            assert ratios["jpeg_bound"] == bound
            assert ratios["share_of_jpeg_bound"] == pytest.approx(med[bound] / med["ours"])
            assert all(positive_finite(v) for k, v in ratios.items() if k != "jpeg_bound")
    assert set(r["augment_only_by_colour"]) == set(COLOUR_MODES)
    assert r["augment_only"] == r["augment_only_by_colour"]["fused"]  # the configured mode
    ops = r["augment_ops_ms"]
    assert ops["mode"] == "fused"
    assert all(positive_finite(ops["torchvision"][k]) for k in ("resized_crop", "hue", "normalise"))
    assert all(positive_finite(ops["fused"][k]) for k in ("affine_build", "affine_apply"))


# ------------------------------------------------------------------ extraction, student step
def test_extraction_result_structure_and_ratios(extraction_result, videos):
    r = extraction_result
    assert r["n_videos"] == 2 and r["n_frames"] == int(videos.videos["n_frames"].sum())
    t = r["timings"]
    assert set(t) == {"extract_frames", "ffmpeg_null", "ffprobe"}
    for timing in t.values():
        check_summary(timing, "videos", 1)
        assert timing["frames_per_cpu_s"] == pytest.approx(r["n_frames"] / timing["median_cpu_s"])
    for key, ratios in (("cpu", r["ratios"]), ("wall", r["ratios_wall"])):
        med = {name: timing[f"median_{key}_s"] for name, timing in t.items()}
        assert ratios["ours_throughput_vs_ffmpeg_null"] == pytest.approx(
            med["ffmpeg_null"] / med["extract_frames"]
        )
        assert ratios["ffprobe_share_of_ours"] == pytest.approx(
            med["ffprobe"] / med["extract_frames"]
        )
        assert all(positive_finite(v) for v in ratios.values())


def test_student_step_result_structure_and_ratios(student_result, config):
    r = student_result
    spec = bench_run.settings(config)["student"]["spec"]
    assert r["settings"]["spec"]["teachers"] == list(spec["teachers"])
    assert (r["settings"]["labeled"], r["settings"]["unlabeled"]) == (
        2,
        2 * spec["unlabeled_ratio"],
    )
    t = r["timings"]
    assert set(t) == {"supervised", "timebalance", "teachers_forward"}
    for timing in t.values():
        check_summary(timing, "steps", 1)
    for key, ratios in (("cpu", r["ratios"]), ("wall", r["ratios_wall"])):
        sup, tb, fwd = (
            t[n][f"median_{key}_s"] for n in ("supervised", "timebalance", "teachers_forward")
        )
        assert ratios["timebalance_vs_supervised"] == pytest.approx(tb / sup)
        assert ratios["bound_vs_supervised"] == pytest.approx((sup + fwd) / sup)
        assert ratios["overhead_vs_teachers_forward"] == pytest.approx((tb - sup) / fwd)
        assert math.isfinite(ratios["overhead_vs_teachers_forward"])


def test_student_step_refuses_a_single_teacher(config):
    spec = {**bench_run.settings(config)["student"]["spec"], "teachers": ["invariant_n4_s0"]}
    with pytest.raises(ValueError, match="two teachers"):
        measure_student_step(
            spec,
            backbone="tiny",
            n_classes=3,
            batch_size=1,
            clip_len=4,
            size=16,
            steps=1,
            repeats=1,
        )


# ------------------------------------------------------------------ inputs
def test_synthetic_set_reads_the_workflow_frames_when_present(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path("results/datasets/synthetic")
    (root / "UCF-101/A").mkdir(parents=True)
    Path("results/frames/synthetic/jpg").mkdir(parents=True)
    rows = [
        {"video": f"UCF-101/A/v_A_g01_c0{i}.avi", "video_id": f"UCF-101/A/v_A_g01_c0{i}",
         "label": 0, "class_name": "A", "subset": "train", "n_frames": 30 + i, "width": 64,
         "height": 48, "fps": 25.0, "status": status, "reason": ""}
        for i, status in enumerate(["ok", "ok", "corrupt", "ok"])
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv("results/frames/synthetic/manifest.csv", index=False)
    vs = synthetic_set(tmp_path / "work", 2, settings={}, short_side=None, quality=2)
    assert "workflow" in vs.info["source"]
    assert len(vs.videos) == 2 and "UCF-101/A/v_A_g01_c02" not in set(vs.videos["video_id"])
    assert all(Path(p).is_absolute() and p.endswith(".avi") for p in vs.videos["path"])


def test_synthetic_set_generates_videos_without_workflow_frames(tmp_path, monkeypatch, config):
    monkeypatch.chdir(tmp_path)
    settings = {**config["datasets"]["synthetic"]["synthetic"], "n_classes": 2}
    vs = synthetic_set(tmp_path / "work", 2, settings=settings, short_side=None, quality=2)
    assert "generated" in vs.info["source"] and len(vs.videos) == 2
    for row in vs.videos.itertuples():
        assert len(list((vs.frames_root / row.video_id).glob("*.jpg"))) == row.n_frames


# ------------------------------------------------------------------ Snakemake figures
TINY_SNAKEFILE = """
rule all:
    input:
        "out/b.txt",


rule make:
    input:
        "a.txt",
    output:
        "out/b.txt",
    benchmark:
        "results/benchmarks/make/out/b.tsv"
    shell:
        "sleep {sleep}; cp {{input}} {{output}}"
"""


def tiny_workflow(path: Path, sleep: float = 0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "Snakefile").write_text(textwrap.dedent(TINY_SNAKEFILE.format(sleep=sleep)))
    (path / "a.txt").write_text("a\n")
    return path


def test_job_stats_parses_the_last_table():
    text = (
        "Job stats:\njob      count\n-----  -------\nmake        1\ntotal       1\n\n"
        "more\nJob stats:\njob      count\n-----  -------\nall         1\nmake        2\n"
        "total       3\n\nReasons:\n"
    )
    assert job_stats(text) == {"all": 1, "make": 2, "total": 3}
    assert job_stats("Building DAG of jobs...\nNothing to be done (all requested files ...") == {}
    with pytest.raises(ValueError, match="no job table"):
        job_stats("Building DAG of jobs...\n")


def test_dag_jobs_pairs_rules_with_benchmark_files():
    text = (
        "rule make:\n    input: a.txt\n    output: out/b.txt\n"
        "    benchmark: results/benchmarks/make/out/b.tsv\n    jobid: 1\n"
        "localrule all:\n    input: out/b.txt\n    jobid: 0\n"
    )
    assert dag_jobs(text) == [("make", "results/benchmarks/make/out/b.tsv"), ("all", None)]


@pytest.mark.slow
def test_dag_times_a_dry_run_and_a_noop_run_only_when_up_to_date(tmp_path):
    wf = tiny_workflow(tmp_path / "wf")
    stale = measure_dag(workdir=wf, grid_target="all", noop_target="all", repeats=1)
    assert stale["dry_run"]["jobs"] == {"make": 1, "all": 1, "total": 2}
    assert "skipped" in stale["noop_run"] and "2 jobs" in stale["noop_run"]["skipped"]
    assert not (wf / "out/b.txt").exists()  # the benchmark ran no job
    subprocess.run(
        snakemake_command("all", "--cores", "1"), cwd=wf, check=True, capture_output=True
    )
    done = measure_dag(workdir=wf, grid_target="all", noop_target="all", repeats=2)
    assert done["dry_run"]["jobs"] == {} and done["noop_run"]["jobs"] == {}
    check_summary(done["noop_run"], "runs", 2)
    check_summary(done["dry_run"], "runs", 2)


@pytest.mark.slow
def test_noop_guard_stops_a_run_that_finds_jobs(tmp_path):
    wf = tiny_workflow(tmp_path / "wf", sleep=30)
    with pytest.raises(RuntimeError, match="found jobs to run and was stopped"):
        run_snakemake(["all", "--cores", "1", "--nolock"], workdir=wf, stop_on_jobs=True)
    assert not (wf / "out/b.txt").exists()


@pytest.mark.slow
def test_demo_stages_sum_the_benchmark_files_of_the_targets_jobs(tmp_path):
    wf = tiny_workflow(tmp_path / "wf")
    subprocess.run(
        snakemake_command("all", "--cores", "1"), cwd=wf, check=True, capture_output=True
    )
    # A file of a job outside the target's DAG is not counted.
    other = wf / "results/benchmarks/make/elsewhere.tsv"
    other.write_text((wf / "results/benchmarks/make/out/b.tsv").read_text())
    r = measure_demo_stages(workdir=wf, target="all", benchmarks="results/benchmarks")
    recorded = pd.read_csv(wf / "results/benchmarks/make/out/b.tsv", sep="\t").iloc[-1]
    stages = {s["rule"]: s for s in r["stages"]}
    assert set(stages) == {"make", "all"} and r["jobs"] == 2
    assert stages["make"]["benchmark_files_found"] == 1
    assert stages["make"]["total_wall_s"] == pytest.approx(float(recorded["s"]))
    assert stages["all"]["with_benchmark"] == 0 and stages["all"]["total_wall_s"] is None
    assert r["jobs_without_benchmark_directive"] == 1


# ------------------------------------------------------------------ the entry point
def test_main_writes_the_json_and_prints_the_table(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_run, "QUICK", bench_run.Sizes(1, 1, 1, 1, 1, 1, 1, 2, 1))
    out, printed = tmp_path / "bench.json", []
    args = [
        "--quick",
        "--only",
        "student",
        "--out",
        str(out),
        "--config",
        str(ROOT / "config.yaml"),
    ]
    bench_run.main(args, out_stream=printed.append)
    report = json.loads(out.read_text())
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu_model"]
    assert {"torch", "torchvision", "ffmpeg", "opencv-python-headless", "av"} <= set(
        machine["libraries"]
    )
    assert report["settings"]["only"] == ["student"] and report["settings"]["quick"] is True
    assert set(report) >= {"student_step", "targets", "durations_s", "wall_s"}
    assert "loader" not in report and "dag" not in report
    check_summary(report["student_step"]["timings"]["timebalance"], "steps", 2)
    (target,) = report["targets"]
    r = report["student_step"]["ratios"]["overhead_vs_teachers_forward"]
    assert target["value"] == r and target["met"] == (r <= target["target_max"])
    assert "student step" in printed[0] and str(out) in printed[-1]


def test_table_shows_every_figure(loader_result, extraction_result, student_result):
    results = {
        "loader": {"tiny": loader_result},
        "extraction": {"tiny": extraction_result},
        "student_step": student_result,
    }
    results["targets"] = bench_run.targets(results)
    text = bench_run.table(results)
    for name in LOADERS:
        assert f"train clip: {name}" in text and f"decode: {name}" in text
    assert "with_augment: vs_opencv_from_start" in text
    assert "ours_throughput_vs_ffmpeg_null" in text and "overhead_vs_teachers_forward" in text
    whats = [t["what"] for t in results["targets"]]
    assert "loader tiny (with_augment): vs_opencv_from_start" in whats
    for t in results["targets"]:
        if t["target_min"] is not None:
            assert t["met"] == (t["value"] >= t["target_min"])


def test_only_and_config_errors_name_the_fix(tmp_path):
    with pytest.raises(Exception, match="unknown figure"):
        bench_run.parse_only("loader,gpu")
    with pytest.raises(FileNotFoundError, match="repository root"):
        bench_run.load_config(tmp_path / "config.yaml")
