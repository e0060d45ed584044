"""config.yaml, its schema (validation and defaults), and the config resolution used by the
rules."""

from __future__ import annotations

from types import SimpleNamespace

import jsonschema
import pytest
import yaml

from tests.workflow.conftest import ROOT, SCHEMA, planned_jobs, run_snakemake, tiny_config
from tests.workflow.conftest import validated as validate
from timebalance.workflow import config as C
from timebalance.workflow import inputs as F


def raw_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture
def config():
    """config.yaml as the rules see it: validated, the schema's defaults filled in."""
    return validate(raw_config())


@pytest.fixture
def schema():
    return yaml.safe_load(SCHEMA.read_text())


def test_default_config_is_valid(schema):
    config = raw_config()
    jsonschema.validate(config, schema)
    validate(config)


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
        (lambda c: c["variants"]["avg"].update(teachers=["invariant_n3_s0"]), "teachers"),
        (lambda c: c["pretrain"].pop("lr"), "lr"),
        (lambda c: c["tables"]["grids"]["synthetic"].update(table9=[]), "table9"),
    ],
)
def test_schema_rejects_and_names_the_key(config, schema, mutate, names):
    mutate(config)
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.validate(config, schema)
    where = "/".join(str(p) for p in err.value.absolute_path) + " " + err.value.message
    assert names in where


def _walk_defaults(schema: dict, config: dict, root: dict | None = None, where: str = ""):
    """(key path, schema default, config.yaml value) of every key that has both, following
    `properties` into objects, `additionalProperties` into each named entry, and local
    `$ref`s and `allOf`s."""
    root = root or schema
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    for sub in schema.get("allOf", []):
        yield from _walk_defaults(sub, config, root, where)
    for key, sub in schema.get("properties", {}).items():
        if key not in config:
            continue
        if "default" in sub:
            yield f"{where}{key}", sub["default"], config[key]
        if isinstance(config[key], dict):
            yield from _walk_defaults(sub, config[key], root, f"{where}{key}.")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in config.items():
            if key not in schema.get("properties", {}) and isinstance(value, dict):
                yield from _walk_defaults(extra, value, root, f"{where}{key}.")


def _commented_lines() -> dict[str, bool]:
    """Key path in config.yaml -> whether its line (or the line above) has a comment."""
    lines = (ROOT / "config.yaml").read_text().splitlines()
    out: dict[str, bool] = {}

    def visit(node, where):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                row = key.start_mark.line
                above = lines[row - 1].strip() if row else ""
                out[f"{where}{key.value}"] = "#" in lines[row] or above.startswith("#")
                visit(value, f"{where}{key.value}.")

    visit(yaml.compose((ROOT / "config.yaml").read_text()), "")
    return out


def test_config_yaml_equals_the_schema_defaults_or_says_why(schema):
    """config.yaml lists every key for the user; where a key has a schema default it holds that
    default, unless a comment beside it explains the override. (An empty default, {} or [],
    means "none": filling it in is the user's content, not an override.)"""
    comments = _commented_lines()
    defaults = list(_walk_defaults(schema, raw_config()))
    reached = {key for key, _, _ in defaults}
    assert {"schedules.ci.max_steps_per_epoch", "frames.fps", "student.weight_decay"} <= reached
    unexplained = [
        (key, value, default)
        for key, default, value in defaults
        if value != default and default not in ({}, []) and not comments[key]
    ]
    assert not unexplained, f"config.yaml overrides defaults without a comment: {unexplained}"
    # Defaulted top-level and section keys stay listed in config.yaml.
    for key in ("device", "frames.fps", "splits.labeled_lists", "pretrain.weight_decay"):
        assert key in comments, f"config.yaml does not list {key}"


def test_validation_fills_the_schema_defaults_at_every_level():
    config = raw_config()
    del config["device"], config["frames"]["fps"], config["splits"]["labeled_lists"]
    del config["student"]["weight_decay"]  # a default beside a $ref
    ucf = config["datasets"]["ucf101"]
    for key in ("split", "backbone", "crop_scale"):
        del ucf[key]
    del config["schedules"]["ci"]["max_steps_per_epoch"]  # inside additionalProperties + $ref
    config["datasets"]["synthetic"]["frames"] = {"short_side": 48}
    validate(config)
    assert config["device"] == "auto" and config["frames"]["fps"] is None
    assert config["splits"]["labeled_lists"] == {} and config["student"]["weight_decay"] == 0.0
    assert (ucf["split"], ucf["backbone"], ucf["crop_scale"]) == (1, "r3d18", [0.2, 1.0])
    assert (ucf["options"], ucf["frames"], ucf["clip"], ucf["budgets"][0]) == ({}, {}, {}, "1pct")
    assert config["schedules"]["ci"]["max_steps_per_epoch"] is None
    # An override block takes no defaults of its own: the global value shows through.
    assert config["datasets"]["synthetic"]["frames"] == {"short_side": 48}
    assert C.frames_settings(config, "synthetic")["fps"] is None
    assert C.frames_settings(config, "synthetic")["quality"] == config["frames"]["quality"]


