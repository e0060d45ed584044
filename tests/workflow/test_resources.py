"""Runtime requests: they follow the schedule's epochs, the backbone and Snakemake's attempt."""

from __future__ import annotations

import copy
import inspect
from functools import partial
from types import SimpleNamespace

import pytest
import yaml

from tests.workflow.conftest import ROOT, validated
from timebalance.workflow import inputs as F
from timebalance.workflow import resources as R


@pytest.fixture(scope="module")
def base_config() -> dict:
    return validated(yaml.safe_load((ROOT / "config.yaml").read_text()))


def with_schedule(config: dict, name: str) -> dict:
    config = copy.deepcopy(config)
    config["schedule"] = name
    return config


SSL = SimpleNamespace(dataset="ucf101", kind="invariant", n="4", ps="0")
TEACHER = SimpleNamespace(dataset="ucf101", budget="5pct", seed="0", teacher="invariant_n4_s0")
STUDENT = SimpleNamespace(dataset="ucf101", budget="5pct", seed="0", model="student")
LABELS_ONLY = SimpleNamespace(**{**vars(STUDENT), "model": "variants/sup_sslinit"})
EVAL = SimpleNamespace(dataset="ucf101", budget="5pct", seed="0", run="student")
KINETICS_SSL = SimpleNamespace(**{**vars(SSL), "dataset": "kinetics400"})


def test_epochs_are_those_the_job_trains(base_config):
    paper = with_schedule(base_config, "paper")
    assert R.epochs("pretrain", paper, SSL) == 250
    assert R.epochs("pretrain", paper, KINETICS_SSL) == 100  # pretrain_epochs_by_dataset
    assert R.epochs("finetune", paper, TEACHER) == 150
    assert R.epochs("student", paper, STUDENT) == 150
    assert R.epochs("method", paper, TEACHER) == 30  # fixmatch, acl_mtl (004's 30 epochs)
    # a variant without teachers trains like a finetuning (config.student_optim)
    demo = with_schedule(base_config, "demo")
    assert R.epochs("student", demo, LABELS_ONLY) == demo["schedules"]["demo"]["finetune_epochs"]
    assert R.epochs("student", demo, STUDENT) == demo["schedules"]["demo"]["student_epochs"]


@pytest.mark.parametrize(
    ("stage", "wildcards"),
    [("pretrain", SSL), ("finetune", TEACHER), ("student", STUDENT)],
)
def test_training_runtime_grows_with_the_schedule_epochs(base_config, stage, wildcards):
    schedules = ("ci", "demo", "paper")
    minutes = {s: R.runtime(stage, with_schedule(base_config, s), wildcards) for s in schedules}
    epochs = {s: R.epochs(stage, with_schedule(base_config, s), wildcards) for s in schedules}
    # ordered as the schedules' epochs (the demo finetunes for more epochs than the paper:
    # its epochs are 3 steps)
    by_epochs = sorted(schedules, key=lambda s: epochs[s])
    assert [minutes[s] for s in by_epochs] == sorted(minutes.values())
    assert minutes["ci"] < minutes["paper"]
    # proportional to the epochs beyond the fixed set-up time
    more = with_schedule(base_config, "paper")
    more["schedules"]["paper"][f"{stage}_epochs"] *= 2
    extra = R.runtime(stage, more, wildcards) - minutes["paper"]
    assert extra == pytest.approx(minutes["paper"] - R.SETUP_MINUTES, abs=1)


def test_the_paper_schedule_no_longer_asks_48_hours_for_every_training(base_config):
    paper = with_schedule(base_config, "paper")
    assert R.runtime("finetune", paper, TEACHER) < R.runtime("student", paper, STUDENT)
    # fewer pretraining epochs on Kinetics (pretrain_epochs_by_dataset), a shorter request
    assert R.runtime("pretrain", paper, KINETICS_SSL) < R.runtime("pretrain", paper, SSL)


@pytest.mark.parametrize(
    ("stage", "wildcards"),
    [
        ("pretrain", SSL),
        ("finetune", TEACHER),
        ("student", STUDENT),
        ("evaluate", EVAL),
        ("cache_scores", SSL),
    ],
)
def test_a_retry_asks_for_attempt_times_the_first_request(base_config, stage, wildcards):
    config = with_schedule(base_config, "paper")
    first = R.runtime(stage, config, wildcards, attempt=1)
    assert R.runtime(stage, config, wildcards, attempt=2) == 2 * first
    assert R.runtime(stage, config, wildcards, attempt=3) == 3 * first


def test_cpu_jobs_of_the_tiny_backbone_ask_for_less_than_gpu_jobs(base_config):
    config = with_schedule(base_config, "demo")
    tiny = SimpleNamespace(**{**vars(SSL), "dataset": "synthetic"})
    assert F.gpus(config, tiny) == 0 and F.gpus(config, SSL) == 1
    assert R.runtime("pretrain", config, tiny) < R.runtime("pretrain", config, SSL)
    assert R.runtime("evaluate", config, tiny) < R.runtime("evaluate", config, SSL)


def test_unknown_stage_is_named(base_config):
    with pytest.raises(ValueError, match="'finetuning'"):
        R.runtime("finetuning", base_config, TEACHER)
    with pytest.raises(ValueError, match="'evaluate'"):
        R.epochs("evaluate", base_config, EVAL)


def test_bound_as_the_rules_bind_it_snakemake_passes_the_attempt(base_config):
    """rules/common.smk's bind() is partial(function, *args, config); Snakemake passes
    `attempt` only to a callable whose signature names it."""
    bound = partial(R.runtime, "finetune", base_config)
    assert list(inspect.signature(bound).parameters) == ["wildcards", "attempt"]
    assert bound(TEACHER, attempt=2) == 2 * bound(TEACHER)


def test_every_training_rule_requests_its_runtime_from_this_module():
    """The rules that train or run a network take their runtime from R.runtime; a fixed
    number there would ask every schedule for the paper's hours."""
    rules = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    for stage in [*R.MINUTES_PER_EPOCH, *R.FIXED_MINUTES]:
        assert f'runtime=bind(R.runtime, "{stage}")' in rules, stage
