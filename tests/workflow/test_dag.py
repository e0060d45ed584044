"""The DAG end to end on tiny synthetic data (schedule=ci), then its incremental behaviour
proven with dry runs."""

from __future__ import annotations

import copy
import json

import pytest

from tests.workflow.conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.slow


def test_chain_outputs(finished_run):
    workdir, config = finished_run
    result = json.loads((workdir / "results/synthetic_50pct/student.json").read_text())
    for key in ("top1", "top5", "mean_class_accuracy"):
        assert set(result[key]) == {"mean", "std", "per_seed"}
        assert 0.0 <= result[key]["mean"] <= 100.0
    assert result["seeds"] == config["seeds"]
    assert result["n_test_videos"] == 4 * 2 * 2  # 4 classes x 2 test groups x 2 clips
    assert len(result["confusion_matrix"]) == 4
    assert sum(map(sum, result["confusion_matrix"])) == result["n_test_videos"]
    assert result["config"]["schedule"] == "ci"
    assert result["code_version"]
    run = json.loads((workdir / "results/synthetic_50pct/seed0/student.json").read_text())
    shape = config["datasets"]["synthetic"].get("clip", {"clip_len": 8, "stride": 2})
    assert run["views"] == {"clips": 10, "crops": 3, **shape}
    for teacher in ("invariant", "distinctive"):
        assert (workdir / f"results/synthetic_50pct/teacher_{teacher}.json").exists()
    table = (workdir / "results/tables/table1.md").read_text()
    assert "TimeBalance" in table
    scores = workdir / "results/scores/synthetic/invariant_n4_s0+distinctive_n4_s0.csv"
    assert len(scores.read_text().splitlines()) > 1
    # Nothing is left to do after a complete run.
    assert planned_jobs(run_snakemake(workdir, "-n", "demo")) == {}


def _dry(workdir, config, **kw):
    return planned_jobs(run_snakemake(workdir, "-n", "demo", config=config, **kw))


def test_student_setting_reruns_only_student_side(finished_run):
    workdir, config = finished_run
    changed = copy.deepcopy(config)
    changed["student"]["ce_weight"] = 2.0
    try:
        jobs = _dry(workdir, changed)
    finally:
        (workdir / "config.yaml").unlink()
        run_snakemake(workdir, "-n", "demo", config=config)
    assert "train_student" in jobs
    # config_page: the report's copy of the configuration follows every config change
    assert set(jobs) <= {"train_student", "config_page"} | DOWNSTREAM_OF_TRAINING


def test_pretrain_setting_reruns_teachers_and_downstream(finished_run):
    workdir, config = finished_run
    changed = copy.deepcopy(config)
    changed["pretrain"]["temperature"] = 0.2
    try:
        jobs = _dry(workdir, changed)
    finally:
        run_snakemake(workdir, "-n", "demo", config=config)
    assert {"pretrain_teacher", "cache_scores", "finetune_teacher", "train_student"} <= set(jobs)
    assert not {"extract_frames", "make_splits", "synthesize_dataset"} & set(jobs)


DOWNSTREAM_OF_TRAINING = {"evaluate", "aggregate_seeds", "tables_default", "demo"} | {
    "learning_curves",  # the student's learning-curve figure
    "run_times",  # the report's run-time summary follows every demo job
}


@pytest.mark.parametrize(
    ("module", "rules"),
    [
        # The score cache's module: the score rule, and every student (methods/student.py reads
        # the cache through methods.scores.read_scores, so each student job runs scores.py).
        # The Fig. 4 analogue recomputes similarity matrices with it; s's figure reads the cache.
        # (The clip embedding it shares with the pretraining diagnosis is methods/similarity.py.)
        ("methods/scores.py", {"cache_scores", "train_student", "fig_similarity", "fig_scores"}),
        # A module only the student runs: no teacher and no score job reruns.
        ("methods/student.py", {"train_student"}),
    ],
)
def test_editing_a_module_reruns_exactly_its_rules(finished_run, repo_copy, module, rules):
    workdir, config = finished_run
    assert planned_jobs(run_snakemake(workdir, "-n", "demo", repo=repo_copy)) == {}
    everything = planned_jobs(run_snakemake(workdir, "-n", "--forceall", "demo", repo=repo_copy))
    edited = repo_copy / "timebalance" / module
    edited.write_text(edited.read_text() + "\n# edited\n")
    jobs = _dry(workdir, config, repo=repo_copy)
    assert set(jobs) == rules | DOWNSTREAM_OF_TRAINING
    assert {rule: jobs[rule] for rule in rules} == {rule: everything[rule] for rule in rules}
