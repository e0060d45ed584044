"""config.yaml, its schema, and the config resolution used by the rules."""

from pathlib import Path

import jsonschema
import pytest
import yaml

from timebalance import workflow as W

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture
def schema():
    return yaml.safe_load((ROOT / "rules" / "config.schema.yaml").read_text())


def test_default_config_is_valid(config, schema):
    jsonschema.validate(config, schema)
    W.check_config(config)


@pytest.mark.parametrize(
    ("mutate", "names"),
    [
        (lambda c: c["frames"].update(shortside=3), "shortside"),
        (lambda c: c["student"].update(ce_weight="one"), "ce_weight"),
        (lambda c: c.update(seeds=[]), "seeds"),
        (lambda c: c["datasets"]["synthetic"].update(budgets=["5%"]), "budgets"),
        (lambda c: c["variants"]["avg"].update(weighting="median"), "weighting"),
        (lambda c: c["datasets"]["synthetic"].update(crop_scale=[0.0, 1.0]), "crop_scale"),
        (lambda c: c["datasets"]["synthetic"].update(crop_scale=[0.5]), "crop_scale"),
    ],
)
def test_schema_rejects_and_names_the_key(config, schema, mutate, names):
    mutate(config)
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.validate(config, schema)
    where = "/".join(str(p) for p in err.value.absolute_path) + " " + err.value.message
    assert names in where


def test_cross_key_checks_name_the_key(config):
    config["schedule"] = "fast"
    with pytest.raises(ValueError, match="schedule 'fast'"):
        W.check_config(config)
    config["schedule"] = "demo"
    config["tables"]["grids"]["synthetic"]["table1"].append(["ucf999", "5pct"])
    with pytest.raises(ValueError, match=r"tables\.grids\.synthetic\.table1"):
        W.check_config(config)
    config["tables"]["grids"]["synthetic"]["table1"].pop()
    config["datasets"]["ucf101"]["crop_scale"] = [0.9, 0.5]
    with pytest.raises(ValueError, match=r"datasets\.ucf101\.crop_scale"):
        W.check_config(config)


def test_tstr_needs_an_invariant_then_a_distinctive_teacher(config):
    config["variants"]["swapped"] = {
        "teachers": ["distinctive_n4_s0", "invariant_n4_s0"],
        "weighting": "tstr",
    }
    with pytest.raises(ValueError, match="variants/swapped"):
        W.check_config(config)
    config["variants"]["swapped"]["weighting"] = "average"  # order does not matter there
    W.check_config(config)
    config["variants"]["three"] = {"teachers": ["invariant_n3_s0"]}
    with pytest.raises(ValueError, match=r"n<2\|4>"):
        W.check_config(config)


def test_labels_only_students_take_the_finetuning_epochs(config):
    from types import SimpleNamespace

    from timebalance import rule_functions as RF

    sch = config["schedules"]["demo"]
    sch["finetune_epochs"], sch["student_epochs"] = 7, 3

    def epochs(model):
        wc = SimpleNamespace(dataset="synthetic", seed="0", model=model)
        return RF.student_settings(config, wc)["optim"]["epochs"]

    assert epochs("student") == 3
    assert epochs("variants/avg") == 3
    assert epochs("variants/sup_sslinit") == epochs("variants/scratch_sup") == 7


def test_crop_scale_reaches_every_training_stage(config):
    from timebalance.data.transforms import DEFAULT_CROP_SCALE

    assert W.DEFAULT_CROP_SCALE == DEFAULT_CROP_SCALE
    from types import SimpleNamespace

    from timebalance import rule_functions as RF

    config["datasets"]["hmdb51"].pop("crop_scale", None)
    for ds, expected in (("synthetic", [0.6, 1.0]), ("hmdb51", [0.2, 1.0])):
        wc = SimpleNamespace(dataset=ds, kind="invariant", n="4", ps="0", seed="0", model="student")
        assert RF.pretrain_settings(config, wc)["crop_scale"] == expected
        assert RF.finetune_settings(config, wc)["clips"]["crop_scale"] == expected
        assert RF.student_settings(config, wc)["clips"]["crop_scale"] == expected


def test_student_variant_resolution(config):
    default = W.student_variant(config, "student")
    assert default["teachers"] == ["invariant_n4_s0", "distinctive_n4_s0"]
    assert (default["weighting"], default["init"], default["distill"]) == ("tstr", "ssl_init", "l2")
    assert (default["ce_weight"], default["labeled_distill_weight"]) == (1.0, 50.0)
    assert default["unlabeled_distill_weight"] == 100.0
    inv = W.student_variant(config, "variants/inv_only")
    assert inv["teachers"] == ["invariant_n4_s0"] and inv["weighting"] == "single"
    assert W.student_variant(config, "variants/scratch_tstr")["init"] == "scratch"
    with pytest.raises(ValueError, match=r"define variants\.nope"):
        W.student_variant(config, "variants/nope")


def test_result_keys_map_to_per_seed_runs(config):
    config["seeds"] = [0, 1, 2]
    assert W.run_paths(config, "ucf101", "5pct", "teacher_invariant") == [
        f"results/ucf101_5pct/seed{s}/teachers/invariant_n4_s0.json" for s in (0, 1, 2)
    ]
    assert W.result_run(config, "teachers/distinctive_n2") == "teachers/distinctive_n2_s0"
    assert W.result_run(config, "variants/kl") == "variants/kl"
    with pytest.raises(ValueError, match="unknown result"):
        W.result_run(config, "bogus")


def test_schedules_select_epochs(config):
    config["schedule"] = "paper"
    assert W.optim(config, "pretrain", dataset_name="ucf101")["epochs"] == 250
    assert W.optim(config, "pretrain", dataset_name="kinetics400")["epochs"] == 100
    assert W.optim(config, "student")["epochs"] == 150
    assert W.optim(config, "finetune")["warmup_epochs"] == 10
    config["schedule"] = "ci"
    assert W.optim(config, "student")["max_steps_per_epoch"] == 4


def test_init_and_scores_paths(config):
    assert W.init_checkpoint(config, "ucf101", "scratch") is None
    assert W.init_checkpoint(config, "ucf101", "ssl_init") == "results/ssl/ucf101/ssl_init_n4_s0.pt"
    assert W.scores_path("d", ["invariant_n4_s0", "distinctive_n4_s0"]) == (
        "results/scores/d/invariant_n4_s0+distinctive_n4_s0.csv"
    )


def test_dataset_clip_shape_reaches_training_and_evaluation(config):
    from types import SimpleNamespace

    from timebalance import rule_functions as RF

    config["datasets"]["synthetic"]["clip"] = {"clip_len": 16, "stride": 4}
    config["datasets"]["ucf101"].pop("clip", None)
    config["finetune"].update(clip_len=6, stride=3)
    for ds, student, teacher in (("synthetic", (16, 4), (16, 4)), ("ucf101", (8, 2), (6, 3))):
        wc = SimpleNamespace(dataset=ds, seed="0", model="student", run="student")
        got = RF.student_settings(config, wc)["clips"]
        assert (got["clip_len"], got["stride"]) == student
        got = RF.eval_settings(config, wc)
        assert (got["clip_len"], got["stride"]) == student
        got = RF.finetune_settings(config, wc)["clips"]
        assert (got["clip_len"], got["stride"]) == teacher
        wc.run = "teachers/invariant_n4_s0"
        got = RF.eval_settings(config, wc)
        assert (got["clip_len"], got["stride"]) == teacher
