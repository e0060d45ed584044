"""Dataset adapters: read a dataset's annotation files into one index table.

``read_index(fmt, root, split, **options)`` returns a DataFrame with one row per video:
``video`` (path relative to ``root``, POSIX separators), ``label`` (0-based int),
``class_name`` and ``subset`` ("train" or "test"), sorted by (subset, video). Only the
annotation files are read: whether each video exists is checked and reported by frame
extraction, so an index can be read before the videos are downloaded.

Every problem in an annotation file raises ``AnnotationError`` naming the file and line
("ucfTrainTestlist/trainlist01.txt:17: ...") and how to fix it; file names are shown
relative to ``root`` when they lie inside it. docs/datasets.md describes each layout.
"""

from __future__ import annotations

import csv
import math
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = ("ucf101", "hmdb51", "kinetics400", "csv")
SUBSETS = ("train", "test")

# Options of each format with their defaults (docs/datasets.md lists the same).
OPTIONS: dict[str, dict[str, Any]] = {
    "ucf101": {"videos_dir": "UCF-101", "annotations_dir": "ucfTrainTestlist"},
    "hmdb51": {"videos_dir": "", "annotations_dir": "testTrainMulti_7030_splits"},
    "kinetics400": {
        "annotations_dir": "annotations",
        "train_csv": "train.csv",
        "val_csv": None,  # None: validate.csv or val.csv, whichever exists
        "path_template": "{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
        "split_dirs": {"train": "train", "test": "val"},
        "label_dir_style": "raw",
    },
    "csv": {"file": "index.csv"},
}

_KINETICS_SPLIT = {"train": ("train",), "test": ("val", "validate")}
_TEMPLATE_FIELDS = ("split", "subset", "label", "youtube_id", "time_start", "time_end")
_HMDB_FILE = re.compile(r"(?P<cls>.+)_test_split(?P<n>[0-9]+)\.txt")


class AnnotationError(ValueError):
    """An annotation file is missing or one of its lines is bad (unknown class, malformed
    line, path outside the root). The message names the file and line and how to fix it."""


class _Rows:
    """Index rows being collected, with where each video was listed (for duplicate errors)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str, str]] = []
        self.origin: dict[str, str] = {}

    def add(self, video: str, label: int, class_name: str, subset: str, where: str) -> None:
        if video in self.origin:
            raise AnnotationError(
                f"{where}: video {video!r} is already listed at {self.origin[video]}; "
                "remove one of the two lines"
            )
        self.origin[video] = where
        self.rows.append((video, label, class_name, subset))


def read_index(fmt: str, root: str | Path, split: int = 1, **options: Any) -> pd.DataFrame:
    """Read the annotation files of a dataset into an index table.

    Args:
        fmt: one of ``FORMATS``: "ucf101", "hmdb51", "kinetics400" or "csv".
        root: dataset root; the ``video`` column is relative to it.
        split: official split 1..3 for ucf101 / hmdb51; ignored for kinetics400 / csv.
        **options: format options (``OPTIONS[fmt]`` holds the names and defaults).

    Returns:
        DataFrame with columns video (str), label (int64, 0-based), class_name (str),
        subset ("train" | "test"), sorted by (subset, video), index 0..N-1. The full class
        list (label order) is also kept in ``df.attrs["class_names"]``; see ``class_names``.

    Raises:
        ValueError: unknown format, option or option value, or a bad ``split``.
        AnnotationError: a missing annotation file or a bad line (file and line named).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - set(OPTIONS[fmt]))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for format {fmt!r}; "
            f"allowed: {', '.join(OPTIONS[fmt])}"
        )
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(f"dataset root {str(root)!r} is not a directory; set `root`")
    bad_split = isinstance(split, bool) or not isinstance(split, int) or not 1 <= split <= 3
    if fmt in ("ucf101", "hmdb51") and bad_split:
        raise ValueError(f"{fmt}: split must be 1, 2 or 3 (the official splits), got {split!r}")
    rows, classes = _READERS[fmt](root, split, **{**OPTIONS[fmt], **options})
    if not rows.rows:
        raise AnnotationError(f"{fmt}: the annotation files under {str(root)!r} list no videos")
    table = sorted(rows.rows, key=lambda r: (r[3], r[0]))
    df = pd.DataFrame(table, columns=["video", "label", "class_name", "subset"])
    df = df.astype({"video": str, "label": "int64", "class_name": str, "subset": str})
    df.attrs["class_names"] = list(classes)
    return df


