"""HMDB51 layout: one ``<class>_test_split<N>.txt`` per class and split in
``<annotations_dir>``; each line is ``<video name> <0|1|2>`` (unused / train / test)."""

from __future__ import annotations

import re
from pathlib import Path

from timebalance.data.index import common
from timebalance.data.index.common import AnnotationError

OPTIONS = {"videos_dir": "", "annotations_dir": "testTrainMulti_7030_splits"}
_SPLIT_FILE = re.compile(r"(?P<cls>.+)_test_split(?P<n>[0-9]+)\.txt")


def _split_files(ann: Path) -> dict[str, dict[int, Path]]:
    """{class: {split: file}} of every split file in the folder (empty if it is missing)."""
    found: dict[str, dict[int, Path]] = {}
    if ann.is_dir():
        for path in ann.iterdir():
            match = _SPLIT_FILE.fullmatch(path.name)
            if match and path.is_file():
                found.setdefault(match["cls"], {})[int(match["n"])] = path
    return found


def files(root: Path, split: int, *, videos_dir: str, annotations_dir: str) -> list[Path]:
    """The split files of `split` present in the folder, by class (found by listing it)."""
    del videos_dir
    found = _split_files(common.option_path(root, annotations_dir, "annotations_dir"))
    return [found[cls][split] for cls in sorted(found) if split in found[cls]]


def read(
    root: Path, split: int, *, videos_dir: str, annotations_dir: str
) -> tuple[common.Rows, list[str]]:
    videos_dir = common.check_videos_dir(videos_dir)
    ann = common.option_path(root, annotations_dir, "annotations_dir")
    found = _split_files(ann)
    if not found:
        raise AnnotationError(
            f"hmdb51: no '<class>_test_split{split}.txt' files in {str(ann)!r}; check `root` "
            f"or set the option `annotations_dir` (now {annotations_dir!r})"
        )
    classes = sorted(found)
    for cls in classes:
        if split not in found[cls]:
            expected = ann / f"{cls}_test_split{split}.txt"
            raise AnnotationError(
                f"hmdb51: split file {str(expected)!r} is missing (other splits of class "
                f"{cls!r} exist); restore it"
            )
    rows = common.Rows()
    for label, cls in enumerate(classes):
        name = common.shown(found[cls][split], root)
        for number, line in common.lines(found[cls][split], name):
            where = f"{name}:{number}"
            # Names hold spaces and ( ) ! # [ ] & + ; ~ @: only the last field is the flag.
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(
                    f"{where}: malformed line {line!r}; expected '<video name> <0|1|2>'"
                )
            if parts[1] == "0":  # not used by this split
                continue
            if "/" in parts[0] or parts[0] in (".", ".."):
                common.relative(parts[0], where)  # absolute and '..' get their own message
                raise AnnotationError(
                    f"{where}: {parts[0]!r} is not a file name; list names in the class folder"
                )
            video = common.join(videos_dir, f"{cls}/{parts[0]}", where)
            rows.add(video, label, cls, "train" if parts[1] == "1" else "test", where)
    return rows, classes
