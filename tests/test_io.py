"""timebalance.io: atomic writes with the umask's modes, intact old files on failure, a full
disk named, torch files loaded without running code, and folders replaced as a whole."""

from __future__ import annotations

import builtins
import errno
import os
import stat
from pathlib import Path

import pytest
import torch

from timebalance import io


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


WRITERS = {
    "text": lambda p: io.write_text("x\n", p),
    "bytes": lambda p: io.write_bytes(b"x", p),
    "json": lambda p: io.write_json({"a": 1}, p),
    "torch": lambda p: io.write_torch({"w": torch.zeros(2)}, p),
}


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_of_a_plain_open(tmp_path, umask, writer, mask, expected):
    umask(mask)
    path = tmp_path / "sub" / "out"
    WRITERS[writer](path)
    assert mode(path) == expected  # not mkstemp's 0600 (issue 10 item 3)
    with open(tmp_path / "plain", "w"):
        pass
    assert mode(tmp_path / "plain") == expected


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o755), (0o002, 0o775)])
def test_folders_get_the_mode_of_a_plain_mkdir(tmp_path, umask, mask, expected):
    umask(mask)
    io.write_dir(tmp_path / "d", lambda tmp: io.write_text("x", tmp / "f"))
    assert mode(tmp_path / "d") == expected  # not mkdtemp's 0700
    assert mode(tmp_path / "d" / "f") == expected & 0o666


def test_text_is_written_exactly(tmp_path):
    io.write_text("a\r\nb\nü", tmp_path / "t")
    assert (tmp_path / "t").read_bytes() == "a\r\nb\nü".encode()
    io.write_json({"b": 1, "a": [1, 2]}, tmp_path / "j")
    assert (tmp_path / "j").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "result.json"
    io.write_text("old", path)
    with pytest.raises(RuntimeError, match="boom"), io.atomic_open(path) as fh:
        fh.write("new, half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == ["result.json"]


def test_a_full_disk_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "scores.csv"
    io.write_text("old", path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="no space left") as err:
        io.write_text("new", path)
    assert err.value.errno == errno.ENOSPC
    assert str(path) in str(err.value)
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == ["scores.csv"]


def test_a_full_disk_while_writing_names_the_path(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    with pytest.raises(OSError, match=f"while writing {path}"):
        io.write_bytes(b"weights", path)
    assert leftovers(tmp_path) == []


def test_only_write_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="writes only"), io.atomic_open(tmp_path / "x", "a"):
        pass


class _Planted:
    """Unpickling this would create `marker`: what a planted 'checkpoint' could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def test_load_torch_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "teacher.pt"
    torch.save({"weights": _Planted(marker)}, path)
    assert not marker.exists()
    with pytest.raises(ValueError, match=rf"{path}.*refused without running any of it"):
        io.load_torch(path)
    assert not marker.exists()
    # The file really is harmful: an unsafe load runs it (so the check above can fail).
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_load_torch_round_trip_and_missing_file(tmp_path):
    obj = {"weights": {"w": torch.arange(3.0)}, "epoch": 2, "name": "x", "h": [1.5]}
    io.write_torch(obj, tmp_path / "ck.pt")
    back = io.load_torch(tmp_path / "ck.pt")
    assert torch.equal(back["weights"]["w"], obj["weights"]["w"])
    assert back["epoch"] == 2 and back["name"] == "x" and back["h"] == [1.5]
    with pytest.raises(FileNotFoundError, match=r"nothing\.pt does not exist; run the stage"):
        io.load_torch(tmp_path / "nothing.pt")
    (tmp_path / "text.pt").write_text("not a torch file")
    with pytest.raises(ValueError, match=r"text\.pt"):
        io.load_torch(tmp_path / "text.pt")


def _fill(files: dict[str, str]):
    def fill(tmp: Path) -> None:
        for name, text in files.items():
            io.write_text(text, tmp / name)

    return fill


def test_write_dir_creates_and_replaces_as_a_whole(tmp_path):
    target = tmp_path / "frames"
    io.write_dir(target, _fill({"1.jpg": "a", "2.jpg": "b"}))
    assert leftovers(target) == ["1.jpg", "2.jpg"]
    io.write_dir(target, _fill({"1.jpg": "new"}))
    assert leftovers(target) == ["1.jpg"]  # nothing of the old folder survives
    assert (target / "1.jpg").read_text() == "new"
    assert leftovers(tmp_path) == ["frames"]  # no temp or old folder left


def test_write_dir_keeps_the_old_folder_when_fill_fails(tmp_path):
    target = tmp_path / "frames"
    io.write_dir(target, _fill({"1.jpg": "old"}))

    def failing(tmp: Path) -> None:
        io.write_text("half", tmp / "1.jpg")
        raise RuntimeError("ffmpeg died")

    with pytest.raises(RuntimeError, match="ffmpeg died"):
        io.write_dir(target, failing)
    assert (target / "1.jpg").read_text() == "old"
    assert leftovers(tmp_path) == ["frames"]
    with pytest.raises(RuntimeError, match="ffmpeg died"):
        io.write_dir(tmp_path / "new", failing)
    assert leftovers(tmp_path) == ["frames"]


def test_write_dir_replaces_only_what_replace_if_accepts(tmp_path):
    target = tmp_path / "dataset"
    target.mkdir()
    io.write_text("precious", target / "thesis.tex")
    calls = []

    def fill(tmp: Path) -> None:
        calls.append(tmp)

    with pytest.raises(FileExistsError, match=rf"{target} exists"):
        io.write_dir(target, fill, replace_if=lambda p: (p / "synthetic.json").is_file())
    assert calls == []  # refused before any work
    assert (target / "thesis.tex").read_text() == "precious"
    assert leftovers(tmp_path) == ["dataset"]
