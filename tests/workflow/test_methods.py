"""The other methods (fixmatch, acl_mtl) in the DAG: names from one place, their settings
resolved from the config, and a real run of both on the tiny synthetic dataset."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import yaml

from tests.workflow.conftest import ROOT, SCHEMA, planned_jobs, run_snakemake, tiny_config
from tests.workflow.conftest import validated as validate
from timebalance.methods.acl_mtl import AclMtlSettings
from timebalance.methods.fixmatch import FixMatchSettings
from timebalance.methods.settings import EvalSettings
from timebalance.workflow import inputs as F
from timebalance.workflow import paths as P

SETTINGS = {"fixmatch": FixMatchSettings, "acl_mtl": AclMtlSettings}
CELL = SimpleNamespace(dataset="synthetic", budget="20pct", seed="1")


def _config(schedule: str = "demo") -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["schedule"] = schedule
    return validate(config)


def test_method_names_come_from_one_place():
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["methods"]["properties"]
    per_method = {k for k, v in schema.items() if "optimizer" in v.get("properties", {})}
    assert per_method == set(P.METHODS) == set(SETTINGS)
    smk = (ROOT / "rules" / "methods.smk").read_text()
    assert set(re.findall(r"^rule train_([a-z_]+):", smk, re.M)) == set(P.METHODS)
    assert set(yaml.safe_load((ROOT / "config.yaml").read_text())["methods"]) >= set(P.METHODS)


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_method_settings_build_the_stage_settings(method):
    config = _config("paper")
    config["methods"][method]["optimizer"] = "sgd"  # 004's, the schema default
    settings = SETTINGS[method].from_dict(F.method_settings(method, config, CELL))
    # a step takes the schedule's 32 videos: B_l = 32 // (1 + 5), B_u = 5 B_l
    assert settings.clips.batch_size == 5 and settings.spec.unlabeled_ratio == 5
    assert settings.seed == 1 and settings.optim.epochs == 30
    assert (settings.clips.clip_len, settings.clips.stride) == (16, 4)  # the dataset's clip
    assert settings.spec.threshold == 0.3
    # 004's SGD; the paper schedule's 30 epochs keep its milestones exactly
    assert settings.sgd is not None and settings.sgd.milestones == (25, 28)
    assert (settings.sgd.lr, settings.sgd.momentum, settings.sgd.weight_decay) == (
        0.005,
        0.9,
        0.001,
    )
    ucf = SimpleNamespace(dataset="ucf101", budget="1perclass", seed="0")
    clips = SETTINGS[method].from_dict(F.method_settings(method, config, ucf)).clips
    assert (clips.clip_len, clips.stride) == (8, 8)  # 004's T and short-term step


def test_sgd_is_the_default_its_milestones_scale_with_the_schedule_and_adam_is_a_choice():
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    for method in P.METHODS:
        del raw["methods"][method]["optimizer"]
    config = validate(raw)  # the demo schedule, 40 method epochs: 25/30 -> 33, 28/30 -> 37
    assert F.method_sgd(config, "acl_mtl")["milestones"] == [33, 37]
    config["schedule"] = "ci"  # 2 epochs: both land on 2, one milestone (never reached)
    assert F.method_sgd(config, "acl_mtl")["milestones"] == [2]
    config["methods"]["fixmatch"]["optimizer"] = "adam"  # Adam at methods.lr, the same steps
    adam = FixMatchSettings.from_dict(F.method_settings("fixmatch", config, CELL)).sgd
    assert (adam.optimizer, adam.lr, adam.weight_decay, adam.milestones) == ("adam", 0.001, 0, (2,))
    config["methods"]["fixmatch"]["optimizer"] = "adam_plateau"  # fit's own Adam
    assert F.method_settings("fixmatch", config, CELL)["sgd"] is None
    config["methods"]["sgd"]["milestones"] = [28, 25]
    with pytest.raises(ValueError, match=r"methods\.sgd\.milestones"):
        F.method_sgd(config, "acl_mtl")


def test_method_evaluation_views_and_result_keys():
    config = _config("demo")
    run = SimpleNamespace(**vars(CELL), run="methods/acl_mtl")
    common = EvalSettings.from_dict(F.eval_settings(config, run))
    assert (common.n_clips, common.n_crops) == (10, 3)  # the schedule's, as every table row
    config["methods"]["acl_mtl"].update(eval_clips=5, eval_crops=3)  # 004's protocol
    own = EvalSettings.from_dict(F.eval_settings(config, run))
    assert (own.n_clips, own.n_crops, own.clip_len) == (5, 3, common.clip_len)
    assert F.eval_info(config, run)["config"]["method"]["name"] == "acl_mtl"
    assert F.result_run(config, "methods/fixmatch") == "methods/fixmatch"
    assert F.aggregate_inputs(config, SimpleNamespace(**vars(CELL), key="methods/fixmatch")) == [
        "results/synthetic_20pct/seed0/methods/fixmatch.json"
    ]
    config["methods"]["pretrained"] = {"synthetic": "weights/imagenet.pt"}
    assert F.method_inputs(config, CELL)["init"] == "weights/imagenet.pt"


def test_methods_table_plans_and_both_methods_really_train(tmp_path):
    config = tiny_config()
    config["tables"]["grids"]["synthetic"]["methods"] = [["synthetic", "50pct"]]
    optimizers = {"fixmatch": "adam_plateau", "acl_mtl": "sgd"}  # both of fit's paths
    for method, optimizer in optimizers.items():
        config["methods"][method]["optimizer"] = optimizer
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", "results/tables/methods.md", config=config))
    assert jobs["train_fixmatch"] == jobs["train_acl_mtl"] == 1
    assert jobs["train_student"] == 2  # the TimeBalance student and scratch_sup
    assert jobs["finetune_teacher"] == 2  # the student's teachers
    assert jobs["evaluate"] == jobs["aggregate_seeds"] == 4  # one per measured row
    assert jobs["tables_default"] == 1

    targets = [
        P.RESULT.format(dataset="synthetic", budget="50pct", key=f"methods/{m}") for m in P.METHODS
    ]
    # ~50 s on an idle 2-core CPU (data, splits, both methods, 2 evaluations). No time bound
    # here: timings belong in benchmarks, not in tests on shared machines.
    proc = run_snakemake(tmp_path, "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for method, target in zip(P.METHODS, targets, strict=True):
        res = json.loads((tmp_path / target).read_text())
        assert res["result"] == f"methods/{method}" and res["seeds"] == [0]
        for metric in ("top1", "top5", "mean_class_accuracy"):
            assert 0 <= res[metric]["mean"] <= 100 and len(res[metric]["per_seed"]) == 1
        assert res["config"]["method"]["name"] == method
        assert {"per_class_accuracy", "confusion_matrix", "n_test_videos"} <= set(res)
        weights = P.METHOD_WEIGHTS.format(
            dataset="synthetic", budget="50pct", seed=0, method=method
        )
        history = tmp_path / P.mirror("metrics", weights, ".jsonl")
        epochs = [json.loads(line) for line in history.read_text().splitlines()]
        # ci: 2 epochs; 004's SGD at 0.005, or Adam's 1-epoch warm-up to methods.lr
        lr = 0.005 if optimizers[method] == "sgd" else 0.001
        assert len(epochs) == 2 and epochs[0]["lr"] == pytest.approx(lr)
