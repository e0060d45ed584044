"""Stage settings: built from exactly the dicts the workflow passes, errors name the keys."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from timebalance.engine.settings import ONE_PROCESS, RunSettings
from timebalance.methods.settings import (
    EvalSettings,
    FinetuneSettings,
    PretrainSettings,
    ScoreSettings,
    StudentSettings,
)
from timebalance.workflow import inputs

CONFIG = yaml.safe_load((Path(__file__).parents[2] / "config.yaml").read_text())
WILDCARDS = dict(kind="distinctive", n="2", ps="1", budget="20pct", seed="3", run="student")


def _wildcards(**kw) -> SimpleNamespace:
    return SimpleNamespace(**{"dataset": "synthetic", "model": "student", **WILDCARDS, **kw})


@pytest.mark.parametrize(
    ("cls", "settings"),
    [
        (PretrainSettings, inputs.pretrain_settings),
        (ScoreSettings, inputs.score_settings),
        (FinetuneSettings, inputs.finetune_settings),
        (StudentSettings, inputs.student_settings),
        (EvalSettings, inputs.eval_settings),
    ],
)
def test_every_stage_takes_the_workflow_dict_as_is(cls, settings):
    given = settings(CONFIG, _wildcards())
    built = cls.from_dict(given)
    # every key arrives, none is invented: the round trip gives the dict back
    assert built.to_dict() == given
    assert cls.from_dict(built.to_dict()) == built


def test_every_student_variant_builds():
    for name in CONFIG["variants"]:
        given = inputs.student_settings(CONFIG, _wildcards(model=f"variants/{name}"))
        spec = StudentSettings.from_dict(given).spec
        assert list(spec.teachers) == given["spec"]["teachers"]


def test_unknown_and_missing_keys_are_named():
    given = inputs.finetune_settings(CONFIG, _wildcards())
    given["clips"] = {**given["clips"], "crop_sise": 1}
    del given["clips"]["crop_size"]
    with pytest.raises(KeyError, match=r"FinetuneSettings.clips: unknown key\(s\) \['crop_sise'\]"):
        FinetuneSettings.from_dict(given)
    with pytest.raises(KeyError, match=r"missing key\(s\) \['crop_size'\]"):
        FinetuneSettings.from_dict(given)


def test_values_are_checked_and_lists_become_tuples():
    given = inputs.pretrain_settings(CONFIG, _wildcards())
    assert PretrainSettings.from_dict({**given, "crop_scale": [0.5, 1]}).crop_scale == (0.5, 1.0)
    with pytest.raises(TypeError, match=r"PretrainSettings.epochs must be int, got '5'"):
        PretrainSettings.from_dict({**given, "epochs": "5"})
    with pytest.raises(TypeError, match=r"crop_scale must hold 2 values"):
        PretrainSettings.from_dict({**given, "crop_scale": [0.5]})
    with pytest.raises(ValueError, match="unknown pretraining kind 'tclr'"):
        PretrainSettings.from_dict({**given, "kind": "tclr"})


def test_run_settings_of_a_job():
    job = SimpleNamespace(
        params=SimpleNamespace(runtime={"device": "cpu"}, code="1.0+abc", tensorboard="tb/x"),
        threads=3,
        config={"log_every_steps": 7, "accelerator": ONE_PROCESS.to_dict()},
    )
    assert RunSettings.of_job(job) == RunSettings(
        device="cpu", threads=3, code_version="1.0+abc", log_every_steps=7, tensorboard="tb/x"
    )
    del job.params.tensorboard  # a rule without event files
    assert RunSettings.of_job(job).tensorboard is None
