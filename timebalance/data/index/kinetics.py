"""Kinetics400 layout: ``<annotations_dir>/train.csv`` and ``validate.csv`` (or ``val.csv``)
with columns label, youtube_id, time_start, time_end[, split, is_cc]; the video path of a row
comes from ``path_template``. The validation csv is the test subset."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from timebalance.data.index import common
from timebalance.data.index.common import AnnotationError

OPTIONS = {
    "annotations_dir": "annotations",
    "train_csv": "train.csv",
    "val_csv": None,  # None: validate.csv or val.csv, whichever exists
    "path_template": "{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
    "split_dirs": {"train": "train", "test": "val"},
    "label_dir_style": "raw",
}
_SPLIT = {"train": ("train",), "test": ("val", "validate")}
_TEMPLATE_FIELDS = ("split", "subset", "label", "youtube_id", "time_start", "time_end")


def _csv_paths(root: Path, annotations_dir: str, train_csv: str, val_csv: str | None):
    """(train csv, validation csv); with `val_csv` None, whichever of validate.csv / val.csv
    exists (validate.csv when neither does)."""
    ann = common.option_path(root, annotations_dir, "annotations_dir")
    train = common.option_path(ann, train_csv, "train_csv")
    if val_csv is not None:
        return train, common.option_path(ann, val_csv, "val_csv")
    found = [p for p in (ann / "validate.csv", ann / "val.csv") if p.is_file()]
    if len(found) == 2:
        raise AnnotationError(
            f"kinetics400: both validate.csv and val.csv exist in {str(ann)!r}; "
            "set the option `val_csv` to the one to use"
        )
    return train, found[0] if found else ann / "validate.csv"


def files(
    root: Path,
    split: int,
    *,
    annotations_dir: str,
    train_csv: str,
    val_csv: str | None,
    **path_options: Any,
) -> list[Path]:
    """The csvs read: those present, and those named by an option (which must exist).
    `path_options` (path_template, split_dirs, label_dir_style) name no file."""
    del split, path_options
    train, val = _csv_paths(root, annotations_dir, train_csv, val_csv)
    named = (train_csv != OPTIONS["train_csv"], val_csv is not None)
    return [p for p, n in zip((train, val), named, strict=True) if n or p.is_file()]


def _label_dir(label: str, style: str) -> str:
    if style == "raw":
        return label
    # Some copies name folders "passing_American_football_in_game".
    return re.sub(r"[\"'()]", "", label).replace(" ", "_")


def _check_options(path_template: str, split_dirs: Mapping[str, str], label_dir_style: str):
    if label_dir_style not in ("raw", "underscore"):
        raise ValueError(
            f"option 'label_dir_style' must be 'raw' or 'underscore', not {label_dir_style!r}"
        )
    if not isinstance(split_dirs, Mapping) or set(split_dirs) - set(common.SUBSETS):
        raise ValueError(
            f"option 'split_dirs' must map 'train'/'test' to folders, got {split_dirs!r}"
        )
    fields = dict(split="s", subset="s", label="l", youtube_id="y", time_start=1, time_end=2)
    try:
        path_template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise ValueError(
            f"option 'path_template' {path_template!r} is invalid ({err!r}); it may use "
            f"{', '.join('{' + f + '}' for f in _TEMPLATE_FIELDS)}"
        ) from err


def read(
    root: Path,
    split: int,
    *,
    annotations_dir: str,
    train_csv: str,
    val_csv: str | None,
    path_template: str,
    split_dirs: Mapping[str, str],
    label_dir_style: str,
) -> tuple[common.Rows, list[str]]:
    del split  # Kinetics has one official train / validation partition
    _check_options(path_template, split_dirs, label_dir_style)
    dirs = {**OPTIONS["split_dirs"], **split_dirs}
    train, val = _csv_paths(root, annotations_dir, train_csv, val_csv)
    if train_csv != OPTIONS["train_csv"]:  # named explicitly: must exist
        common.require(train, "train csv", "kinetics400", "fix the option `train_csv`")
    if val_csv is not None:
        common.require(val, "validation csv", "kinetics400", "fix the option `val_csv`")
    if not train.is_file() and not val.is_file():
        raise AnnotationError(
            f"kinetics400: neither {str(train)!r} nor {str(val)!r} (or val.csv) exists; set "
            "`root`, or the options `annotations_dir`, `train_csv`, `val_csv`"
        )
    parsed = {
        subset: _records(path, subset, root)
        for subset, path in (("train", train), ("test", val))
        if path.is_file()
    }
    # Class list: the train csv's labels when it is present, else the validation csv's.
    classes = sorted({r[0] for r in parsed.get("train", parsed.get("test", []))})
    label_of = {name: i for i, name in enumerate(classes)}
    rows = common.Rows()
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
            rows.add(common.relative(path, where), label_of[label], label, subset, where)
    return rows, classes


def _header(header: list[str]) -> str | None:
    missing = [c for c in ("label", "youtube_id", "time_start", "time_end") if c not in header]
    if not missing:
        return None
    return (
        f"header lacks column(s) {', '.join(missing)}; expected 'label,youtube_id,time_start,"
        "time_end,split' (the Kinetics test csv has no labels and is not used)"
    )


def _records(path: Path, subset: str, root: Path) -> list[tuple[str, str, int, int, str]]:
    """(label, youtube_id, time_start, time_end, "file:line") of each row of one csv."""
    records = []
    for where, row in common.csv_records(path, common.shown(path, root), _header):
        label, youtube_id = row["label"], row["youtube_id"]
        if not label or not youtube_id or re.search(r"[\s/\\]", youtube_id):
            raise AnnotationError(f"{where}: malformed line: empty label or bad youtube_id")
        if row.get("split", _SPLIT[subset][0]) not in _SPLIT[subset]:
            raise AnnotationError(
                f"{where}: split {row['split']!r} does not belong in this file (expected "
                f"{' or '.join(_SPLIT[subset])}); fix the line"
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