def class_names(df: pd.DataFrame) -> list[str]:
    """Class names in label order (``result[label] == class_name``).

    Uses the full class list that ``read_index`` stored in ``df.attrs`` (so a class with no
    rows in a filtered table keeps its place); a table without it (e.g. read back from CSV)
    must contain every label 0..K-1.
    """
    pairs = df[["label", "class_name"]].drop_duplicates()
    names = df.attrs.get("class_names")
    if names is None:
        by_label = dict(zip(pairs["label"].astype(int), pairs["class_name"], strict=True))
        if len(by_label) != len(pairs):
            raise ValueError("index maps one label to several class names")
        missing = sorted(set(range(max(by_label, default=-1) + 1)) - set(by_label))
        if missing:
            raise ValueError(
                f"labels must be 0..K-1 to name the classes; no row has label(s) {missing}"
            )
        names = [by_label[i] for i in range(len(by_label))]
    for label, name in zip(pairs["label"].astype(int), pairs["class_name"], strict=True):
        if not 0 <= label < len(names) or names[label] != name:
            raise ValueError(f"index row with label {label} has class {name!r}, not in list")
    return list(names)


# --------------------------------------------------------------------------- helpers


def _shown(path: Path, root: Path) -> str:
    """How a file is named in messages: relative to the root when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _lines(path: Path, shown: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; CRLF or LF, BOM dropped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{shown}: not UTF-8 text ({err}); re-save it as UTF-8") from err
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.strip()


def _csv_records(
    path: Path, shown: str, header_problem: Callable[[list[str]], str | None]
) -> Iterator[tuple[str, dict[str, str]]]:
    """("file:line", {column: stripped cell}) of the non-blank rows of a csv with a header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            problem = header_problem(header)
            if problem:
                raise AnnotationError(f"{shown}:1: {problem}")
            for row in reader:
                where = f"{shown}:{reader.line_num}"
                if len(row) != len(header) and any(cell.strip() for cell in row):
                    raise AnnotationError(
                        f"{where}: malformed line: {len(row)} fields, the header has {len(header)}"
                    )
                if any(cell.strip() for cell in row):
                    yield where, {h: cell.strip() for h, cell in zip(header, row, strict=True)}
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{shown}: not UTF-8 text ({err}); re-save it as UTF-8") from err


def _option_path(root: Path, value: str, option: str) -> Path:
    if not isinstance(value, str):
        raise ValueError(f"option {option!r} must be a string path, got {value!r}")
    return root / value  # an absolute value replaces the root


def _require(path: Path, what: str, fmt: str, hint: str) -> None:
    if not path.is_file():
        raise AnnotationError(f"{fmt}: {what} not found at {str(path)!r}; {hint}")


def _relative(path: str, where: str) -> str:
    """Validate a listed path and normalise it (POSIX, no '.' parts)."""
    if not path:
        raise AnnotationError(f"{where}: empty video path; fix the line")
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[\\/]", path):
        raise AnnotationError(
            f"{where}: path {path!r} is absolute; list it relative to the dataset root"
        )
    norm = posixpath.normpath(path)
    if norm == ".":
        raise AnnotationError(f"{where}: path {path!r} names no file; fix the line")
    if norm == ".." or norm.startswith("../"):
        raise AnnotationError(
            f"{where}: path {path!r} points outside the dataset root ('..'); fix the line"
        )
    return norm