def test_cross_key_checks_name_the_key(config):
    config["schedule"] = "fast"
    with pytest.raises(ValueError, match="schedule 'fast'"):
        C.check_config(config)
    config["schedule"] = "demo"
    config["tables"]["grids"]["synthetic"]["table1"].append(["ucf999", "5pct"])
    with pytest.raises(ValueError, match=r"tables\.grids\.synthetic\.table1"):
        C.check_config(config)
    config["tables"]["grids"]["synthetic"]["table1"].pop()
    config["datasets"]["ucf101"]["crop_scale"] = [0.9, 0.5]
    with pytest.raises(ValueError, match=r"datasets\.ucf101\.crop_scale"):
        C.check_config(config)


def test_tstr_needs_an_invariant_then_a_distinctive_teacher(config):
    config["variants"]["swapped"] = {
        "teachers": ["distinctive_n4_s0", "invariant_n4_s0"],
        "weighting": "tstr",
    }
    with pytest.raises(ValueError, match="variants/swapped"):
        C.check_config(config)
    config["variants"]["swapped"]["weighting"] = "average"  # order does not matter there
    C.check_config(config)
    config["variants"]["three"] = {"teachers": ["invariant_n3_s0"]}
    with pytest.raises(ValueError, match=r"n<2\|4>"):
        C.check_config(config)


def test_seeds_given_on_the_command_line_are_integers(tmp_path):
    assert C.coerce_command_line({"seeds": ["0", "1", 2]})["seeds"] == [0, 1, 2]
    assert C.coerce_command_line({"seeds": ["x"]})["seeds"] == ["x"]  # the schema says why
    config = tiny_config()
    proc = run_snakemake(tmp_path, "-n", "demo", "--config", "seeds=[0,1]", config=config)
    jobs = planned_jobs(proc)
    assert jobs["make_splits"] == 2 and jobs["finetune_teacher"] == 2 * 2  # seeds x teachers


def test_labels_only_students_take_the_finetuning_epochs(config):
    sch = config["schedules"]["demo"]
    sch["finetune_epochs"], sch["student_epochs"] = 7, 3

    def epochs(model):
        wc = SimpleNamespace(dataset="synthetic", seed="0", model=model)
        return F.student_settings(config, wc)["optim"]["epochs"]

    assert epochs("student") == 3
    assert epochs("variants/avg") == 3
    assert epochs("variants/sup_sslinit") == epochs("variants/scratch_sup") == 7


def test_colour_mode_reaches_every_training_stage(schema):
    import inspect

    from timebalance.data.strong_augment import WeakStrongAugment
    from timebalance.data.transforms import COLOUR_MODES, ClipAugment
    from timebalance.methods.settings import FinetuneSettings, PretrainSettings

    colour = schema["properties"]["augment"]["properties"]["colour"]
    assert tuple(colour["enum"]) == COLOUR_MODES
    for cls in (ClipAugment, WeakStrongAugment):
        assert inspect.signature(cls).parameters["colour"].default == colour["default"]
    config = raw_config()
    config["augment"] = {"colour": "torchvision"}
    validate(config)
    wc = SimpleNamespace(
        dataset="synthetic", kind="invariant", n="4", ps="0", seed="0", model="student"
    )
    pre = PretrainSettings.from_dict(F.pretrain_settings(config, wc))
    fine = FinetuneSettings.from_dict(F.finetune_settings(config, wc))
    assert pre.augment().colour == fine.clips.augment().colour == "torchvision"
    assert F.student_settings(config, wc)["clips"]["colour"] == "torchvision"
    config["augment"] = {"colour": "exact"}
    with pytest.raises(C.ConfigError, match=r"augment\.colour.*exact"):
        validate(config)


