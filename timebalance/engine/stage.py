"""What every training stage shares: logging, device and threads, seeds, the run's
fingerprint (which resume files it may continue)."""

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

from timebalance.engine.device import configure_threads, select_device
from timebalance.engine.settings import RunSettings, Settings


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr (a rule redirects it to its log file)."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def start_stage(run: RunSettings, *, seed: int) -> torch.device:
    """Common start of a stage: logging, thread bound, global seeds, device."""
    setup_logging()
    configure_threads(run.threads)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    dev = select_device(run.device)
    logging.getLogger("timebalance").info("device %s, threads %s", dev, torch.get_num_threads())
    return dev


# Arguments of a stage that change where or how fast it runs, never what it computes.
RUN_ONLY = frozenset(
    {
        "out",
        "resume",
        "metrics",
        "threads",
        "workers",
        "device",
        "log_every_steps",
        "tensorboard",
    }
)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _without_run_only(settings: Mapping) -> dict:
    return {
        k: _without_run_only(v) if isinstance(v, Mapping) else v
        for k, v in settings.items()
        if k not in RUN_ONLY
    }


def fingerprint(settings: Mapping, inputs: Iterable[str | Path | None] = ()) -> str:
    """Identity of one training run: its settings (minus `RUN_ONLY` keys, at any depth) and
    the content of its input files. A resume file is only continued by a run with the same
    fingerprint."""
    payload = {
        "settings": _without_run_only(settings),
        "inputs": [file_digest(p) if p is not None else None for p in inputs],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stage_fingerprint(
    settings: Settings, run: RunSettings, inputs: Iterable[str | Path | None]
) -> str:
    """`fingerprint` of a stage: its settings, the code version and its input files."""
    return fingerprint({**settings.to_dict(), "code_version": run.code_version}, inputs)