def _join(prefix: str, rel: str, where: str) -> str:
    return _relative(posixpath.join(prefix, rel) if prefix else rel, where)


def _check_videos_dir(value: str) -> str:
    if not isinstance(value, str) or value.startswith("/") or ".." in value.split("/"):
        raise ValueError(
            f"option 'videos_dir' must be a folder relative to the root, got {value!r}"
        )
    return value.strip("/")


# --------------------------------------------------------------------------- ucf101


def _read_ucf101(
    root: Path, split: int, *, videos_dir: str, annotations_dir: str
) -> tuple[_Rows, list[str]]:
    videos_dir = _check_videos_dir(videos_dir)
    ann = _option_path(root, annotations_dir, "annotations_dir")
    hint = f"check `root` or set the option `annotations_dir` (now {annotations_dir!r})"
    class_file = ann / "classInd.txt"
    _require(class_file, "class list classInd.txt", "ucf101", hint)
    shown = _shown(class_file, root)
    numbered: dict[int, str] = {}
    for number, line in _lines(class_file, shown):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(
                f"{shown}:{number}: malformed line {line!r}; expected '<index> <ClassName>'"
            )
        index, name = int(parts[0]), parts[1]
        if index in numbered or name in numbered.values():
            raise AnnotationError(f"{shown}:{number}: class {index} {name!r} is listed twice")
        numbered[index] = name
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        raise AnnotationError(f"{shown}: class indices must be 1..N without gaps, got {numbered}")
    classes = [numbered[i] for i in range(1, len(numbered) + 1)]
    label_of = {name: i for i, name in enumerate(classes)}

    rows = _Rows()
    for subset, name in (
        ("train", f"trainlist{split:02d}.txt"),
        ("test", f"testlist{split:02d}.txt"),
    ):
        path = ann / name
        _require(path, f"split list {name}", "ucf101", hint)
        shown = _shown(path, root)
        for number, line in _lines(path, shown):
            where = f"{shown}:{number}"
            parts = line.split()
            if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise AnnotationError(
                    f"{where}: malformed line {line!r}; expected '<Class>/<file>.avi [label]'"
                )
            rel = _relative(parts[0], where)
            # The list's folder part is the class (exact match with classInd) and the truth
            # for the file location; the file name's case may differ (HandStandPushups).
            folder, _, file = rel.partition("/")
            if not file or "/" in file:
                raise AnnotationError(
                    f"{where}: malformed path {parts[0]!r}; expected '<Class>/<file>.avi'"
                )
            if folder not in label_of:
                raise AnnotationError(
                    f"{where}: unknown class {folder!r} (not in classInd.txt); "
                    "fix the line or the class list"
                )
            label = label_of[folder]
            if len(parts) == 2 and int(parts[1]) != label + 1:
                raise AnnotationError(
                    f"{where}: label {parts[1]} disagrees with classInd.txt, which numbers "
                    f"{folder!r} {label + 1}; fix the line or the class list"
                )
            rows.add(_join(videos_dir, rel, where), label, folder, subset, where)
    return rows, classes


# --------------------------------------------------------------------------- hmdb51


