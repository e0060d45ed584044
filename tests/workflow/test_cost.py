"""The grid planner (timebalance.workflow.cost, cost_model, dryrun, list_schedule): jobs
from Snakemake's dry run, the work of each job, list scheduling, what sharing saves, and the
"not calibrated" path."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch
import yaml
from torch.utils.data import Dataset

from tests.data.fixtures_index import write_hmdb51, write_ucf101
from tests.workflow.conftest import ROOT, planned_jobs, run_snakemake, tiny_config, validated
from timebalance.data.splits import make_splits
from timebalance.engine.loader import epoch_loader
from timebalance.workflow import cost
from timebalance.workflow import cost_model as M
from timebalance.workflow import list_schedule as LS
from timebalance.workflow.dryrun import Job, dependencies, job_stats, parse_jobs

# --- the work model against the code it mirrors ------------------------------------------


class _Items(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize(("n", "batch"), [(1, 8), (7, 8), (8, 8), (9, 8), (24, 8), (25, 8)])
def test_batches_per_epoch_are_the_loaders(n, batch, drop_last):
    loader = epoch_loader(
        _Items(n), batch_size=batch, shuffle=True, seed=0, purpose="t", workers=0,
        device=torch.device("cpu"), drop_last=drop_last,
    )(0)  # fmt: skip
    steps, size = M.batches(n, batch, drop_last)
    assert steps == len(loader)
    assert size == max(len(b) for b in loader)


def test_split_sizes_are_make_splits_counts():
    """Uneven classes, a percentage and a per-class budget: the counts make_splits draws."""
    rows = [
        (f"c{c}_v{v}", c, f"class{c}", "train", 40, "ok")
        for c, n in enumerate((7, 12, 31, 3))
        for v in range(n)
    ] + [(f"t{v}", v % 4, f"class{v % 4}", "test", 40, "ok") for v in range(9)]
    manifest = pd.DataFrame(
        rows, columns=["video_id", "label", "class_name", "subset", "n_frames", "status"]
    )
    config = validated(tiny_config())
    size = M.DatasetSize((7, 12, 31, 3), 9, "test")
    for budget in ("20pct", "1perclass"):
        lists = make_splits(manifest, budget=budget, seed=0, val_fraction=0.1)
        expected = {name: len(lists[name]) for name in ("labeled", "unlabeled", "val", "test")}
        assert M.split_sizes(config, "synthetic", budget, size) == expected, budget


def test_official_sizes_are_the_annotation_files_counts(tmp_path):
    """The documented split-1 sizes are what the index reads from the official lists (the
    fixtures write the real split-1 counts)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name, write in (("ucf101", write_ucf101), ("hmdb51", write_hmdb51)):
        root = tmp_path / name
        root.mkdir()
        write(root)
        config["datasets"][name]["root"] = str(root)
    config = validated(config)
    for name in ("ucf101", "hmdb51"):
        size = M.dataset_size(config, name, tmp_path)
        assert size.source.startswith("annotation files")
        assert (sum(size.train), size.test, len(size.train)) == M.OFFICIAL_SIZES[name][:3]
        config["datasets"][name]["root"] = str(tmp_path / "absent")
        official = M.dataset_size(config, name, tmp_path)
        assert (sum(official.train), official.test) == M.OFFICIAL_SIZES[name][:2]
        assert "TimeBalance" in official.source


def _rule_blocks():
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            if m := re.match(r"rule (\w+):", block):
                yield m.group(1), block


def test_modelled_rules_are_the_rules_requesting_a_gpu():
    gpu_rules = {name for name, block in _rule_blocks() if re.search(r"\bgpu=", block)}
    assert set(M.MODELLED) == gpu_rules


def test_clip_seconds_scale_with_voxels_and_say_so():
    entries = [
        {"backbone": "r3d18", "frames": 16, "size": 112, "train_s_per_clip": 0.004,
         "eval_s_per_clip": 0.001, "device_name": "gpu"},
    ]  # fmt: skip
    same = M.Work("r3d18", 16, 112, 10, 10)
    assert M.clip_seconds(entries, same) == (0.004, 0.001, "measured")
    train, forward, how = M.clip_seconds(entries, M.Work("r3d18", 8, 112, 1, 1))
    assert (train, forward) == pytest.approx((0.002, 0.0005))
    assert how == "scaled from 16x112"
    assert M.clip_seconds(entries, M.Work("slow_r50", 8, 112, 1, 1)) is None


# --- list scheduling and sharing on hand-made graphs -------------------------------------


