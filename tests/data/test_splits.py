"""Split lists: budgets, class balance, disjointness, reproducibility, external lists."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest

from tests.data.frame_folders import manifest_rows
from timebalance.data.splits import (
    LIST_NAMES,
    Budget,
    LabeledListError,
    make_splits,
    parse_budget,
    read_split,
    write_splits,
)

# Class sizes chosen for the rounding edge cases: 50 x 5% = 2.5 (half-up -> 3, banker's -> 2),
# 7 x 5% = 0.35 (the 1-minimum), 2 train videos (no val: fewer than 3).
COUNTS = {"Archery": (50, 6), "Bowling": (7, 3), "Cycling": (33, 4), "Diving": (101, 5)}
COUNTS_SMALL = COUNTS | {"Eating": (2, 1)}


def half_up(x: Fraction) -> int:
    return int(x + Fraction(1, 2))  # floor(x + 1/2) for x >= 0


def train_ids(manifest: pd.DataFrame, name: str | None = None) -> set[str]:
    rows = manifest[(manifest["subset"] == "train") & manifest["status"].isin(["ok", "truncated"])]
    if name is not None:
        rows = rows[rows["class_name"] == name]
    return set(rows["video_id"])


def by_class(df: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, set[str]]:
    names = dict(zip(manifest["video_id"], manifest["class_name"], strict=True))
    out: dict[str, set[str]] = {}
    for vid in df["video_id"]:
        out.setdefault(names[vid], set()).add(vid)
    return out


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("1pct", "pct", 1),
        ("0.5pct", "pct", Fraction(1, 2)),
        ("20pct", "pct", 20),
        ("50pct", "pct", 50),
        ("4perclass", "perclass", 4),
        (" 5pct ", "pct", 5),
    ],
)
def test_parse_budget_accepts(text, kind, value):
    budget = parse_budget(text)
    assert isinstance(budget, Budget)
    assert budget.kind == kind
    assert Fraction(str(budget.value)) == value


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("5%", '"5pct"'),
        ("5 percent", '"5pct"'),
        ("4 per class", '"4perclass"'),
        ("five", "<p>pct"),
        ("0pct", "(0, 100]"),
        ("101pct", "(0, 100]"),
        ("0perclass", "1"),
        ("", "<p>pct"),
        ("-5pct", "<p>pct"),
        ("5pctx", "<p>pct"),
    ],
)
def test_parse_budget_rejects_with_hint(text, hint):
    with pytest.raises(ValueError, match="budget") as err:
        parse_budget(text)
    assert hint in str(err.value)


@pytest.mark.parametrize("budget", ["0.5pct", "1pct", "5pct", "10pct", "20pct", "50pct"])
def test_pct_budget_is_class_balanced(budget):
    manifest = manifest_rows(COUNTS_SMALL)
    splits = make_splits(manifest, budget=budget, seed=3)
    p = Fraction(budget.removesuffix("pct"))
    labeled = by_class(splits["labeled"], manifest)
    val = by_class(splits["val"], manifest)
    for name, (n, _) in COUNTS_SMALL.items():
        assert len(labeled[name]) == max(1, half_up(p * n / 100)), name
        expected_val = 0 if n < 3 else max(1, half_up(Fraction(1, 10) * n))
        assert len(val.get(name, ())) == expected_val, name


def test_half_up_rounding_and_minimum_one():
    splits = make_splits(manifest_rows(COUNTS), budget="5pct", seed=0)
    per_class = {c["class_name"]: c for c in splits.info["per_class"]}
    assert per_class["Archery"]["labeled"] == 3  # 2.5 rounds up
    assert per_class["Bowling"]["labeled"] == 1  # 0.35 -> at least one


@pytest.mark.parametrize("k", [1, 3])
def test_perclass_budget(k):
    manifest = manifest_rows(COUNTS)
    splits = make_splits(manifest, budget=f"{k}perclass", seed=5)
    counts = {name: len(v) for name, v in by_class(splits["labeled"], manifest).items()}
    assert counts == dict.fromkeys(COUNTS, k)


def test_lists_are_disjoint_and_cover_the_usable_training_split():
    status = {"Archery/v_Archery_train_g04": "corrupt", "Diving/v_Diving_train_g10": "truncated"}
    status |= {"Cycling/v_Cycling_test_g01": "missing", "Bowling/v_Bowling_train_g00": "empty"}
    manifest = manifest_rows(COUNTS, status=status)
    splits = make_splits(manifest, budget="10pct", seed=1)
    ids = {k: list(splits[k]["video_id"]) for k in LIST_NAMES}
    for k in LIST_NAMES:
        assert len(ids[k]) == len(set(ids[k])), k
        assert list(splits[k].columns) == ["video_id", "label", "n_frames"]
    lab, unl, val = (set(ids[k]) for k in ("labeled", "unlabeled", "val"))
    assert not lab & unl and not lab & val and not unl & val
    assert lab | unl | val == train_ids(manifest)
    assert "Diving/v_Diving_train_g10" in lab | unl | val  # truncated videos are usable
    usable_test = manifest[(manifest["subset"] == "test") & (manifest["status"] == "ok")]
    assert set(ids["test"]) == set(usable_test["video_id"])
    assert splits.info["excluded"] == 3
    assert splits.info["excluded_by_subset"] == {"train": 2, "test": 1}
    labels = dict(zip(manifest["video_id"], manifest["label"], strict=True))
    for k in LIST_NAMES:  # unlabeled keeps its true label (diagnostics only)
        assert all(labels[v] == lab_ for v, lab_ in splits[k][["video_id", "label"]].values)


def write_both(tmp_path: Path, manifest: pd.DataFrame, name: str, **kw) -> dict[str, bytes]:
    out = tmp_path / name
    splits = make_splits(manifest, **kw)
    write_splits(splits, out, budget=kw["budget"], seed=kw["seed"])
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_inputs_give_identical_bytes(tmp_path):
    manifest = manifest_rows(COUNTS)
    shuffled = manifest.sample(frac=1.0, random_state=7).reset_index(drop=True)
    a = write_both(tmp_path, manifest, "a", budget="5pct", seed=2)
    b = write_both(tmp_path, shuffled, "b", budget="5pct", seed=2)
    assert sorted(a) == ["labeled.csv", "splits.json", "test.csv", "unlabeled.csv", "val.csv"]
    assert a == b
    for name, data in a.items():
        assert b"\r" not in data, name
        assert data.endswith(b"\n"), name


def test_splits_json_records_counts_and_hashes(tmp_path):
    manifest = manifest_rows(COUNTS, status={"Diving/v_Diving_test_g00": "corrupt"})
    splits = make_splits(manifest, budget="2perclass", seed=4)
    summary = write_splits(splits, tmp_path, budget="2perclass", seed=4, extra={"dataset": "x"})
    on_disk = json.loads((tmp_path / "splits.json").read_text())
    assert on_disk == summary
    assert on_disk["budget"] == "2perclass" and on_disk["seed"] == 4
    assert on_disk["dataset"] == "x" and on_disk["excluded"] == 1
    assert on_disk["labeled_per_class"] == {"0": 2, "1": 2, "2": 2, "3": 2}
    for name in LIST_NAMES:
        data = (tmp_path / f"{name}.csv").read_bytes()
        assert on_disk["sha256"][f"{name}.csv"] == hashlib.sha256(data).hexdigest()
        assert on_disk["counts"][name] == len(read_split(tmp_path / f"{name}.csv"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_different_seeds_pick_different_videos():
    manifest = manifest_rows(COUNTS)
    a = make_splits(manifest, budget="10pct", seed=0)
    b = make_splits(manifest, budget="10pct", seed=1)
    assert set(a["labeled"]["video_id"]) != set(b["labeled"]["video_id"])
    assert set(a["val"]["video_id"]) != set(b["val"]["video_id"])
    assert a["test"].equals(b["test"])


def test_adding_a_class_leaves_other_classes_picks_unchanged():
    base = manifest_rows(COUNTS)
    # "Aaa" sorts first, so every other class's label shifts by one.
    more = manifest_rows(COUNTS | {"Aaa": (40, 2)})
    a = make_splits(base, budget="10pct", seed=9)
    b = make_splits(more, budget="10pct", seed=9)
    for k in ("labeled", "val", "unlabeled"):
        picked_a = by_class(a[k], base)
        picked_b = by_class(b[k], more)
        assert {c: picked_b[c] for c in COUNTS} == picked_a, k


def test_val_is_shared_by_budgets_and_labeled_lists_are_nested():
    manifest = manifest_rows(COUNTS)
    small = make_splits(manifest, budget="5pct", seed=6)
    large = make_splits(manifest, budget="20pct", seed=6)
    assert small["val"].equals(large["val"])
    assert set(small["labeled"]["video_id"]) < set(large["labeled"]["video_id"])


def test_val_fraction_zero_gives_no_val():
    splits = make_splits(manifest_rows(COUNTS), budget="10pct", seed=0, val_fraction=0)
    assert splits["val"].empty and list(splits["val"].columns) == ["video_id", "label", "n_frames"]


def test_budget_too_large_for_a_class_is_an_error():
    with pytest.raises(ValueError, match=r"'Bowling'.*7 usable training videos"):
        make_splits(manifest_rows(COUNTS), budget="7perclass", seed=0)
    with pytest.raises(ValueError, match="val_fraction"):
        make_splits(manifest_rows(COUNTS), budget="5pct", seed=0, val_fraction=1.0)
    with pytest.raises(ValueError, match="seed"):
        make_splits(manifest_rows(COUNTS), budget="5pct", seed=-1)


def test_external_labeled_list(tmp_path):
    manifest = manifest_rows(COUNTS)
    lines = [
        "# labeled videos published by another paper",
        "UCF-101/Archery/v_Archery_train_g03.avi 1",  # root prefix, extension, label column
        "Bowling/v_Bowling_train_g05",  # plain id
        "",
        "Cycling\\v_Cycling_train_g00.avi 3  # windows separators, trailing comment",
        "v_Diving_train_g17.avi",  # bare file name, unique in the manifest
        "Bowling/v_Bowling_train_g05.avi",  # duplicate entry
    ]
    listing = tmp_path / "labeled.txt"
    listing.write_bytes("\r\n".join(lines).encode())
    splits = make_splits(manifest, budget="1perclass", seed=0, labeled_list=listing)
    expected = {
        "Archery/v_Archery_train_g03",
        "Bowling/v_Bowling_train_g05",
        "Cycling/v_Cycling_train_g00",
        "Diving/v_Diving_train_g17",
    }
    assert set(splits["labeled"]["video_id"]) == expected
    val, unl = set(splits["val"]["video_id"]), set(splits["unlabeled"]["video_id"])
    assert not val & expected and not unl & expected and not val & unl
    assert val | unl | expected == train_ids(manifest)
    assert len(val) == sum(max(1, half_up(Fraction(n, 10))) for n, _ in COUNTS.values())
    assert splits.info["labeled_list"] == str(listing)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("Archery/v_Archery_test_g01.avi", "in the test subset"),
        ("Archery/v_Nope_train_g01.avi", "not a video of this dataset"),
        ("Archery/v_Archery_train_g02.avi", "status 'corrupt'"),
    ],
)
def test_external_labeled_list_errors_name_file_and_line(tmp_path, entry, message):
    manifest = manifest_rows(COUNTS, status={"Archery/v_Archery_train_g02": "corrupt"})
    listing = tmp_path / "list.txt"
    listing.write_text(f"# header\nBowling/v_Bowling_train_g01.avi\n{entry}\n")
    with pytest.raises(LabeledListError, match=message) as err:
        make_splits(manifest, budget="5pct", seed=0, labeled_list=listing)
    assert f"{listing}:3" in str(err.value)


def test_read_split_validates_columns_and_keeps_ids_as_text(tmp_path):
    good = tmp_path / "ok.csv"
    good.write_text("video_id,label,n_frames\nNA,3,40\n007,1,12\n")
    df = read_split(good)
    assert df["video_id"].tolist() == ["NA", "007"]
    assert df["label"].dtype == "int64" and df["n_frames"].tolist() == [40, 12]
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,label\na,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*n_frames"):
        read_split(bad)
    bad.write_text("video_id,label,n_frames\na,1,x\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2.*n_frames"):
        read_split(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match=r"bad\.csv: empty"):
        read_split(bad)


def test_lists_without_unlabeled_or_val_videos_are_refused_at_split_time():
    """The config cannot know a real dataset's class sizes: the split step refuses lists a
    training job would fail on, with the real counts (issue 10)."""
    small = {"Archery": (4, 1), "Bowling": (4, 1)}  # 4 train videos: 1 val, 3 labeled at 75%
    with pytest.raises(ValueError, match=r"budget 75pct leaves no unlabeled training video"):
        make_splits(manifest_rows(small), budget="75pct", seed=0)
    tiny = {"Archery": (2, 1), "Bowling": (2, 1)}  # < 3 training videos: no val per class
    with pytest.raises(ValueError, match=r"val_fraction 0.1 holds out no validation video"):
        make_splits(manifest_rows(tiny), budget="1perclass", seed=0)
    splits = make_splits(manifest_rows(small), budget="50pct", seed=0)
    assert [len(splits[k]) for k in ("labeled", "unlabeled", "val")] == [4, 2, 2]