def _read_hmdb51(
    root: Path, split: int, *, videos_dir: str, annotations_dir: str
) -> tuple[_Rows, list[str]]:
    videos_dir = _check_videos_dir(videos_dir)
    ann = _option_path(root, annotations_dir, "annotations_dir")
    files: dict[str, dict[int, Path]] = {}
    if ann.is_dir():
        for path in ann.iterdir():
            match = _HMDB_FILE.fullmatch(path.name)
            if match and path.is_file():
                files.setdefault(match["cls"], {})[int(match["n"])] = path
    if not files:
        raise AnnotationError(
            f"hmdb51: no '<class>_test_split{split}.txt' files in {str(ann)!r}; check `root` "
            f"or set the option `annotations_dir` (now {annotations_dir!r})"
        )
    classes = sorted(files)
    for name in classes:
        if split not in files[name]:
            expected = ann / f"{name}_test_split{split}.txt"
            raise AnnotationError(
                f"hmdb51: split file {str(expected)!r} is missing (other splits of class "
                f"{name!r} exist); restore it"
            )
    rows = _Rows()
    for label, name in enumerate(classes):
        shown = _shown(files[name][split], root)
        for number, line in _lines(files[name][split], shown):
            where = f"{shown}:{number}"
            # Names hold spaces and ( ) ! # [ ] & + ; ~ @: only the last field is the flag.
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(
                    f"{where}: malformed line {line!r}; expected '<video name> <0|1|2>'"
                )
            if parts[1] == "0":  # not used by this split
                continue
            if "/" in parts[0] or parts[0] in (".", ".."):
                _relative(parts[0], where)  # absolute and '..' get their own message
                raise AnnotationError(
                    f"{where}: {parts[0]!r} is not a file name; list names in the class folder"
                )
            video = _join(videos_dir, f"{name}/{parts[0]}", where)
            rows.add(video, label, name, "train" if parts[1] == "1" else "test", where)
    return rows, classes


# --------------------------------------------------------------------------- kinetics400


def _label_dir(label: str, style: str) -> str:
    if style == "raw":
        return label
    # Some copies name folders "passing_American_football_in_game".
    return re.sub(r"[\"'()]", "", label).replace(" ", "_")


def _read_kinetics400(
    root: Path,
    split: int,
    *,
    annotations_dir: str,
    train_csv: str,
    val_csv: str | None,
    path_template: str,
    split_dirs: Mapping[str, str],
    label_dir_style: str,
) -> tuple[_Rows, list[str]]:
    del split  # Kinetics has one official train / validation partition
    if label_dir_style not in ("raw", "underscore"):
        raise ValueError(
            f"option 'label_dir_style' must be 'raw' or 'underscore', not {label_dir_style!r}"
        )
    if not isinstance(split_dirs, Mapping) or set(split_dirs) - set(SUBSETS):
        raise ValueError(
            f"option 'split_dirs' must map 'train'/'test' to folders, got {split_dirs!r}"
        )
    dirs = {**OPTIONS["kinetics400"]["split_dirs"], **split_dirs}
    fields = dict(split="s", subset="s", label="l", youtube_id="y", time_start=1, time_end=2)
    try:
        path_template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise ValueError(
            f"option 'path_template' {path_template!r} is invalid ({err!r}); it may use "
            f"{', '.join('{' + f + '}' for f in _TEMPLATE_FIELDS)}"
        ) from err

    ann = _option_path(root, annotations_dir, "annotations_dir")
    train = _option_path(ann, train_csv, "train_csv")
    if val_csv is None:
        found = [p for p in (ann / "validate.csv", ann / "val.csv") if p.is_file()]
        if len(found) == 2:
            raise AnnotationError(
                f"kinetics400: both validate.csv and val.csv exist in {str(ann)!r}; "
                "set the option `val_csv` to the one to use"
            )
        val = found[0] if found else ann / "validate.csv"
    else:
        val = _option_path(ann, val_csv, "val_csv")
    if train_csv != OPTIONS["kinetics400"]["train_csv"]:  # named explicitly: must exist
        _require(train, "train csv", "kinetics400", "fix the option `train_csv`")
    if val_csv is not None:
        _require(val, "validation csv", "kinetics400", "fix the option `val_csv`")
    if not train.is_file() and not val.is_file():
        raise AnnotationError(
            f"kinetics400: neither {str(train)!r} nor {str(val)!r} (or val.csv) exists; set "
            "`root`, or the options `annotations_dir`, `train_csv`, `val_csv`"
        )
    parsed = {
        subset: _kinetics_rows(path, subset, root)
        for subset, path in (("train", train), ("test", val))
        if path.is_file()
    }
    # Class list: the train csv's labels when it is present, else the validation csv's.
    classes = sorted({r[0] for r in parsed.get("train", parsed.get("test", []))})
    label_of = {name: i for i, name in enumerate(classes)}
    rows = _Rows()
    for subset, records in parsed.items():
        for label, youtube_id, start, end, where in records:
            if label not in label_of:
                raise AnnotationError(
                    f"{where}: unknown class {label!r} (not in the train csv); "
                    "fix the line or the class list"
                )
            path = path_template.format(
                split=dirs[subset],
                subset=subset,
                label=_label_dir(label, label_dir_style),
                youtube_id=youtube_id,
                time_start=start,
                time_end=end,
            )
            rows.add(_relative(path, where), label_of[label], label, subset, where)
    return rows, classes


