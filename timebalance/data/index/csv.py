"""A user's own list: one csv ``path,label[,subset]`` (subset "train" or "test", default
train); classes are the sorted distinct labels."""

from __future__ import annotations

from pathlib import Path

from timebalance.data.index import common
from timebalance.data.index.common import AnnotationError

OPTIONS = {"file": "index.csv"}


def files(root: Path, split: int, *, file: str) -> list[Path]:
    del split
    return [common.option_path(root, file, "file")]


def read(root: Path, split: int, *, file: str) -> tuple[common.Rows, list[str]]:
    (path,) = files(root, split, file=file)  # the user's file assigns subsets itself
    common.require(path, "index file", "csv", "set `root` or the option `file`")
    records = []
    for where, row in common.csv_records(path, common.shown(path, root), _header):
        video, label, subset = row["path"], row["label"], row.get("subset", "train")
        if "\\" in video:
            raise AnnotationError(f"{where}: path {video!r} uses '\\'; use '/' separators")
        if not label:
            raise AnnotationError(f"{where}: malformed line: empty label; name the class")
        if subset not in common.SUBSETS:
            raise AnnotationError(f"{where}: subset {subset!r} must be 'train' or 'test'")
        records.append((common.relative(video, where), label, subset, where))
    classes = sorted({r[1] for r in records})
    label_of = {name: i for i, name in enumerate(classes)}
    rows = common.Rows()
    for video, label, subset, where in records:
        rows.add(video, label_of[label], label, subset, where)
    return rows, classes


def _header(header: list[str]) -> str | None:
    if {"path", "label"} <= set(header) and not set(header) - {"path", "label", "subset"}:
        return None
    return f"header {','.join(header)!r} must be 'path,label' or 'path,label,subset'"
