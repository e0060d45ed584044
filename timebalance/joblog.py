"""A rule script's log: every attempt of a job, not only the last one.

Snakemake deletes a job's declared log before each attempt (a retry after SIGTERM or a time
limit, a rerun with --rerun-incomplete), so a log opened in append mode would still lose the
killed attempt. `open_rule_log` therefore writes everything to two files: the declared log,
and beside it `<log>.attempts`, which Snakemake does not know of. An attempt first copies the
earlier unfinished attempts from `<log>.attempts` into the fresh declared log, then writes a
header line (time, attempt, host, process). When a job ends without an error and with its
outputs written, `<log>.attempts` is removed: the next run of the job starts a new history.

Standard library only: data and report scripts use it without importing torch.
"""

from __future__ import annotations

import atexit
import datetime
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

SUFFIX = ".attempts"


class _Tee:
    """A text stream writing to several line-buffered files (stands in for sys.stderr)."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False  # a log file: plain progress lines, no progress bar

    def fileno(self) -> int:
        return self.streams[0].fileno()

    @property
    def encoding(self) -> str:
        return self.streams[0].encoding


def _attempts(history: str) -> int:
    return sum(1 for line in history.splitlines() if line.startswith("=== attempt "))


def header(attempt: int, *, rule: str, retry: int | None = None) -> str:
    """The line that opens an attempt in the log."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    retry_text = f", Snakemake attempt {retry}" if retry is not None else ""
    return (
        f"=== attempt {attempt} of {rule}{retry_text}: {now} on {socket.gethostname()}, "
        f"pid {os.getpid()} ===\n"
    )


def open_rule_log(job: Any) -> Path:
    """Send this process's stderr (logging, warnings, tracebacks) to the job's log, after the
    earlier unfinished attempts and a header line; keep `<log>.attempts` until the job ends
    without an error and with its outputs. `job` is a rule script's `snakemake` object (log,
    rule, output; attempt where Snakemake provides it). Returns the log path."""
    log = Path(job.log[0])
    log.parent.mkdir(parents=True, exist_ok=True)
    side = log.with_name(log.name + SUFFIX)
    earlier = side.read_text(errors="replace") if side.exists() else ""
    main = log.open("a", buffering=1, errors="backslashreplace")
    history = side.open("a", buffering=1, errors="backslashreplace")
    main.write(earlier)
    line = header(_attempts(earlier) + 1, rule=job.rule, retry=getattr(job, "attempt", None))
    main.write(line)
    history.write(line)
    sys.stderr = _Tee(main, history)

    failed = []
    previous_hook = sys.excepthook

    def note_failure(kind, value, tb) -> None:
        failed.append(kind)
        previous_hook(kind, value, tb)

    def finish() -> None:
        sys.stderr.flush()  # stays open: the interpreter writes to it until it exits
        # Ended well: no uncaught error, and every output is there (a SystemExit with an
        # error status bypasses the excepthook, but it leaves the outputs unwritten).
        if not failed and all(Path(p).exists() for p in getattr(job, "output", ())):
            side.unlink(missing_ok=True)

    sys.excepthook = note_failure
    atexit.register(finish)
    return log
