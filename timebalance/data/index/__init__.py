"""Dataset adapters: read a dataset's annotation files into one index table.

``read_index(fmt, root, split, **options)`` returns a DataFrame with one row per video:
``video`` (path relative to ``root``, POSIX separators), ``label`` (0-based int),
``class_name`` and ``subset`` ("train" or "test"), sorted by (subset, video). Only the
annotation files are read: whether each video exists is checked and reported by frame
extraction, so an index can be read before the videos are downloaded.
``annotation_files(fmt, root, split, options)`` names the files read_index reads (the
workflow makes them inputs of the index rule, so editing a label rebuilds the index).

Every problem in an annotation file raises ``AnnotationError`` naming the file and line
("ucfTrainTestlist/trainlist01.txt:17: ...") and how to fix it; file names are shown
relative to ``root`` when they lie inside it. docs/datasets.md describes each layout; one
module per format (ucf101, hmdb51, kinetics, csv) holds its options, files and reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from timebalance.data.index import csv, hmdb51, kinetics, ucf101
from timebalance.data.index.common import SUBSETS, AnnotationError

__all__ = [
    "FORMATS",
    "OPTIONS",
    "SUBSETS",
    "AnnotationError",
    "annotation_files",
    "class_names",
    "read_index",
]

_ADAPTERS = {"ucf101": ucf101, "hmdb51": hmdb51, "kinetics400": kinetics, "csv": csv}
FORMATS = tuple(_ADAPTERS)
# Options of each format with their defaults (docs/datasets.md lists the same).
OPTIONS: dict[str, dict[str, Any]] = {fmt: module.OPTIONS for fmt, module in _ADAPTERS.items()}


def _options(fmt: str, split: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """The format's options with defaults filled in; bad names and splits are ValueErrors."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - set(OPTIONS[fmt]))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for format {fmt!r}; "
            f"allowed: {', '.join(OPTIONS[fmt])}"
        )
    bad_split = isinstance(split, bool) or not isinstance(split, int) or not 1 <= split <= 3
    if fmt in ("ucf101", "hmdb51") and bad_split:
        raise ValueError(f"{fmt}: split must be 1, 2 or 3 (the official splits), got {split!r}")
    return {**OPTIONS[fmt], **options}


def annotation_files(
    fmt: str, root: str | Path, split: int = 1, options: Mapping[str, Any] | None = None
) -> list[Path]:
    """The annotation files ``read_index(fmt, root, split, **options)`` reads.

    Listed whether or not they exist yet (a generated dataset's lists are outputs of an
    earlier rule), except where the format finds its files by looking: hmdb51 lists the
    split files present in its folder, kinetics400 the csvs present (plus any named by an
    option). No I/O beyond those checks and no torch, so Snakemake input functions can call it.

    Raises:
        ValueError: unknown format, option or a bad ``split`` (as read_index).
        AnnotationError: kinetics400 with both validate.csv and val.csv and no `val_csv`.
    """
    settings = _options(fmt, split, options or {})
    return _ADAPTERS[fmt].files(Path(root), split, **settings)


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
    settings = _options(fmt, split, options)
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(f"dataset root {str(root)!r} is not a directory; set `root`")
    rows, classes = _ADAPTERS[fmt].read(root, split, **settings)
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