def test_list_schedule_on_a_hand_made_dag():
    # a(2) and b(3) feed c(1); d(4) is independent; e is a CPU step after c (no device).
    durations = {"a": 2.0, "b": 3.0, "c": 1.0, "d": 4.0, "e": 0.0}
    deps = {"a": set(), "b": set(), "c": {"a", "b"}, "d": set(), "e": {"c"}}
    demand = {"a": 1, "b": 1, "c": 1, "d": 1, "e": 0}
    assert LS.bottom_levels(durations, deps) == {"a": 3, "b": 4, "c": 1, "d": 4, "e": 0}
    slots = LS.list_schedule(durations, deps, demand, devices_per_node=2)
    # Critical path first: b and d (level 4) start; a takes b's device at 3; c after a.
    assert {j: (s.start, s.end) for j, s in slots.items()} == {
        "b": (0, 3), "d": (0, 4), "a": (3, 5), "c": (5, 6), "e": (6, 6),
    }  # fmt: skip
    assert slots["e"].node == -1
    assert LS.makespan(slots) == 6
    # One device: everything in sequence (10 s); two nodes of one device: as two devices.
    assert LS.makespan(LS.list_schedule(durations, deps, demand, devices_per_node=1)) == 10
    two_nodes = LS.list_schedule(durations, deps, demand, devices_per_node=1, nodes=2)
    assert LS.makespan(two_nodes) == 6
    # A job that needs both devices of a node waits for both.
    wide = LS.list_schedule(
        {"x": 1.0, "y": 5.0, "z": 2.0}, {}, {"x": 1, "y": 1, "z": 2}, devices_per_node=2
    )
    assert wide["z"].start >= 5 and LS.makespan(wide) == 7
    with pytest.raises(ValueError, match="more than the 1 devices"):
        LS.list_schedule({"z": 1.0}, {}, {"z": 2}, devices_per_node=1, nodes=4)
    with pytest.raises(ValueError, match="cycle"):
        LS.list_schedule({"p": 1.0, "q": 1.0}, {"p": {"q"}, "q": {"p"}}, {}, devices_per_node=1)


def _job(jobid, rule, outputs, inputs=(), **wildcards):
    return Job(jobid, rule, {"dataset": "ucf101", **wildcards}, inputs, outputs, {"gpu": "1"})


def test_sharing_on_a_hand_made_plan():
    """A pretraining (10 h) read by three (budget, seed) cells, a score cache (2 h) read by
    one: once per dataset they cost 12 h; per cell they would cost 3 x 10 + 1 x 2 = 32 h."""
    jobs = [
        _job(1, "pretrain_teacher", ("ssl.pt",), kind="invariant", n="4", ps="0"),
        _job(2, "cache_scores", ("s.csv",), ("ssl.pt",), t1="invariant_n4_s0"),
        _job(3, "finetune_teacher", ("a.pt",), ("ssl.pt",), budget="5pct", seed="0"),
        _job(4, "finetune_teacher", ("b.pt",), ("ssl.pt",), budget="5pct", seed="1"),
        _job(5, "finetune_teacher", ("c.pt",), ("ssl.pt",), budget="10pct", seed="0"),
        _job(6, "train_student", ("d.pt",), ("a.pt", "s.csv"), budget="5pct", seed="0"),
    ]
    hours = {1: 10, 2: 2, 3: 1, 4: 1, 5: 1, 6: 3}
    work = {j.jobid: M.Work("r3d18", 16, 112, 1, 1) for j in jobs}
    plan = cost.Plan(
        ["grid"], {j.jobid: j for j in jobs}, dependencies(jobs), work,
        {j: h * 3600.0 for j, h in hours.items()}, {j: "measured" for j in hours}, {}, 1, 1,
        None, {},
    )  # fmt: skip
    real, alone = cost.sharing(plan)
    assert (real / 3600, alone / 3600) == (12, 32)
    plan.seconds[2] = None
    assert cost.sharing(plan) is None


def test_dry_run_text_is_read_with_its_dependencies():
    text = """Building DAG of jobs...
Job stats:
job        count
-------  -------
a              1
b              1
total          2

[Wed Dec  2 00:59:32 2026]
rule a:
    output: x/1.csv, x/1.txt
    jobid: 3
    wildcards: dataset=ucf101, budget=5pct
    resources: tmpdir=/tmp, mem=2 GB, gpu=1
[Wed Dec  2 00:59:32 2026]
localrule b:
    input: x/1.csv, elsewhere.csv
    output: y (pipe)
    jobid: 0
    reason: Forced execution
"""
    jobs = parse_jobs(text)
    assert [(j.rule, j.jobid) for j in jobs] == [("a", 3), ("b", 0)]
    assert jobs[0].wildcards == {"dataset": "ucf101", "budget": "5pct"}
    assert jobs[0].resources["mem"] == "2 GB" and jobs[0].gpus() == 1 and jobs[1].gpus() == 0
    assert jobs[1].outputs == ("y",)
    assert dependencies(jobs) == {3: set(), 0: {3}}
    assert job_stats(text) == {"a": 1, "b": 1}


