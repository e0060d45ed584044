"""What every dataset adapter shares: the error type, the row collector and the checked
readers of annotation lines and csv rows (file and line named in every message)."""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

SUBSETS = ("train", "test")


class AnnotationError(ValueError):
    """An annotation file is missing or one of its lines is bad (unknown class, malformed
    line, path outside the root). The message names the file and line and how to fix it."""


class Rows:
    """Index rows being collected, with where each video was listed (for duplicate errors)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str, str]] = []
        self.origin: dict[str, str] = {}
        self.by_id: dict[str, str] = {}  # video id (path minus extension) -> video

    def add(self, video: str, label: int, class_name: str, subset: str, where: str) -> None:
        if video in self.origin:
            raise AnnotationError(
                f"{where}: video {video!r} is already listed at {self.origin[video]}; "
                "remove one of the two lines"
            )
        # Frames are stored per video id, so two files that differ only in their extension
        # would share a frame folder (and fail every extraction shard).
        vid = video_id(video)
        if (other := self.by_id.get(vid)) is not None:
            raise AnnotationError(
                f"{where}: video {video!r} and {other!r} (listed at {self.origin[other]}) "
                f"differ only in their extension, and both would be extracted to frames "
                f"folder {vid!r}; keep one of the two files (remove or rename the other)"
            )
        self.origin[video] = where
        self.by_id[vid] = video
        self.rows.append((video, label, class_name, subset))


def video_id(video: str) -> str:
    """A listed video's id: its path without the extension (the frames folder's name)."""
    path = PurePosixPath(video)
    return str(path.with_suffix("")) if path.suffix else video


def shown(path: Path, root: Path) -> str:
    """How a file is named in messages: relative to the root when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def lines(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; CRLF or LF, BOM dropped.
    `name` is how the file is shown in messages."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{name}: not UTF-8 text ({err}); re-save it as UTF-8") from err
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.strip()


def csv_records(
    path: Path, name: str, header_problem: Callable[[list[str]], str | None]
) -> Iterator[tuple[str, dict[str, str]]]:
    """("file:line", {column: stripped cell}) of the non-blank rows of a csv with a header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            problem = header_problem(header)
            if problem:
                raise AnnotationError(f"{name}:1: {problem}")
            for row in reader:
                where = f"{name}:{reader.line_num}"
                if len(row) != len(header) and any(cell.strip() for cell in row):
                    raise AnnotationError(
                        f"{where}: malformed line: {len(row)} fields, the header has {len(header)}"
                    )
                if any(cell.strip() for cell in row):
                    yield where, {h: cell.strip() for h, cell in zip(header, row, strict=True)}
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{name}: not UTF-8 text ({err}); re-save it as UTF-8") from err


def option_path(root: Path, value: str, option: str) -> Path:
    if not isinstance(value, str):
        raise ValueError(f"option {option!r} must be a string path, got {value!r}")
    return root / value  # an absolute value replaces the root


def require(path: Path, what: str, fmt: str, hint: str) -> None:
    if not path.is_file():
        raise AnnotationError(f"{fmt}: {what} not found at {str(path)!r}; {hint}")


def relative(path: str, where: str) -> str:
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


def join(prefix: str, rel: str, where: str) -> str:
    return relative(posixpath.join(prefix, rel) if prefix else rel, where)


def check_videos_dir(value: str) -> str:
    if not isinstance(value, str) or value.startswith("/") or ".." in value.split("/"):
        raise ValueError(
            f"option 'videos_dir' must be a folder relative to the root, got {value!r}"
        )
    return value.strip("/")
