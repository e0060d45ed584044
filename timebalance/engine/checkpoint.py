"""Checkpoint files: plain dicts of weights (one state dict per module, under "weights"),
metadata and history. Written with `timebalance.io.write_torch`, read with weights_only=True."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from timebalance import io


def load_checkpoint(path: str | Path, *, modules: Iterable[str]) -> dict[str, Any]:
    """A checkpoint written by this package holding the weights of `modules` (e.g.
    ("backbone", "head") for pretraining, ("model",) for a classifier). A file of another
    kind, or one that would run code when unpickled, is refused with an error naming it."""
    obj = io.load_torch(path)
    weights = obj.get("weights") if isinstance(obj, dict) else None
    wanted = sorted(modules)
    if not isinstance(weights, dict) or not set(wanted) <= set(weights):
        have = sorted(weights) if isinstance(weights, dict) else None
        raise ValueError(
            f"{path} is not a timebalance checkpoint with the weights of {wanted} (it holds "
            f"{have}); pass the output of the stage that writes them, or rerun that stage"
        )
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