def test_crop_scale_reaches_every_training_stage(schema):
    from timebalance.data.transforms import DEFAULT_CROP_SCALE

    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    assert dataset["crop_scale"]["default"] == list(DEFAULT_CROP_SCALE)
    config = raw_config()
    config["datasets"]["hmdb51"].pop("crop_scale", None)
    config["datasets"]["synthetic"]["crop_scale"] = [0.6, 1.0]
    config["datasets"]["synthetic"]["pretrain_augment"] = {"crop_scale": [0.9, 1.0], "flip_p": 0.0}
    validate(config)
    # (dataset, pretraining's, the other stages')
    for ds, pre, expected in (
        ("synthetic", [0.9, 1.0], [0.6, 1.0]),
        ("hmdb51", [0.2, 1.0], [0.2, 1.0]),  # no pretrain_augment: crop_scale
    ):
        wc = SimpleNamespace(dataset=ds, kind="invariant", n="4", ps="0", seed="0", model="student")
        assert F.pretrain_settings(config, wc)["crop_scale"] == pre
        assert F.pretrain_settings(config, wc)["flip_p"] == (0.0 if ds == "synthetic" else None)
        assert F.finetune_settings(config, wc)["clips"]["crop_scale"] == expected
        assert F.student_settings(config, wc)["clips"]["crop_scale"] == expected
    config["datasets"]["synthetic"]["pretrain_augment"]["crop_scale"] = [0.9, 0.5]
    with pytest.raises(ValueError, match=r"datasets\.synthetic\.pretrain_augment\.crop_scale"):
        C.check_config(config)


def test_student_variant_resolution(config):
    default = C.student_variant(config, "student")
    assert default["teachers"] == ["invariant_n4_s0", "distinctive_n4_s0"]
    assert (default["weighting"], default["init"], default["distill"]) == ("tstr", "ssl_init", "l2")
    assert (default["ce_weight"], default["labeled_distill_weight"]) == (1.0, 50.0)
    assert default["unlabeled_distill_weight"] == 100.0
    inv = C.student_variant(config, "variants/inv_only")
    assert inv["teachers"] == ["invariant_n4_s0"] and inv["weighting"] == "single"
    assert C.student_variant(config, "variants/scratch_tstr")["init"] == "scratch"
    with pytest.raises(ValueError, match=r"define variants\.nope"):
        C.student_variant(config, "variants/nope")


def test_result_keys_map_to_per_seed_runs(config):
    config["seeds"] = [0, 1, 2]
    assert F.run_paths(config, "ucf101", "5pct", "teacher_invariant") == [
        f"results/ucf101_5pct/seed{s}/teachers/invariant_n4_s0.json" for s in (0, 1, 2)
    ]
    assert F.result_run(config, "teachers/distinctive_n2") == "teachers/distinctive_n2_s0"
    assert F.result_run(config, "teachers/distinctive_n2_s1") == "teachers/distinctive_n2_s1"
    assert F.result_run(config, "variants/kl") == "variants/kl"
    with pytest.raises(ValueError, match="unknown result"):
        F.result_run(config, "bogus")


def test_schedules_select_epochs(config):
    config["schedule"] = "paper"
    assert C.optim(config, "pretrain", dataset_name="ucf101")["epochs"] == 250
    assert C.optim(config, "pretrain", dataset_name="kinetics400")["epochs"] == 100
    assert C.optim(config, "student")["epochs"] == 150
    assert C.optim(config, "finetune")["warmup_epochs"] == 10
    config["schedule"] = "ci"
    assert C.optim(config, "student")["max_steps_per_epoch"] == 4


def test_init_and_scores_paths(config):
    from timebalance.workflow import paths as P

    assert C.init_checkpoint(config, "ucf101", "scratch") is None
    assert C.init_checkpoint(config, "ucf101", "ssl_init") == "results/ssl/ucf101/ssl_init_n4_s0.pt"
    assert P.scores("d", ["invariant_n4_s0", "distinctive_n4_s0"]) == (
        "results/scores/d/invariant_n4_s0+distinctive_n4_s0.csv"
    )


def test_dataset_clip_shape_reaches_training_and_evaluation():
    config = raw_config()
    config["datasets"]["synthetic"]["clip"] = {"clip_len": 16, "stride": 4}
    config["datasets"]["ucf101"].pop("clip", None)
    config["finetune"].update(clip_len=6, stride=3)
    validate(config)
    for ds, student, teacher in (("synthetic", (16, 4), (16, 4)), ("ucf101", (8, 2), (6, 3))):
        wc = SimpleNamespace(dataset=ds, seed="0", model="student", run="student")
        got = F.student_settings(config, wc)["clips"]
        assert (got["clip_len"], got["stride"]) == student
        got = F.eval_settings(config, wc)
        assert (got["clip_len"], got["stride"]) == student
        got = F.finetune_settings(config, wc)["clips"]
        assert (got["clip_len"], got["stride"]) == teacher
        wc.run = "teachers/invariant_n4_s0"
        got = F.eval_settings(config, wc)
        assert (got["clip_len"], got["stride"]) == teacher
