"""The other methods (fixmatch, acl_mtl) in the DAG: names from one place, their settings
resolved from the config, and a real run of both on the tiny synthetic dataset."""

from __future__ import annotations

import dataclasses
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
    variant = schema["variants"]["additionalProperties"]["properties"]["method"]
    assert variant["enum"] == list(P.METHODS)
    smk = (ROOT / "rules" / "methods.smk").read_text()
    assert set(re.findall(r"^rule train_([a-z_]+):", smk, re.M)) == set(P.METHODS)
    assert set(yaml.safe_load((ROOT / "config.yaml").read_text())["methods"]) >= set(P.METHODS)


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_method_settings_build_the_stage_settings(method):
    config = _config("paper")
    config["methods"][method]["optimizer"] = "sgd"  # 004's, the schema default
    config["methods"]["unlabeled_ratio"] = 5  # 004's (config.yaml's demo value differs)
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


def test_variants_run_their_method_with_the_overrides():
    config = _config("demo")
    names = F.method_names(config)
    assert names["acl_only"] == names["acl_mtl_eps3"] == "acl_mtl"
    assert names["fixmatch"] == "fixmatch" and list(names)[:2] == list(P.METHODS)
    variant = SimpleNamespace(**vars(CELL), method="acl_mtl_long16")
    spec = AclMtlSettings.from_dict(F.method_job_settings(config, variant)).spec
    base = AclMtlSettings.from_dict(F.method_settings("acl_mtl", config, CELL)).spec
    assert spec.long_strides == (16,) and base.long_strides == (16, 32)
    # the warm-up is a share of the schedule's method epochs: 0.25 of 40 (demo) -> 10
    assert base.warmup_epochs == 10 and config["methods"]["acl_mtl"]["warmup"] == 0.25
    for schedule, epochs in (("paper", 7), ("ci", 0)):  # 0.25 of 30, of 2
        short = AclMtlSettings.from_dict(F.method_settings("acl_mtl", _config(schedule), CELL))
        assert short.spec.warmup_epochs == epochs
    assert dataclasses.replace(spec, long_strides=(16, 32)) == base  # nothing else differs
    eps = AclMtlSettings.from_dict(F.method_settings("acl_mtl_eps9", config, CELL)).spec
    assert eps.epsilon == 0.9 and eps.mtl and eps.acl
    off = AclMtlSettings.from_dict(F.method_settings("acl_only", config, CELL)).spec
    assert off.acl and not off.mtl and off.active_long_strides == ()
    # evaluated and recorded under its own name, with the method it runs
    run = SimpleNamespace(**vars(CELL), run="methods/acl_only")
    info = F.eval_info(config, run)["config"]["method"]
    assert (info["name"], info["method"], info["mtl"]) == ("acl_only", "acl_mtl", False)
    assert "variants" not in F.eval_info(config, run)["config"]["methods"]
    # every row of the ablation table is a configured method
    from timebalance.report.specs import METHODS_ABLATION_ROWS

    assert {key.removeprefix("methods/") for _, key, _ in METHODS_ABLATION_ROWS} <= set(names)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"method": "fixmatc"}, "not a method; one of fixmatch, acl_mtl"),
        ({"method": "fixmatch", "epsilon": 0.5}, "epsilon not a setting of methods.fixmatch"),
        ({"method": "acl_mtl", "epsilon": "high"}, r"variants\.bad\.epsilon: 'high' is not"),
        ({"method": "acl_mtl", "long_strides": []}, r"variants\.bad\.long_strides"),
    ],
)
def test_a_bad_variant_stops_the_run_naming_it(variant, message):
    config = _config("demo")
    config["methods"]["variants"] = {"bad": variant}
    with pytest.raises(ValueError, match=message):
        F.check_method_variants(config, SCHEMA)
    config["methods"]["variants"] = {"acl_mtl": {"method": "acl_mtl"}}
    with pytest.raises(ValueError, match="cannot take a method's name"):
        F.method_names(config)


def test_method_wildcards_take_configured_names_only():
    config = _config("demo")

    def weights(grammar: str) -> re.Pattern:  # the rule's output as Snakemake matches it
        return re.compile(rf"results/syn_20pct/seed0/methods/(?P<method>{grammar})\.pt$")

    acl = weights(F.method_grammar(config, "acl_mtl"))
    fixmatch = weights(F.method_grammar(config, "fixmatch"))
    misspelt = weights(F.misspelt_method_grammar(config))
    path = "results/syn_20pct/seed0/methods/{}.pt".format
    for name in F.method_names(config):
        hits = [bool(g.match(path(name))) for g in (acl, fixmatch, misspelt)]
        assert hits == [name != "fixmatch", name == "fixmatch", False], name
    for typo in ("fixmatc", "acl_mtl_x", "acl", "ACL_MTL", "acl_mtl.v2"):
        assert misspelt.match(path(typo)) and not acl.match(path(typo)), typo
    wildcards = SimpleNamespace(**vars(CELL), method="fixmatc")
    with pytest.raises(ValueError, match=r"unknown method 'fixmatc'.*acl_mtl_eps3"):
        F.misspelt_method(config, wildcards)


def test_misspelt_method_and_the_ablation_table_in_the_dag(tmp_path):
    config = tiny_config()
    config["tables"]["grids"]["synthetic"]["methods"] = [["synthetic", "50pct"]]
    typo = P.RESULT.format(dataset="synthetic", budget="50pct", key="methods/fixmatc")
    proc = run_snakemake(tmp_path, "-n", typo, config=config)
    assert proc.returncode != 0
    assert "unknown method 'fixmatc'; the configured methods are fixmatch, acl_mtl" in (
        proc.stdout + proc.stderr
    )
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", "methods_ablation", config=config))
    # fixmatch (Table 2's baseline), acl_mtl and its 8 variants, each evaluated
    assert jobs["train_fixmatch"] == 1 and jobs["train_acl_mtl"] == 9
    assert jobs["evaluate"] == jobs["aggregate_seeds"] == 10
    assert jobs["methods_ablation_table"] == 1


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
    cell = {"dataset": "synthetic", "budget": "50pct"}
    figure = P.FIG_METHOD_TRAINING["png"].format(**cell, method="acl_mtl")
    # ~50 s on an idle 2-core CPU (data, splits, both methods, 2 evaluations). No time bound
    # here: timings belong in benchmarks, not in tests on shared machines.
    proc = run_snakemake(tmp_path, "--cores", "2", *targets, figure)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert (tmp_path / figure).stat().st_size > 0  # ACL + MTL's training, from its metrics
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
