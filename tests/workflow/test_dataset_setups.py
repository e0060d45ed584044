"""Per-dataset setups (backbone, crop size, paper dataset), the checks that keep them
runnable and comparable, and the student's epoch unit in the settings."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import yaml

from tests.data.frame_folders import manifest_rows
from tests.workflow.conftest import ROOT, SCHEMA
from timebalance.data.splits import make_splits
from timebalance.workflow import config as C
from timebalance.workflow import inputs as F


def _config(mutate=None) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    if mutate:
        mutate(config)
    return C.validate(config, SCHEMA)


def _wc(dataset: str) -> SimpleNamespace:
    return SimpleNamespace(
        dataset=dataset, budget="5pct", seed="0", kind="invariant", n="4", ps="0",
        model="student", run="student",
    )  # fmt: skip


def test_crop_size_is_the_datasets_else_the_schedules():
    def mutate(config):
        config["datasets"]["hmdb51"]["crop_size"] = None
        config["schedules"]["demo"]["crop_size"] = 96

    config = _config(mutate)
    assert C.crop_size(config, "ucf101r50") == 224
    assert C.crop_size(config, "ucf101") == 112
    assert C.crop_size(config, "hmdb51") == 96  # no crop_size of its own: the schedule's
    assert C.crop_size(config, "synthetic") == 32
    wc = _wc("ucf101r50")
    assert F.pretrain_settings(config, wc)["crop_size"] == 224
    assert F.eval_info(config, wc)["config"]["crop_size"] == 224
    assert F.method_settings("fixmatch", config, wc)["clips"]["crop_size"] == 224


def test_dataset_setup_names_the_paper_dataset():
    config = _config()
    assert C.dataset_setup(config, "ucf101r50") == {
        "backbone": "slow_r50",
        "crop_size": 224,
        "paper_dataset": "ucf101",
    }
    assert C.dataset_setup(config, "kinetics400")["paper_dataset"] == "kinetics400"
    # A generated dataset in the UCF101 layout is not UCF101.
    assert C.dataset_setup(config, "synthetic")["paper_dataset"] is None


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (
            lambda c: c["datasets"]["ucf101r50"].update(frames={"short_side": 200}),
            r"datasets\.ucf101r50\.crop_size is 224, larger than the short side of dataset "
            r"'ucf101r50''s frames \(200 px.*short_side to at least 224",
        ),
        (  # no crop_size of its own: the schedule's is named
            lambda c: (
                c["datasets"]["synthetic"].update(crop_size=None) or c.update(schedule="paper")
            ),
            r"schedules\.paper\.crop_size is 112, larger than .* 'synthetic''s frames \(48 px",
        ),
        (
            lambda c: c["tables"]["grids"]["paper"].update(table2=[["ucf101r5o", "5pct"]]),
            r"tables\.grids\.paper\.table2 names dataset 'ucf101r5o', which is not under "
            r"`datasets` \(.*'ucf101r50'.*\); fix the name or add datasets\.ucf101r5o",
        ),
        (
            lambda c: c["datasets"]["hmdb51r50"].update(min_frames=16),
            r"datasets 'hmdb51' and 'hmdb51r50' read the same videos but differ in "
            r"min_frames \(0 vs 16\), so their split lists would differ",
        ),
        (
            lambda c: c["datasets"]["ucf101r50"]["frames"].update(fps=10),
            r"'ucf101' and 'ucf101r50' .* differ in frames\.fps \(None vs 10\)",
        ),
        (
            lambda c: c["splits"].update(labeled_lists={"ucf101_5pct": "lists/5.txt"}),
            r"ucf101_5pct is 'lists/5\.txt' and ucf101r50_5pct is None; list the same file",
        ),
    ],
)
def test_early_checks_name_the_key_and_the_fix(mutate, says):
    with pytest.raises(C.ConfigError, match=says):
        _config(mutate)


def test_entries_of_the_same_videos_pass_with_the_same_lists():
    both = {"ucf101_5pct": "lists/5.txt", "ucf101r50_5pct": "lists/5.txt"}
    _config(lambda c: c["splits"].update(labeled_lists=both))
    # Another root is other videos: nothing to keep equal.
    _config(lambda c: c["datasets"]["hmdb51r50"].update(root="/elsewhere", min_frames=16))


def test_split_lists_do_not_depend_on_the_frame_size():
    """Two entries of the same videos extract them at different sizes (and their shards in
    any order); their split lists are the same for the same seed and budget."""
    counts = {"Archery": (40, 6), "Bowling": (25, 3), "Cycling": (33, 4)}
    small = manifest_rows(counts)
    large = small.assign(width=320, height=240).sample(frac=1.0, random_state=3)
    for seed in (0, 1):
        a = make_splits(small, budget="20pct", seed=seed)
        b = make_splits(large, budget="20pct", seed=seed)
        for part in a:
            assert a[part].equals(b[part]), (seed, part)
    assert not make_splits(small, budget="20pct", seed=0)["labeled"].equals(
        make_splits(small, budget="20pct", seed=1)["labeled"]
    )


def test_epoch_unit_reaches_the_student_spec():
    config = _config()
    assert config["student"]["epoch_unit"] == "labeled"  # the authors' loop
    spec = F.student_settings(config, _wc("synthetic"))["spec"]
    assert spec["epoch_unit"] == "labeled"
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    del raw["student"]["epoch_unit"]
    config = C.validate(copy.deepcopy(raw), SCHEMA)
    assert config["student"]["epoch_unit"] == "labeled"  # the schema's default
    raw["student"]["epoch_unit"] = "unlabeled"
    config = C.validate(raw, SCHEMA)
    wc = _wc("synthetic")
    assert (
        F.student_settings(config, SimpleNamespace(**{**vars(wc), "model": "variants/kl"}))["spec"][
            "epoch_unit"
        ]
        == "unlabeled"
    )
    bad = yaml.safe_load((ROOT / "config.yaml").read_text())
    bad["student"]["epoch_unit"] = "videos"
    with pytest.raises(C.ConfigError, match=r"student\.epoch_unit = 'videos' is not allowed"):
        C.validate(bad, SCHEMA)