def _kinetics_header(header: list[str]) -> str | None:
    missing = [c for c in ("label", "youtube_id", "time_start", "time_end") if c not in header]
    if not missing:
        return None
    return (
        f"header lacks column(s) {', '.join(missing)}; expected 'label,youtube_id,time_start,"
        "time_end,split' (the Kinetics test csv has no labels and is not used)"
    )


def _kinetics_rows(path: Path, subset: str, root: Path) -> list[tuple[str, str, int, int, str]]:
    """(label, youtube_id, time_start, time_end, "file:line") of each row of one csv."""
    records = []
    for where, row in _csv_records(path, _shown(path, root), _kinetics_header):
        label, youtube_id = row["label"], row["youtube_id"]
        if not label or not youtube_id or re.search(r"[\s/\\]", youtube_id):
            raise AnnotationError(f"{where}: malformed line: empty label or bad youtube_id")
        if row.get("split", _KINETICS_SPLIT[subset][0]) not in _KINETICS_SPLIT[subset]:
            raise AnnotationError(
                f"{where}: split {row['split']!r} does not belong in this file (expected "
                f"{' or '.join(_KINETICS_SPLIT[subset])}); fix the line"
            )
        start, end = (_seconds(row[c], where, c) for c in ("time_start", "time_end"))
        records.append((label, youtube_id, start, end, where))
    return records


def _seconds(text: str, where: str, column: str) -> int:
    """ "14" or "14.0" -> 14; anything else is a malformed line."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or not value.is_integer():
        raise AnnotationError(
            f"{where}: malformed {column} {text!r}; expected whole seconds such as 14 or 14.0"
        )
    return int(value)


# --------------------------------------------------------------------------- csv


def _read_csv(root: Path, split: int, *, file: str) -> tuple[_Rows, list[str]]:
    del split  # the user's file assigns subsets itself
    path = _option_path(root, file, "file")
    _require(path, "index file", "csv", "set `root` or the option `file`")
    records = []
    for where, row in _csv_records(path, _shown(path, root), _csv_header):
        video, label, subset = row["path"], row["label"], row.get("subset", "train")
        if "\\" in video:
            raise AnnotationError(f"{where}: path {video!r} uses '\\'; use '/' separators")
        if not label:
            raise AnnotationError(f"{where}: malformed line: empty label; name the class")
        if subset not in SUBSETS:
            raise AnnotationError(f"{where}: subset {subset!r} must be 'train' or 'test'")
        records.append((_relative(video, where), label, subset, where))
    classes = sorted({r[1] for r in records})
    label_of = {name: i for i, name in enumerate(classes)}
    rows = _Rows()
    for video, label, subset, where in records:
        rows.add(video, label_of[label], label, subset, where)
    return rows, classes


def _csv_header(header: list[str]) -> str | None:
    if {"path", "label"} <= set(header) and not set(header) - {"path", "label", "subset"}:
        return None
    return f"header {','.join(header)!r} must be 'path,label' or 'path,label,subset'"


_READERS = {
    "ucf101": _read_ucf101,
    "hmdb51": _read_hmdb51,
    "kinetics400": _read_kinetics400,
    "csv": _read_csv,
}
