"""`annotation_files` names exactly the files `read_index` reads (the index rule's inputs)."""

from __future__ import annotations

import builtins
import pathlib
import re
from pathlib import Path

import pytest

from tests.data.fixtures_index import write_hmdb51, write_kinetics400, write_lines, write_ucf101
from timebalance.data.index import AnnotationError, annotation_files, read_index

SMALL_UCF = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
SMALL_HMDB = ("brush_hair", "cartwheel", "climb")
BAD_LINE = "a b c d,e,f,g,h,i,j"  # malformed in every format


def _ucf(root: Path) -> None:
    write_ucf101(root, classes=SMALL_UCF, train_total=30, test_total=12)


def _ucf_custom_dir(root: Path) -> None:
    write_ucf101(root, classes=SMALL_UCF, train_total=30, test_total=12, annotations_dir="lists")


def _hmdb(root: Path) -> None:
    write_hmdb51(root, classes=SMALL_HMDB, n_train=3, n_test=2, n_unused=1)


def _kinetics_both(root: Path) -> None:
    write_kinetics400(root, n_classes=4, train_rows=8, val_rows=4)


def _kinetics_val_only(root: Path) -> None:
    write_kinetics400(root, n_classes=4, val_rows=4, val_name="val.csv")


def _csv(root: Path) -> None:
    write_lines(
        root / "lists" / "mine.csv", ["path,label,subset", "a.mp4,run,train", "b.mp4,x,test"]
    )


UCF, HMDB = "ucfTrainTestlist", "testTrainMulti_7030_splits"
# (fixture, format, split, options, expected files relative to the root)
CASES = [
    (_ucf, "ucf101", 1, {}, [f"{UCF}/classInd.txt", f"{UCF}/trainlist01.txt",
                             f"{UCF}/testlist01.txt"]),
    (_ucf, "ucf101", 3, {}, [f"{UCF}/classInd.txt", f"{UCF}/trainlist03.txt",
                             f"{UCF}/testlist03.txt"]),
    (_ucf_custom_dir, "ucf101", 2, {"annotations_dir": "lists"},
     ["lists/classInd.txt", "lists/trainlist02.txt", "lists/testlist02.txt"]),
    (_hmdb, "hmdb51", 2, {}, [f"{HMDB}/{c}_test_split2.txt" for c in SMALL_HMDB]),
    (_kinetics_both, "kinetics400", 1, {}, ["annotations/train.csv", "annotations/validate.csv"]),
    (_kinetics_val_only, "kinetics400", 1, {}, ["annotations/val.csv"]),
    (_csv, "csv", 1, {"file": "lists/mine.csv"}, ["lists/mine.csv"]),
]  # fmt: skip


def _opened_by_read_index(monkeypatch, fmt, root, split, options) -> set[Path]:
    """Every file read_index opens, whichever way it opens it."""
    opened: set[Path] = set()
    path_open, plain_open = pathlib.Path.open, builtins.open

    def record_path(self, *args, **kwargs):
        opened.add(Path(self).resolve())
        return path_open(self, *args, **kwargs)

    def record_plain(file, *args, **kwargs):
        if isinstance(file, str | Path):
            opened.add(Path(file).resolve())
        return plain_open(file, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", record_path)
    monkeypatch.setattr(builtins, "open", record_plain)
    try:
        read_index(fmt, root, split, **options)
    finally:
        monkeypatch.undo()
    return opened


@pytest.mark.parametrize(("make", "fmt", "split", "options", "expected"), CASES)
def test_annotation_files_are_the_files_read_index_opens(
    tmp_path, monkeypatch, make, fmt, split, options, expected
):
    make(tmp_path)
    listed = annotation_files(fmt, tmp_path, split, options)
    assert listed == [tmp_path / f for f in expected]
    opened = _opened_by_read_index(monkeypatch, fmt, tmp_path, split, options)
    assert opened == {p.resolve() for p in listed}


@pytest.mark.parametrize(("make", "fmt", "split", "options", "expected"), CASES)
def test_editing_a_listed_file_changes_the_index(tmp_path, make, fmt, split, options, expected):
    make(tmp_path)
    before = read_index(fmt, tmp_path, split, **options)
    for path in annotation_files(fmt, tmp_path, split, options):
        original = path.read_bytes()
        path.write_bytes(original + f"\n{BAD_LINE}\n".encode())
        with pytest.raises(AnnotationError, match=re.escape(path.relative_to(tmp_path).as_posix())):
            read_index(fmt, tmp_path, split, **options)
        path.write_bytes(original)
    after = read_index(fmt, tmp_path, split, **options)
    assert after.to_csv(index=False) == before.to_csv(index=False)


def test_files_of_other_splits_are_not_listed_and_do_not_matter(tmp_path):
    _ucf(tmp_path)
    before = read_index("ucf101", tmp_path, 1).to_csv(index=False)
    other = tmp_path / "ucfTrainTestlist" / "trainlist02.txt"
    assert other not in annotation_files("ucf101", tmp_path, 1)
    other.write_text(BAD_LINE)
    assert read_index("ucf101", tmp_path, 1).to_csv(index=False) == before


def test_lists_of_a_dataset_not_generated_yet(tmp_path):
    """A generated dataset's lists are outputs of an earlier rule: named before they exist."""
    ann = tmp_path / "synthetic" / "ucfTrainTestlist"
    assert annotation_files("ucf101", tmp_path / "synthetic") == [
        ann / "classInd.txt",
        ann / "trainlist01.txt",
        ann / "testlist01.txt",
    ]
    assert annotation_files("csv", tmp_path) == [tmp_path / "index.csv"]
    assert annotation_files("hmdb51", tmp_path) == []  # found by listing: none yet


def test_kinetics_named_csvs_are_listed_even_when_missing(tmp_path):
    _kinetics_val_only(tmp_path)
    ann = tmp_path / "annotations"
    options = {"train_csv": "mine.csv", "val_csv": "val.csv"}
    assert annotation_files("kinetics400", tmp_path, 1, options) == [
        ann / "mine.csv",
        ann / "val.csv",
    ]
    (ann / "validate.csv").write_bytes((ann / "val.csv").read_bytes())
    with pytest.raises(AnnotationError, match=r"both validate\.csv and val\.csv"):
        annotation_files("kinetics400", tmp_path)


def test_annotation_files_checks_format_options_and_split(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format"):
        annotation_files("ucf-101", tmp_path)
    with pytest.raises(ValueError, match=r"unknown option.*'annotation_dir'"):
        annotation_files("ucf101", tmp_path, 1, {"annotation_dir": "x"})
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        annotation_files("hmdb51", tmp_path, 4)
