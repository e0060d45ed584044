"""UCF101 layout: ``<annotations_dir>/classInd.txt`` numbers the classes 1..N and
``trainlistNN.txt`` / ``testlistNN.txt`` list ``<Class>/<file>.avi`` per official split."""

from __future__ import annotations

from pathlib import Path

from timebalance.data.index import common
from timebalance.data.index.common import AnnotationError

OPTIONS = {"videos_dir": "UCF-101", "annotations_dir": "ucfTrainTestlist"}


def files(root: Path, split: int, *, videos_dir: str, annotations_dir: str) -> list[Path]:
    """classInd.txt, then the train and the test list of `split` (they need not exist)."""
    del videos_dir
    ann = common.option_path(root, annotations_dir, "annotations_dir")
    return [
        ann / "classInd.txt",
        ann / f"trainlist{split:02d}.txt",
        ann / f"testlist{split:02d}.txt",
    ]


def _classes(class_file: Path, root: Path) -> list[str]:
    name = common.shown(class_file, root)
    numbered: dict[int, str] = {}
    for number, line in common.lines(class_file, name):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(
                f"{name}:{number}: malformed line {line!r}; expected '<index> <ClassName>'"
            )
        index, cls = int(parts[0]), parts[1]
        if index in numbered or cls in numbered.values():
            raise AnnotationError(f"{name}:{number}: class {index} {cls!r} is listed twice")
        numbered[index] = cls
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        raise AnnotationError(f"{name}: class indices must be 1..N without gaps, got {numbered}")
    return [numbered[i] for i in range(1, len(numbered) + 1)]


def read(
    root: Path, split: int, *, videos_dir: str, annotations_dir: str
) -> tuple[common.Rows, list[str]]:
    videos_dir = common.check_videos_dir(videos_dir)
    class_file, train_list, test_list = files(
        root, split, videos_dir=videos_dir, annotations_dir=annotations_dir
    )
    hint = f"check `root` or set the option `annotations_dir` (now {annotations_dir!r})"
    common.require(class_file, "class list classInd.txt", "ucf101", hint)
    classes = _classes(class_file, root)
    label_of = {cls: i for i, cls in enumerate(classes)}

    rows = common.Rows()
    for subset, path in (("train", train_list), ("test", test_list)):
        common.require(path, f"split list {path.name}", "ucf101", hint)
        name = common.shown(path, root)
        for number, line in common.lines(path, name):
            where = f"{name}:{number}"
            parts = line.split()
            if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise AnnotationError(
                    f"{where}: malformed line {line!r}; expected '<Class>/<file>.avi [label]'"
                )
            rel = common.relative(parts[0], where)
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
            rows.add(common.join(videos_dir, rel, where), label, folder, subset, where)
    return rows, classes