# --- the planner on the tiny synthetic workflow ------------------------------------------

# Fixed per-clip seconds (not a measurement): the arithmetic below is checked by hand.
FAKE = {"backbone": "tiny", "frames": 16, "size": 32, "train_s_per_clip": 0.01,
        "eval_s_per_clip": 0.002, "device_name": "fixed for the test", "batch_size": 8}  # fmt: skip


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The demo target of the tiny config with two budgets and two seeds, planned."""
    workdir = tmp_path_factory.mktemp("cost")
    config = tiny_config()
    config["seeds"] = [0, 1]
    config["datasets"]["synthetic"]["budgets"] = ["50pct", "20pct"]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    from timebalance.workflow import dryrun

    jobs = dryrun.dry_run(["demo"], snakefile=ROOT / "Snakefile", directory=workdir)
    return workdir, validated(config), jobs


def test_jobs_are_snakemakes_own(grid):
    workdir, _, jobs = grid
    counted: dict[str, int] = {}
    for job in jobs:
        counted[job.rule] = counted.get(job.rule, 0) + 1
    assert counted == planned_jobs(run_snakemake(workdir, "-n", "--forceall", "demo"))
    assert counted["train_student"] >= 2 * 2 and counted["pretrain_teacher"] == 3


def test_work_and_sharing_of_the_tiny_grid(grid):
    workdir, config, jobs = grid
    plan = cost.make_plan(
        jobs, config, [FAKE], directory=workdir, targets=["demo"], devices_per_node=2
    )
    by = {(j.rule, tuple(sorted(j.wildcards.items()))): j.jobid for j in jobs}

    def work(rule, **w):
        return plan.work[by[rule, tuple(sorted({"dataset": "synthetic", **w}.items()))]]

    # 4 classes x 6 training videos; ci: batches of 8, 2 epochs, at most 4 steps an epoch.
    # Pretraining: 24 // 8 = 3 steps x 8 videos x 2 copies x (4 dense + 1 sparse) clips.
    pre = work("pretrain_teacher", kind="invariant", n="4", ps="0")
    assert (pre.epochs, pre.steps, pre.train_clips, pre.eval_clips) == (2, 3, 480, 0)
    assert plan.seconds[by["pretrain_teacher", tuple(sorted(
        {"dataset": "synthetic", "kind": "invariant", "n": "4", "ps": "0"}.items()))]] == (
        pytest.approx(4.8)
    )  # fmt: skip
    # 50pct: 3 labeled + 1 val per class (L 12, V 4, U 8). Teacher: ceil(12 / 8) = 2 steps.
    ft = work("finetune_teacher", budget="50pct", seed="0", teacher="invariant_n4_s0")
    assert (ft.steps, ft.train_clips, ft.eval_clips) == (2, 2 * 12, 2 * 4)
    # Student (epoch_unit: labeled): ceil(12 / 8) = 2 steps of 8 labeled + 8 unlabeled;
    # 2 teachers forward.
    st = work("train_student", budget="50pct", seed="0", model="student")
    assert (st.steps, st.train_clips, st.eval_clips) == (2, 2 * 2 * 16, 2 * (2 * 2 * 16 + 4))
    # 20pct: 1 labeled + 1 val per class (L 4, U 16): 1 step of 4 labeled + 8 unlabeled.
    st = work("train_student", budget="20pct", seed="1", model="student")
    assert (st.steps, st.train_clips, st.eval_clips) == (1, 2 * 12, 2 * (2 * 12 + 4))
    # Every pretraining and the score cache serve the 2 budgets x 2 seeds.
    real, alone = cost.sharing(plan)
    assert alone == pytest.approx(4 * real) and real > 0
    assert plan.slots is not None
    markdown = cost.render_markdown(plan, [FAKE], calibration_path="fake.json")
    assert "Sharing saves" in markdown and cost.NOT_CALIBRATED not in markdown


def test_a_backbone_without_calibration_is_not_estimated(grid):
    workdir, config, jobs = grid
    other = {**FAKE, "backbone": "r3d18"}
    plan = cost.make_plan(
        jobs, config, [other], directory=workdir, targets=["demo"], devices_per_node=1
    )
    assert plan.slots is None and cost.sharing(plan) is None
    table = cost.rows(plan)
    assert table and all(r["gpu_hours"] is None and r["done_after_h"] is None for r in table)
    markdown = cost.render_markdown(plan, [other], calibration_path="c.json")
    assert "Per-clip cost of tiny: not calibrated" in markdown
    assert "GPU-hours: not calibrated" in markdown and "Wall time: not calibrated" in markdown
    assert "| not calibrated |" in markdown
    assert "not calibrated" in cost.render_csv(plan)


def test_calibrate_then_plan_from_the_command_line(grid):
    """CPU calibration of the tiny backbone (a few steps), then `plan` writes .md and .csv."""
    workdir, _, _ = grid
    calibration = workdir / "results/cost/calibration.json"
    common = ["--device", "cpu", "--batch-size", "2", "--warmup", "0", "--repeats", "1"]
    cost.main(["calibrate", "--backbone", "tiny", "--frames", "4", "16", "--size", "16", *common,
               "--out", str(calibration)])  # fmt: skip
    cost.main(["calibrate", "--backbone", "tiny", "--frames", "16", "--size", "16", *common,
               "--out", str(calibration)])  # fmt: skip
    entries = json.loads(calibration.read_text())["entries"]
    assert sorted((e["frames"], e["size"]) for e in entries) == [(4, 16), (16, 16)]
    assert all(e["train_s_per_clip"] > 0 and e["eval_s_per_clip"] > 0 for e in entries)
    assert {e["device"] for e in entries} == {"cpu"}
    cost.main(["plan", "demo", "--gpus", "2", "--directory", str(workdir),
               "--snakefile", str(ROOT / "Snakefile")])  # fmt: skip
    markdown = (workdir / "results/cost/demo.md").read_text()
    assert "on 2 GPU(s) x 1 node(s)" in markdown and "scaled from 16x16" in markdown
    table = pd.read_csv(workdir / "results/cost/demo.csv")
    assert set(table["stage"]) == {
        "pretrain_teacher", "cache_scores", "finetune_teacher", "train_student", "evaluate",
    }  # fmt: skip
    assert (table["gpu_hours"].astype(float) > 0).all()


def test_paper_schedule_work_by_hand(tmp_path):
    """The paper schedule on the official sizes (no dataset on disk), checked by hand."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["schedule"] = "paper"
    config = validated(config)
    kinetics = M.dataset_size(config, "kinetics400", tmp_path)
    pre = M.job_work(
        config,
        Job(1, "pretrain_teacher", {"dataset": "kinetics400", "kind": "invariant", "n": "4",
                                    "ps": "0"}, (), (), {}),
        {},
        sum(kinetics.train),
    )  # fmt: skip
    # 100 epochs (Kinetics) x 240000 // 32 steps x 32 videos x 2 copies x 5 clips.
    assert (pre.epochs, pre.steps, pre.train_clips) == (100, 7500, 100 * 7500 * 32 * 10)
    assert (pre.frames, pre.size) == (16, 112)
    # UCF101: 43 classes of 95 videos, 58 of 94. Val 10 / 9, 5pct labels 5 each: V 952,
    # L 505, U 8080. Student (epoch_unit: labeled): ceil(505 / 32) = 16 steps of 32 labeled
    # + 32 unlabeled clips (with `unlabeled`: 8080 // 32 = 252 steps).
    ucf = M.dataset_size(config, "ucf101", tmp_path)
    lists = M.split_sizes(config, "ucf101", "5pct", ucf)
    assert lists == {"labeled": 505, "unlabeled": 8080, "val": 952, "test": 3783}
    wildcards = {"dataset": "ucf101", "budget": "5pct", "seed": "0", "model": "student"}
    st = M.job_work(config, Job(2, "train_student", wildcards, (), (), {}), lists, 9537)
    assert (st.epochs, st.steps, st.frames) == (150, 16, 8)
    assert st.train_clips == 150 * 16 * 64
    assert st.eval_clips == 150 * (16 * 64 * 2 + 952)
    unit = {**config, "student": {**config["student"], "epoch_unit": "unlabeled"}}
    st = M.job_work(unit, Job(2, "train_student", wildcards, (), (), {}), lists, 9537)
    assert (st.steps, st.train_clips) == (252, 150 * 252 * 64)


@pytest.mark.slow
def test_planned_steps_are_the_steps_training_took(finished_run):
    """Every training job of the tiny chain: the epochs and steps per epoch the planner
    counts are the ones its metrics log recorded (the work model follows the engine)."""
    from timebalance.workflow import dryrun
    from timebalance.workflow import paths as P

    workdir, config = finished_run
    jobs = dryrun.dry_run(["demo"], snakefile=ROOT / "Snakefile", directory=workdir)
    plan = cost.make_plan(
        jobs, validated(config), [], directory=workdir, targets=["demo"], devices_per_node=1
    )
    compared = set()
    for jobid, work in plan.work.items():
        job = plan.jobs[jobid]
        metrics = workdir / P.mirror("metrics", job.outputs[0], ".jsonl")
        if work.epochs == 0 or not metrics.is_file():
            continue
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
        assert len(records) == work.epochs, job
        assert {r["steps"] for r in records} == {work.steps}, job
        compared.add(job.rule)
    assert {"pretrain_teacher", "finetune_teacher", "train_student"} <= compared
