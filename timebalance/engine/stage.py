"""What every training stage shares: logging, device and threads, seeds, code version."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from timebalance import __version__
from timebalance.engine.device import configure_threads, select_device

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr (a rule redirects it to its log file)."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def start_stage(*, device: str = "auto", threads: int | None = None, seed: int = 0):
    """Common start of a stage: logging, thread bound, global seeds, device."""
    setup_logging()
    configure_threads(threads)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    dev = select_device(device)
    logging.getLogger("timebalance").info("device %s, threads %s", dev, torch.get_num_threads())
    return dev


def code_version(modules: Iterable[str] = ("",), root: str | Path = PACKAGE_ROOT) -> str:
    """Package version + a short sha256 over the source of the given subpackages /
    modules (paths relative to the package, e.g. "engine", "models/backbones.py").
    Rules pass it as a param so editing a module reruns exactly the jobs using it.
    `root` is the package folder to hash (the workflow passes the one beside its Snakefile)."""
    root = Path(root)
    digest = hashlib.sha256()
    for rel in sorted(modules):
        target = root / rel
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


# Arguments of a stage that change where or how fast it runs, never what it computes.
RUN_ONLY = frozenset({"out", "resume", "metrics", "threads", "workers", "device"})


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: Mapping, inputs: Iterable[str | Path | None] = ()) -> str:
    """Identity of one training run: its settings (minus `RUN_ONLY` keys) and the content of
    its input files. A resume file is only continued by a run with the same fingerprint."""
    payload = {
        "settings": {k: v for k, v in settings.items() if k not in RUN_ONLY},
        "inputs": [file_digest(p) if p is not None else None for p in inputs],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
