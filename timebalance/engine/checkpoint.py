"""Atomic checkpoint files: a plain dict of weights, optimiser state, config and step."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _tmp_path(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def save_atomic(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(obj: Any, path: str | Path) -> None:
    """Write JSON (sorted keys, indented) atomically."""
    write_text_atomic(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def write_text_atomic(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with tmp.open("w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint dict written by this package, with a clear error if it is not one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist; run the stage that writes it")
    obj = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(obj, dict) or "model" not in obj:
        raise ValueError(f"{path} is not a timebalance checkpoint (no 'model' entry)")
    return obj


def load_weights(module: torch.nn.Module, state: dict, *, what: str, skip_prefixes=()) -> None:
    """Strictly load `state` into `module`, except keys under `skip_prefixes` (e.g. a new
    classifier). Missing or unexpected keys raise, naming them: silent partial loads are
    how the released TimeBalance code ended up never loading its teachers."""
    own = module.state_dict()
    wanted = {k: v for k, v in state.items() if not k.startswith(tuple(skip_prefixes))}
    kept = {k for k in own if not k.startswith(tuple(skip_prefixes))}
    missing = sorted(kept - wanted.keys())
    unexpected = sorted(wanted.keys() - kept)
    if missing or unexpected:
        raise ValueError(
            f"weights of {what} do not match the model: missing {missing[:8]}"
            f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
            f"{'...' if len(unexpected) > 8 else ''}; was it trained with another backbone?"
        )
    for key, value in wanted.items():
        if own[key].shape != value.shape:
            raise ValueError(
                f"weights of {what}: {key} has shape {tuple(value.shape)}, "
                f"model expects {tuple(own[key].shape)}"
            )
    module.load_state_dict({**own, **wanted}, strict=True)
