"""Tests of the dataset adapters (timebalance.data.index) on fixture annotation trees."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.data.fixtures_index import (
    HMDB51_CLASSES,
    UCF101_CLASSES,
    edit_line,
    kinetics_expected,
    write_hmdb51,
    write_kinetics400,
    write_lines,
    write_ucf101,
)
from timebalance.data.index import FORMATS, OPTIONS, AnnotationError, class_names, read_index

SMALL_UCF = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
SMALL_HMDB = ("brush_hair", "cartwheel", "climb", "climb_stairs")


def rows(df: pd.DataFrame) -> list[tuple]:
    return list(df.itertuples(index=False, name=None))


def assert_index(df: pd.DataFrame, expected: list[tuple]) -> None:
    """Exact rows, in (subset, video) order, with the documented columns and dtypes."""
    assert list(df.columns) == ["video", "label", "class_name", "subset"]
    assert df["label"].dtype == "int64"
    assert list(df.index) == list(range(len(df)))
    assert rows(df) == sorted(expected, key=lambda r: (r[3], r[0]))


def counts(df: pd.DataFrame) -> tuple[int, int, int]:
    n_train, n_test = (int((df["subset"] == s).sum()) for s in ("train", "test"))
    return n_train, n_test, df["label"].nunique()


def small_ucf(root: Path, **kwargs) -> dict[int, list[tuple]]:
    return write_ucf101(root, classes=SMALL_UCF, train_total=60, test_total=25, **kwargs)


# --------------------------------------------------------------------------- ucf101


def test_ucf101_full_size_split1_matches_the_real_counts(tmp_path):
    expected = write_ucf101(tmp_path)
    df = read_index("ucf101", tmp_path, split=1)
    assert counts(df) == (9537, 3783, 101)
    assert class_names(df) == list(UCF101_CLASSES)
    assert_index(df, expected[1])
    # The class comes from the folder, the path keeps the file name's own case.
    quirk = df[df["class_name"] == "HandstandPushups"]
    assert set(quirk["label"]) == {36}
    assert quirk["video"].str.startswith("UCF-101/HandstandPushups/v_HandStandPushups_g").all()
    assert not (tmp_path / "UCF-101").exists()  # read before any video is on disk


def test_ucf101_splits_2_and_3_partition_the_same_videos(tmp_path):
    expected = small_ucf(tmp_path)
    tests = []
    for split in (2, 3):
        df = read_index("ucf101", tmp_path, split=split)
        assert_index(df, expected[split])
        tests.append(set(df.loc[df["subset"] == "test", "video"]))
    assert tests[0] and tests[1] and not tests[0] & tests[1]


def test_ucf101_paths_point_at_the_videos(tmp_path):
    small_ucf(tmp_path, touch_videos=True)
    df = read_index("ucf101", tmp_path)
    assert all((tmp_path / v).is_file() for v in df["video"])
    assert all("\\" not in v for v in df["video"])


def test_ucf101_crlf_and_lf_read_the_same(tmp_path):
    small_ucf(tmp_path / "crlf", newline="\r\n", trailing_blank=True)
    small_ucf(tmp_path / "lf", newline="\n", trailing_blank=False)
    raw = (tmp_path / "crlf/ucfTrainTestlist/trainlist01.txt").read_bytes()
    assert raw.endswith(b"\r\n\r\n")
    pd.testing.assert_frame_equal(
        read_index("ucf101", tmp_path / "crlf"), read_index("ucf101", tmp_path / "lf")
    )


def test_ucf101_order_does_not_depend_on_the_list_order(tmp_path):
    small_ucf(tmp_path)
    first = read_index("ucf101", tmp_path)
    lists = tmp_path / "ucfTrainTestlist"
    for name in ("trainlist01.txt", "testlist01.txt"):
        lines = [ln for ln in (lists / name).read_text().splitlines() if ln]
        write_lines(lists / name, lines[::-1], "\r\n")
    again = read_index("ucf101", tmp_path)
    pd.testing.assert_frame_equal(first, again)
    assert first.to_csv(index=False) == again.to_csv(index=False)
    resorted = first.sort_values(["subset", "video"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, resorted)


def test_ucf101_options_move_videos_and_lists(tmp_path):
    expected = small_ucf(tmp_path, videos_dir="videos", annotations_dir="lists")
    assert_index(
        read_index("ucf101", tmp_path, videos_dir="videos", annotations_dir="lists"),
        expected[1],
    )
    absolute = str(tmp_path / "lists")
    df = read_index("ucf101", tmp_path, videos_dir="", annotations_dir=absolute)
    assert_index(df, [(v.removeprefix("videos/"), *rest) for v, *rest in expected[1]])


def _dup_first(line: str) -> str:
    return "DUP"


UCF_ERRORS = [
    ("trainlist01.txt", 2, lambda s: "Foo/v_Foo_g08_c01.avi 1",
     r"trainlist01\.txt:2: unknown class 'Foo' \(not in classInd\.txt\); fix the line"),
    ("trainlist01.txt", 3, lambda s: s.replace(".avi 1", ".avi 2"),
     r"trainlist01\.txt:3: label 2 disagrees with classInd\.txt"),
    ("testlist01.txt", 1, lambda s: "handstandpushups/v_HandStandPushups_g01_c01.avi",
     r"testlist01\.txt:1: unknown class 'handstandpushups'"),
    ("trainlist01.txt", 4, lambda s: s + " extra", r"trainlist01\.txt:4: malformed line"),
    ("trainlist01.txt", 4, lambda s: s.replace(" 1", " one"), r"trainlist01\.txt:4: malformed"),
    ("trainlist01.txt", 5, lambda s: "/" + s, r"trainlist01\.txt:5: path .* is absolute"),
    ("testlist01.txt", 2, lambda s: "../" + s, r"testlist01\.txt:2: path .* outside the dataset"),
    ("testlist01.txt", 2, lambda s: "YoYo/../../x.avi", r"testlist01\.txt:2: .*outside"),
    ("testlist01.txt", 3, lambda s: "v_YoYo_g01_c01.avi", r"testlist01\.txt:3: malformed path"),
    ("testlist01.txt", 3, lambda s: "YoYo/a/b.avi", r"testlist01\.txt:3: malformed path"),
    ("testlist01.txt", 2, _dup_first,
     r"testlist01\.txt:2: video .* already listed at ucfTrainTestlist/testlist01\.txt:1"),
    ("classInd.txt", 2, lambda s: "2 ApplyEyeMakeup", r"classInd\.txt:2: .*listed twice"),
    ("classInd.txt", 2, lambda s: "two HandstandPushups", r"classInd\.txt:2: malformed line"),
    ("classInd.txt", 3, lambda s: "7 YoYo", r"classInd\.txt: class indices must be 1\.\.N"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "line", "edit", "message"), UCF_ERRORS)
def test_ucf101_bad_lines_name_file_and_line(tmp_path, name, line, edit, message):
    small_ucf(tmp_path)
    path = tmp_path / "ucfTrainTestlist" / name
    lines = path.read_text().splitlines()
    new = edit(lines[line - 1])
    edit_line(path, line, lines[0] if new == "DUP" else new)
    with pytest.raises(AnnotationError, match=message):
        read_index("ucf101", tmp_path)


@pytest.mark.parametrize("missing", ["classInd.txt", "trainlist01.txt", "testlist01.txt"])
def test_ucf101_missing_annotation_file_names_path_and_option(tmp_path, missing):
    small_ucf(tmp_path)
    (tmp_path / "ucfTrainTestlist" / missing).unlink()
    expected = re.escape(str(tmp_path / "ucfTrainTestlist" / missing))
    with pytest.raises(AnnotationError, match=f"{expected}.*annotations_dir"):
        read_index("ucf101", tmp_path)


def test_missing_root_is_reported(tmp_path):
    with pytest.raises(AnnotationError, match="is not a directory; set `root`"):
        read_index("ucf101", tmp_path / "nowhere")


@pytest.mark.parametrize("fmt", ["ucf101", "hmdb51"])
@pytest.mark.parametrize("split", [0, 4, "1", True, 1.0])
def test_official_split_must_be_1_to_3(tmp_path, fmt, split):
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        read_index(fmt, tmp_path, split=split)


# --------------------------------------------------------------------------- hmdb51


def test_hmdb51_full_size_split1_matches_the_real_counts(tmp_path):
    expected = write_hmdb51(tmp_path)
    df = read_index("hmdb51", tmp_path, split=1)
    assert counts(df) == (3570, 1530, 51)
    assert class_names(df) == sorted(HMDB51_CLASSES) == list(HMDB51_CLASSES)
    assert_index(df, expected[1])
    for odd in ["(", ")", "!", "#", "[", "]", "&", "+", ";", "~", "@", "two  spaces here"]:
        assert df["video"].str.contains(odd, regex=False).any(), odd
    for split in (2, 3):
        assert_index(read_index("hmdb51", tmp_path, split=split), expected[split])


def test_hmdb51_videos_dir_and_crlf(tmp_path):
    expected = write_hmdb51(
        tmp_path, classes=SMALL_HMDB, n_train=4, n_test=2, n_unused=1, newline="\r\n",
        videos_dir="hmdb51_org", touch_videos=True,
    )  # fmt: skip
    df = read_index("hmdb51", tmp_path, videos_dir="hmdb51_org")
    assert_index(df, expected[1])
    assert counts(df) == (16, 8, 4)
    assert all((tmp_path / v).is_file() for v in df["video"])


def small_hmdb(root: Path) -> Path:
    write_hmdb51(root, classes=SMALL_HMDB, n_train=4, n_test=2, n_unused=1)
    return root / "testTrainMulti_7030_splits"


HMDB_ERRORS = [
    (lambda s: s.rstrip()[:-1] + "3", r"malformed line .*expected '<video name> <0\|1\|2>'"),
    (lambda s: s.rsplit(None, 1)[0], r"malformed line"),
    (lambda s: "/abs/" + s, r"path '/abs/.*' is absolute"),
    (lambda s: "../" + s, r"outside the dataset root"),
    (lambda s: ".. 1", r"outside the dataset root"),
    (lambda s: "sub/" + s, r"is not a file name"),
]


@pytest.mark.parametrize(("edit", "message"), HMDB_ERRORS)
def test_hmdb51_bad_lines_name_file_and_line(tmp_path, edit, message):
    lists = small_hmdb(tmp_path)
    path = lists / "climb_test_split1.txt"
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if s.endswith("1 "))
    edit_line(path, line, edit(path.read_text().splitlines()[line - 1]))
    with pytest.raises(AnnotationError, match=rf"climb_test_split1\.txt:{line}: .*{message}"):
        read_index("hmdb51", tmp_path)


def test_hmdb51_duplicate_video_names_both_lines(tmp_path):
    path = small_hmdb(tmp_path) / "cartwheel_test_split1.txt"
    first = path.read_text().splitlines()[0].replace(" 0 ", " 1 ")
    edit_line(path, 1, first)
    edit_line(path, 2, first)
    with pytest.raises(AnnotationError, match=r"split1\.txt:2: video .* already listed at .*:1"):
        read_index("hmdb51", tmp_path)


def test_hmdb51_missing_split_files(tmp_path):
    lists = small_hmdb(tmp_path)
    (lists / "cartwheel_test_split2.txt").unlink()
    assert counts(read_index("hmdb51", tmp_path, split=1)) == (16, 8, 4)
    with pytest.raises(AnnotationError, match=r"cartwheel_test_split2\.txt.* is missing"):
        read_index("hmdb51", tmp_path, split=2)
    with pytest.raises(AnnotationError, match=r"no '<class>_test_split1\.txt'.*annotations_dir"):
        read_index("hmdb51", tmp_path, annotations_dir="elsewhere")


# --------------------------------------------------------------------------- kinetics400


def test_kinetics400_every_validation_row(tmp_path):
    written = write_kinetics400(tmp_path, n_classes=400, val_rows=19906)
    df = read_index("kinetics400", tmp_path)
    assert counts(df) == (0, 19906, 400)
    assert_index(df, kinetics_expected(written))
    assert class_names(df) == sorted({r[0] for r in written["test"]})
    assert df["video"].str.contains("/-").any()  # ids starting with '-' kept intact
    assert "massaging person's head" in set(df["class_name"])
    assert "dancing, gangnam style" in set(df["class_name"])


def test_kinetics400_train_and_val_class_list_from_train(tmp_path):
    written = write_kinetics400(tmp_path, n_classes=12, train_rows=48, val_rows=24)
    df = read_index("kinetics400", tmp_path, split=3)  # split is ignored
    assert counts(df) == (48, 24, 12)
    assert_index(df, kinetics_expected(written))
    video = df.loc[df["class_name"] == "tying knot (not on a tie)", "video"].iloc[0]
    assert re.fullmatch(r"(train|val)/tying knot \(not on a tie\)/.{11}_\d{6}_\d{6}\.mp4", video)


def test_kinetics400_val_csv_spelling_and_both_present(tmp_path):
    written = write_kinetics400(tmp_path, n_classes=5, val_rows=10, val_name="val.csv")
    assert_index(read_index("kinetics400", tmp_path), kinetics_expected(written))
    ann = tmp_path / "annotations"
    (ann / "validate.csv").write_bytes((ann / "val.csv").read_bytes())
    with pytest.raises(AnnotationError, match=r"both validate\.csv and val\.csv.*`val_csv`"):
        read_index("kinetics400", tmp_path)
    assert len(read_index("kinetics400", tmp_path, val_csv="val.csv")) == 10


def test_kinetics400_path_options(tmp_path):
    written = write_kinetics400(tmp_path / "k", n_classes=9, train_rows=9, val_rows=9)
    ann = str(tmp_path / "k" / "annotations")
    df = read_index(
        "kinetics400", tmp_path, annotations_dir=ann, label_dir_style="underscore",
        split_dirs={"test": "validation"},
    )  # fmt: skip
    videos = set(df["video"])
    for subset, label, folder in [
        ("train", "passing American football (in game)", "passing_American_football_in_game"),
        ("validation", "massaging person's head", "massaging_persons_head"),
        ("train", "using remote controller (not gaming)", "using_remote_controller_not_gaming"),
    ]:
        rec = next(r for r in written["train" if subset == "train" else "test"] if r[0] == label)
        assert f"{subset}/{folder}/{rec[1]}_{rec[2]:06d}_{rec[3]:06d}.mp4" in videos
    df = read_index("kinetics400", tmp_path / "k", path_template="{subset}/{youtube_id}.mp4")
    assert set(df["video"]) == {f"{s}/{r[1]}.mp4" for s in written for r in written[s]}


def test_kinetics400_five_column_csv_without_split_or_is_cc(tmp_path):
    lines = ["label,youtube_id,time_start,time_end", '"air drumming",-xyz_123AB,14.0,24', ""]
    write_lines(tmp_path / "annotations" / "train.csv", lines, "\r\n")
    df = read_index("kinetics400", tmp_path)
    assert rows(df) == [("train/air drumming/-xyz_123AB_000014_000024.mp4", 0, "air drumming",
                         "train")]  # fmt: skip


KINETICS_ERRORS = [
    (3, lambda s: '"air drumming",abcdefghijk,abc,24,val,0', "malformed time_start 'abc'"),
    (3, lambda s: "yoga,abcdefghijk,14.5,24,val,0", "malformed time_start '14.5'"),
    (3, lambda s: "yoga,abcdefghijk,14,24,val", "malformed line: 5 fields, the header has 6"),
    (3, lambda s: "yoga,abcdefghijk,14,24,train,0", "split 'train' does not belong"),
    (3, lambda s: "yoga,,14,24,val,0", "malformed line: empty label or bad youtube_id"),
    (3, lambda s: '"new class",abcdefghijk,14,24,val,0', "unknown class 'new class'"),
    (1, lambda s: "youtube_id,time_start,time_end,split", "header lacks column.s. label"),
]


@pytest.mark.parametrize(("line", "edit", "message"), KINETICS_ERRORS)
def test_kinetics400_bad_lines_name_file_and_line(tmp_path, line, edit, message):
    write_kinetics400(tmp_path, n_classes=9, train_rows=9, val_rows=9)
    path = tmp_path / "annotations" / "validate.csv"
    edit_line(path, line, edit(path.read_text().splitlines()[line - 1]))
    with pytest.raises(AnnotationError, match=rf"annotations/validate\.csv:{line}: .*{message}"):
        read_index("kinetics400", tmp_path)


def test_kinetics400_missing_files_and_bad_options(tmp_path):
    with pytest.raises(AnnotationError, match=r"neither .*train\.csv.*`annotations_dir`"):
        read_index("kinetics400", tmp_path)
    write_kinetics400(tmp_path, n_classes=3, val_rows=3)
    with pytest.raises(AnnotationError, match=r"train csv not found .*mine\.csv.*`train_csv`"):
        read_index("kinetics400", tmp_path, train_csv="mine.csv")
    with pytest.raises(AnnotationError, match="header lacks column"):  # test.csv has no labels
        read_index("kinetics400", tmp_path, val_csv="test.csv")
    header = "label,youtube_id,time_start,time_end"
    write_lines(tmp_path / "esc/annotations/train.csv", [header, "../..,abcdefghijk,1,2"])
    with pytest.raises(AnnotationError, match=r"train\.csv:2: path .* outside the dataset root"):
        read_index("kinetics400", tmp_path / "esc")
    bad = [
        ({"label_dir_style": "snake"}, "label_dir_style"),
        ({"path_template": "{split}/{foo}.mp4"}, r"path_template.*\{youtube_id\}"),
        ({"path_template": "{}.mp4"}, "path_template"),
        ({"split_dirs": {"val": "x"}}, "split_dirs"),
        ({"annotation_dir": "x"}, "unknown option.*'annotation_dir'.*allowed: annotations_dir"),
    ]
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            read_index("kinetics400", tmp_path, **options)


# --------------------------------------------------------------------------- csv


def test_csv_index(tmp_path):
    lines = [
        "path,label,subset",
        "b/2.mp4,walk,test",
        "",
        "a/1.mp4,run,train",
        "c/3.mp4,jump,train",
    ]
    write_lines(tmp_path / "index.csv", lines, "\r\n")
    df = read_index("csv", tmp_path, split=9)  # split is ignored
    assert_index(df, [("b/2.mp4", 2, "walk", "test"), ("a/1.mp4", 1, "run", "train"),
                      ("c/3.mp4", 0, "jump", "train")])  # fmt: skip
    assert class_names(df) == ["jump", "run", "walk"]
    write_lines(tmp_path / "lists" / "mine.csv", ["label,path", "run,./x/y.mp4"])
    df = read_index("csv", tmp_path, file="lists/mine.csv")
    assert rows(df) == [("x/y.mp4", 0, "run", "train")]  # subset defaults to train
    (tmp_path / "elsewhere").mkdir()
    absolute = read_index("csv", tmp_path / "elsewhere", file=str(tmp_path / "lists/mine.csv"))
    assert rows(absolute) == rows(df)


CSV_ERRORS = [
    (["a.mp4,run", "b.mp4,walk"], 1, "header 'a.mp4,run' must be 'path,label'"),
    (["path,label,sub", "a.mp4,run,test"], 1, "header"),
    (["path,label,subset", "a.mp4,run,train", "b.mp4,run,val"], 3, "subset 'val' must be"),
    (["path,label,subset", "a.mp4,run,"], 2, "subset '' must be"),
    (["path,label", "/data/a.mp4,run"], 2, "path '/data/a.mp4' is absolute"),
    (["path,label", "ok.mp4,run", "../a.mp4,run"], 3, "outside the dataset root"),
    (["path,label", "a\\b.mp4,run"], 2, "uses '\\\\'; use '/' separators"),
    (["path,label", "a.mp4,"], 2, "empty label"),
    (["path,label", "a.mp4,run,x"], 2, "malformed line: 3 fields"),
    (["path,label", "a.mp4,run", "./a.mp4,walk"], 3, "already listed at index.csv:2"),
]


@pytest.mark.parametrize(("lines", "line", "message"), CSV_ERRORS)
def test_csv_bad_lines_name_file_and_line(tmp_path, lines, line, message):
    write_lines(tmp_path / "index.csv", lines)
    with pytest.raises(AnnotationError, match=rf"^index\.csv:{line}: .*{message}"):
        read_index("csv", tmp_path)


def test_csv_missing_or_empty_file(tmp_path):
    with pytest.raises(AnnotationError, match=r"index\.csv.*option `file`"):
        read_index("csv", tmp_path)
    write_lines(tmp_path / "index.csv", ["path,label"])
    with pytest.raises(AnnotationError, match="list no videos"):
        read_index("csv", tmp_path)


# --------------------------------------------------------------------------- common


def test_formats_and_unknown_format(tmp_path):
    assert FORMATS == ("ucf101", "hmdb51", "kinetics400", "csv") == tuple(OPTIONS)
    with pytest.raises(ValueError, match="ucf101, hmdb51, kinetics400, csv"):
        read_index("ucf-101", tmp_path)


def test_class_names_survive_filtering_and_csv_round_trip(tmp_path):
    small_ucf(tmp_path)
    df = read_index("ucf101", tmp_path)
    assert class_names(df) == list(SMALL_UCF)
    only_yoyo = df[df["class_name"] == "YoYo"]
    assert class_names(only_yoyo) == list(SMALL_UCF)  # full list kept in attrs
    (tmp_path / "index.csv").write_text(df.to_csv(index=False))
    assert class_names(pd.read_csv(tmp_path / "index.csv")) == list(SMALL_UCF)
    with pytest.raises(ValueError, match=r"no row has label\(s\) \[0, 1\]"):
        class_names(pd.read_csv(tmp_path / "index.csv").query("label == 2"))
    clash = df.copy()
    clash.loc[0, "class_name"] = "Other"
    with pytest.raises(ValueError, match="class 'Other'"):
        class_names(clash)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_identically_twice(tmp_path, fmt):
    if fmt == "ucf101":
        small_ucf(tmp_path)
    elif fmt == "hmdb51":
        small_hmdb(tmp_path)
    elif fmt == "kinetics400":
        write_kinetics400(tmp_path, n_classes=9, train_rows=18, val_rows=9)
    else:
        write_lines(tmp_path / "index.csv", ["path,label", "z.mp4,b", "y.mp4,a", "x.mp4,b"])
    first, second = read_index(fmt, tmp_path), read_index(fmt, tmp_path)
    assert first.to_csv(index=False) == second.to_csv(index=False)
    keys = list(zip(first["subset"], first["video"], strict=True))
    assert keys == sorted(keys)
