"""Every file the package writes or loads goes through here.

Writes are atomic: a temporary file in the destination folder, fsync, then `os.replace`, so a
reader (or a resumed job) never sees half a file. The result gets the permission bits a plain
`open(path, "w")` would get under the current umask (temporary files are created 0600, which
would leave results in a shared project folder unreadable to colleagues). A full disk raises
an `OSError` naming the path being written.

Loads never run code from a file: torch files are read with `weights_only=True`, so a pickle
planted where a checkpoint should be is refused before any of it executes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process's umask. Linux reports it in /proc (a read, safe alongside other
    threads); elsewhere os.umask is set and restored, which another thread creating a file
    at that instant could observe."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """Mode a normal `open`/`mkdir` would create under the current umask."""
    return (0o777 if directory else 0o666) & ~_umask()


def _disk_error(err: OSError, path: Path) -> OSError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return OSError(
            err.errno,
            f"no space left on the device while writing {path}; free space (or move "
            f"results/ to a larger disk) and rerun",
        )
    return err


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on a clean exit it is flushed, fsynced,
    given the umask's mode and renamed over `path`. On an error nothing is left behind."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only ('w' or 'wb'), got mode {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _disk_error(err, path) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(data: bytes, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_text(text: str, path: str | os.PathLike) -> None:
    """UTF-8 text, written exactly as given (no newline translation)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """JSON with sorted keys, indented, newline-terminated."""
    write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def write_torch(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` of a plain container (dicts, lists, tensors, str, numbers)."""
    import torch

    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)


def load_torch(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a torch file without running code from it (`weights_only=True`)."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the stage that writes it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} is not a plain checkpoint (tensors, numbers, strings, lists and dicts); "
            "it was refused without running any of it. Delete it and rerun the stage that "
            "writes it."
        ) from err
    except RuntimeError as err:
        raise ValueError(
            f"{path} cannot be read as a torch file ({err}); delete it and rerun the stage"
        ) from err


def write_dir(
    path: str | os.PathLike,
    fill: Callable[[Path], None],
    *,
    replace_if: Callable[[Path], bool] = lambda _: True,
) -> None:
    """Build a folder atomically: `fill(tmp)` writes into a temporary sibling, which then
    replaces `path`. An existing `path` is replaced only when `replace_if(path)` is true
    (otherwise FileExistsError); a failed `fill` leaves `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not replace_if(path):
        raise FileExistsError(
            f"{path} exists and was not written by this stage; remove it or choose another path"
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        fill(tmp)
        os.chmod(tmp, default_mode(directory=True))
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _disk_error(err, path) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
