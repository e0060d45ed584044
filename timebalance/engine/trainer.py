"""The training loop shared by every stage: Adam, warm-up + plateau, per-epoch atomic
resume checkpoints, one JSON line of metrics per epoch, best-on-validation selection."""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from timebalance import io
from timebalance.engine.device import autocast
from timebalance.engine.schedule import WarmupPlateau
from timebalance.engine.settings import Settings
from timebalance.seeding import stream

log = logging.getLogger(__name__)

StepFn = Callable[[Any], Mapping[str, torch.Tensor]]


@dataclass(frozen=True)
class OptimSettings(Settings):
    """Optimisation settings of one stage (supplement B.2; values from config.yaml)."""

    epochs: int
    lr: float  # Adam base learning rate
    weight_decay: float
    warmup_epochs: int  # linear warm-up epochs
    patience: int  # plateau epochs before the lr is halved
    max_steps_per_epoch: int | None  # cap on steps per epoch (tests), None for no cap


@dataclass
class FitResult:
    """What `fit` hands back: the selected weights and the epoch history."""

    state: dict[str, dict[str, torch.Tensor]]
    selected_epoch: int
    selected_metric: float | None
    history: list[dict] = field(default_factory=list)
    resumed_from: int = 0


def _write_history(history: list[dict], path: Path) -> None:
    io.write_text("".join(json.dumps(r) + "\n" for r in history), path)


def _states(modules: Mapping[str, nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    return {name: copy.deepcopy(m.state_dict()) for name, m in modules.items()}


def fit(
    *,
    modules: Mapping[str, nn.Module],
    step_fn: StepFn,
    batches: Callable[[int], Iterable[Any]],
    optim: OptimSettings,
    device: torch.device,
    resume_path: str | Path,
    metrics_path: str | Path,
    validate: Callable[[], Mapping[str, float]] | None = None,
    select_key: str = "val_top1",
    seed: int = 0,
    fingerprint: str = "",
) -> FitResult:
    """Train `modules` with Adam until `optim.epochs`, resuming from `resume_path`.

    Args:
        modules: trainable modules, already on `device` (their parameters with
            requires_grad are optimised; all are saved in checkpoints).
        step_fn: batch -> dict with a scalar "loss" (back-propagated) and any other
            scalars to log. Runs under autocast on CUDA.
        batches: epoch -> iterable of batches (a DataLoader seeded by epoch).
        validate: optional, run after each epoch in eval mode; its `select_key` picks
            the weights returned (the highest). Without it the last epoch is returned.
        resume_path: per-epoch checkpoint; a later call with the same path and the same
            `fingerprint` continues from the last finished epoch. It is not the stage's output.
        fingerprint: identifies the run (settings, inputs, code; see
            `engine.stage.fingerprint`). A resume file written under another fingerprint is
            stale (the rule reran because something changed) and is ignored.
        metrics_path: one JSON line per epoch is appended.
    """
    resume_path, metrics_path = Path(resume_path), Path(metrics_path)
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires grad")
    optimizer = torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    scheduler = WarmupPlateau(
        optimizer, base_lr=optim.lr, warmup_epochs=optim.warmup_epochs, patience=optim.patience
    )
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    start, history = 0, []
    best: dict[str, Any] = {"metric": None, "epoch": -1, "state": None}
    ckpt = None
    if resume_path.exists():
        ckpt = io.load_torch(resume_path, map_location=device)
        if not isinstance(ckpt, dict) or ckpt.get("fingerprint", "") != fingerprint:
            log.warning(
                "ignoring %s: written by a run with other settings, inputs or code; "
                "training starts at epoch 0",
                resume_path,
            )
            ckpt = None
    if ckpt is not None:
        for name, module in modules.items():
            module.load_state_dict(ckpt["modules"][name])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start, history, best = ckpt["epoch"], ckpt["history"], ckpt["best"]
        log.info("resumed from %s at epoch %d", resume_path, start)
    resumed_from = start
    # The metrics log restarts from the checkpoint's history, so an epoch that was logged
    # but not checkpointed before a kill is not listed twice.
    _write_history(history, metrics_path)

    for epoch in range(start, optim.epochs):
        # Global random streams (dropout, ...) are a function of (seed, epoch), on CPU and
        # CUDA alike, so a resumed run draws exactly what an uninterrupted one would.
        torch.manual_seed(stream(seed, "global", epoch))
        for m in modules.values():
            m.train()
        t0, n_steps, sums = time.perf_counter(), 0, {}
        for batch in batches(epoch):
            if optim.max_steps_per_epoch and n_steps >= optim.max_steps_per_epoch:
                break
            with autocast(device):
                out = step_fn(batch)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at epoch {epoch} step {n_steps}; lower the "
                    "learning rate or check the inputs"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            n_steps += 1
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
        if n_steps == 0:
            raise RuntimeError(f"epoch {epoch} saw no batch: is the training list empty?")
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": scheduler.lr,
            "steps": n_steps,
            "time_s": round(time.perf_counter() - t0, 3),
        }
        record.update({k: v / n_steps for k, v in sums.items()})
        if validate is not None:
            for m in modules.values():
                m.eval()
            record.update(validate())
        scheduler.step(record["loss"])
        metric = record.get(select_key)
        if validate is None or (
            metric is not None
            and math.isfinite(metric)
            and (best["metric"] is None or metric > best["metric"])
        ):
            best = {"metric": metric, "epoch": epoch, "state": _states(modules)}
        history.append(record)
        _write_history(history, metrics_path)
        log.info("epoch %s", json.dumps(record))
        io.write_torch(
            {
                "epoch": epoch + 1,
                "modules": {n: m.state_dict() for n, m in modules.items()},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "fingerprint": fingerprint,
                "history": history,
                "best": best,
                "optim": optim.to_dict(),
            },
            resume_path,
        )
    if best["state"] is None:
        raise RuntimeError(f"no epoch was run (epochs={optim.epochs}); set epochs >= 1")
    return FitResult(
        state=best["state"],
        selected_epoch=best["epoch"],
        selected_metric=best["metric"],
        history=history,
        resumed_from=resumed_from,
    )
