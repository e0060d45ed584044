"""The training loop shared by every stage: Adam, warm-up + plateau (or an optimiser and
schedule a stage builds itself, `make_optimizer`), atomic resume
checkpoints (every epoch, and mid-epoch on SIGTERM), one JSON line of metrics per epoch,
best-on-validation selection, progress lines and TensorBoard event files; the device
settings of `AcceleratorSettings` (precision, layouts, several processes).

In a multi-process run (`engine.distributed`) every process trains on its part of each
batch; after each backward pass the gradients are averaged and the buffers follow rank 0,
so the processes hold one model. Each step's logged values are averaged over the processes
(so the plateau schedule sees one loss everywhere), the decision to stop on SIGTERM is
taken by all together, and only rank 0 writes the checkpoint, metrics and event files."""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from timebalance import io
from timebalance.engine import distributed
from timebalance.engine.device import (
    autocast,
    cudnn_benchmark,
    grad_scaler,
    precision_scope,
    to_channels_last_3d,
)
from timebalance.engine.progress import EventFiles, TrainingProgress
from timebalance.engine.schedule import WarmupPlateau
from timebalance.engine.settings import ONE_PROCESS, AcceleratorSettings, Settings
from timebalance.seeding import stream

log = logging.getLogger(__name__)

StepFn = Callable[[Any], Mapping[str, torch.Tensor]]


class Schedule(Protocol):
    """An epoch-level learning-rate schedule as `fit` drives it (`WarmupPlateau`'s interface):
    ``lr`` is the current rate, ``step(loss)`` runs once after each epoch, and the state
    dict goes into the resume checkpoint."""

    @property
    def lr(self) -> float: ...

    def step(self, loss: float) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


#: params -> (optimizer, schedule): a stage's own optimiser (e.g. 004's SGD with lr steps).
MakeOptimizer = Callable[[list[nn.Parameter]], tuple[torch.optim.Optimizer, Schedule]]


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


# Keys of a step's output that hold a 1-D tensor for a TensorBoard histogram (e.g. the
# student's per-sample mixing weights), collected over the epoch, not averaged.
HISTOGRAM = "hist/"
# Seconds of training between two resume checkpoints (besides the first and last epoch and
# SIGTERM): what a run killed outright repeats at most.
CHECKPOINT_EVERY_S = 30.0


class Terminated(RuntimeError):
    """SIGTERM reached a training job (SLURM's time limit, preemption, scancel): the resume
    checkpoint is written and the job stops with a non-zero exit status, so Snakemake
    retries it (or the user reruns it) and the run continues from that checkpoint."""


class _Flag:
    stopped = False
    # While a single process validates, SIGTERM stops at once (`_Interrupted`): the epoch's
    # steps are all done, and a long validation pass could outlast SLURM's grace period
    # before SIGKILL.
    interrupts = False


class _Interrupted(Exception):
    """Raised by the SIGTERM handler inside validation."""


# Why SIGTERM writes a mid-epoch checkpoint rather than keeping the last finished epoch: a
# paper-schedule epoch on Kinetics-400 takes hours, so a job whose time limit or preemption
# window is shorter than an epoch would otherwise never progress, and every preemption would
# throw away up to an epoch of GPU time. The checkpoint holds all that the rest of the epoch
# needs to continue exactly as an uninterrupted run: the steps done (the loaders skip them
# without loading them), the global random state (dropout, ...) and the epoch's partial sums.
@contextlib.contextmanager
def _sigterm_flag() -> Iterator[_Flag]:
    """A flag raised by SIGTERM (the loop checks it after each step); the previous handler
    comes back afterwards. Off the main thread no handler can be set: the flag stays down."""
    flag = _Flag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def raise_flag(signum, frame) -> None:
        flag.stopped = True
        if flag.interrupts:
            flag.interrupts = False
            raise _Interrupted

    previous = signal.signal(signal.SIGTERM, raise_flag)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _epoch_batches(batches: Callable[..., Iterable[Any]], epoch: int, skip: int) -> Iterable:
    """The epoch's batches after its first `skip` ones. Loaders of this package skip
    without loading (`skip` argument); any other iterable is read and the batches dropped."""
    if skip == 0:
        return batches(epoch)
    if "skip" in inspect.signature(batches).parameters:
        return batches(epoch, skip=skip)
    it = iter(batches(epoch))
    for _ in range(skip):
        next(it)
    return it


def _total_steps(epoch_batches: Iterable, done: int, cap: int | None) -> int | None:
    try:
        total = done + len(epoch_batches)  # type: ignore[arg-type]
    except TypeError:
        return cap
    return min(total, cap) if cap else total


def _rows(batch: Any) -> int:
    """Samples in a batch: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    values = batch.values() if isinstance(batch, Mapping) else batch
    if isinstance(values, Iterable) and not isinstance(values, str | bytes):
        for value in values:
            if n := _rows(value):
                return n
    return 0


def _rng_state(device: torch.device) -> dict[str, torch.Tensor | None]:
    return {
        "cpu": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def _set_rng_state(state: Mapping[str, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _global_seed(seed: int, epoch: int, rank: int) -> int:
    """The global random stream (dropout, ...) of `epoch` in process `rank`: rank 0 draws
    what a single-process run draws, the others their own streams (the same stream in
    every process would give their different samples the same dropout masks)."""
    if rank == 0:
        return stream(seed, "global", epoch)
    return stream(seed, "global", epoch, rank)


def _restore_rng(partial: Mapping[str, Any], device: torch.device, seed: int, epoch: int) -> None:
    """The random state a mid-epoch checkpoint saved for this process. A process the
    checkpoint has no state for (a resume with more processes) starts a stream of its own
    at that step: exact again once the epoch ends."""
    rank = distributed.world().rank
    others = partial.get("rng_ranks") or []
    if rank == 0:
        _set_rng_state(partial["rng"], device)
    elif rank - 1 < len(others):
        _set_rng_state(others[rank - 1], device)
    else:
        log.warning(
            "process %d has no saved random state (the run was saved with %d processes): "
            "its dropout draws in the rest of epoch %d differ from an uninterrupted run",
            rank,
            len(others) + 1,
            epoch,
        )
        torch.manual_seed(stream(seed, "global resumed", epoch, partial["steps"], rank))


def _prepare_modules(
    modules: Mapping[str, nn.Module], acc: AcceleratorSettings, device: torch.device, size: int
) -> None:
    """Batch norm synchronised over the processes and channels-last 3D weights, in place
    (the Parameter objects stay: a stage's step and optimiser keep working on them)."""
    if acc.sync_batchnorm and size > 1:
        if device.type != "cuda":
            raise ValueError(
                "accelerator.sync_batchnorm needs CUDA (torch synchronises batch norm on GPUs "
                "only); set it to false for a multi-process CPU run"
            )
        for name, module in modules.items():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                raise ValueError(f"module {name!r} is a bare batch norm; wrap it to convert it")
            nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if acc.channels_last_3d:
        for module in modules.values():
            to_channels_last_3d(module)


def fit(
    *,
    modules: Mapping[str, nn.Module],
    step_fn: StepFn,
    batches: Callable[..., Iterable[Any]],
    optim: OptimSettings,
    device: torch.device,
    resume_path: str | Path,
    metrics_path: str | Path,
    validate: Callable[[], Mapping[str, float]] | None = None,
    select_key: str = "val_top1",
    seed: int = 0,
    fingerprint: str = "",
    log_every_steps: int | None = None,
    tensorboard: str | Path | None = None,
    make_optimizer: MakeOptimizer | None = None,
    accelerator: AcceleratorSettings = ONE_PROCESS,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
) -> FitResult:
    """Train `modules` with Adam (or `make_optimizer`'s) until `optim.epochs`, resuming
    from `resume_path`.

    Args:
        modules: trainable modules, already on `device` (their parameters with
            requires_grad are optimised; all are saved in checkpoints).
        step_fn: batch -> dict with a scalar "loss" (back-propagated) and any other
            scalars to log; keys starting with "hist/" hold 1-D tensors written as
            TensorBoard histograms once per epoch. Runs under autocast on CUDA.
        batches: (epoch, skip=0) -> iterable of batches (a DataLoader seeded by epoch;
            `skip` drops the first batches, see `engine.loader`). A callable without
            `skip` works too: a mid-epoch resume then reads and drops those batches.
        validate: optional, run after each epoch in eval mode; its `select_key` picks
            the weights returned (the highest). Without it the last epoch is returned.
        resume_path: checkpoint written after an epoch when `checkpoint_every_s` have
            passed since the last one (and after the first and the last epoch), and when
            SIGTERM arrives, mid-epoch (then `Terminated` is raised); a later call with the
            same path and the same `fingerprint` continues from it exactly. It is not the
            stage's output. A run killed outright (kill -9, a lost node) repeats at most
            `checkpoint_every_s` of training, with the same result.
        checkpoint_every_s: 0 writes the checkpoint after every epoch. Writing it took
            ~50 ms, 11% of a demo student epoch (3 steps), when it was written every epoch.
        fingerprint: identifies the run (settings, inputs, code; see
            `engine.stage.fingerprint`). A resume file written under another fingerprint is
            stale (the rule reran because something changed) and is ignored.
        metrics_path: one JSON line per epoch is appended.
        log_every_steps: a progress line every this many steps (and at least every 30 s).
        tensorboard: folder of the run's TensorBoard event files (None: none written).
            Logging never changes what is computed.
        make_optimizer: trainable parameters -> (optimizer, schedule); the schedule has
            `WarmupPlateau`'s interface (`Schedule`). None: Adam with `optim.lr` and
            `optim.weight_decay`, warm-up and plateau halving (supplement B.2); with a
            factory only `optim.epochs` and `optim.max_steps_per_epoch` are read.
        accelerator: autocast precision (float16 with a gradient scaler), channels-last 3D
            weights, cuDNN benchmark, and batch norm synchronised over the processes of a
            multi-process run (see the module docstring). None of them is part of the
            resume checkpoint's identity: a run resumes under other values.
    """
    resume_path, metrics_path = Path(resume_path), Path(metrics_path)
    acc, here = accelerator, distributed.world()
    _prepare_modules(modules, acc, device, here.size)
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires grad")
    if make_optimizer is None:
        optimizer = torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
        scheduler: Schedule = WarmupPlateau(
            optimizer,
            base_lr=optim.lr,
            warmup_epochs=optim.warmup_epochs,
            patience=optim.patience,
        )
    else:
        optimizer, scheduler = make_optimizer(params)
    scaler = grad_scaler(device, acc.precision)
    start, history, partial = 0, [], None
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
        if ckpt["scaler"]:  # (empty when saved without float16: the scaler starts afresh)
            scaler.load_state_dict(ckpt["scaler"])
        start, history, best = ckpt["epoch"], ckpt["history"], ckpt["best"]
        partial = ckpt.get("partial")
        log.info(
            "resumed from %s at epoch %d%s",
            resume_path,
            start,
            f" step {partial['steps']}" if partial else "",
        )
    resumed_from = start
    # Every process starts from rank 0's weights and buffers (as DDP's constructor does).
    state = [t for m in modules.values() for t in (*m.parameters(), *m.buffers())]
    distributed.broadcast_from_main(state)
    buffers = [b for m in modules.values() for b in m.buffers()]
    # The metrics log restarts from the checkpoint's history, so an epoch that was logged
    # but not checkpointed before a kill is not listed twice.
    if here.main:
        _write_history(history, metrics_path)
    global_step = sum(h["steps"] for h in history)  # optimiser steps of the finished epochs
    progress = TrainingProgress(
        epochs=optim.epochs, every_steps=log_every_steps, bar=None if here.main else False
    )
    events = None
    if tensorboard is not None and here.main:
        first = global_step + (partial["steps"] if partial else 0)
        events = EventFiles(tensorboard, purge_step=first)

    last_save = -math.inf  # (monotonic clock) the first epoch is always saved

    def save(epochs_done: int, partial_epoch: dict | None = None) -> None:
        """Rank 0 writes the checkpoint. A mid-epoch one (`partial_epoch`) holds every
        process's random state, so all processes call it there."""
        if partial_epoch is not None and here.size > 1:
            states = distributed.gather_objects(_rng_state(device))
            partial_epoch = {**partial_epoch, "rng": states[0], "rng_ranks": states[1:]}
        if not here.main:
            return
        io.write_torch(
            {
                "epoch": epochs_done,
                "partial": partial_epoch,
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

    try:
        with (
            precision_scope(acc.precision),
            cudnn_benchmark(device, acc.cudnn_benchmark),
            _sigterm_flag() as flag,
        ):
            for epoch in range(start, optim.epochs):
                for m in modules.values():
                    m.train()
                if partial is None:
                    # Global random streams (dropout, ...) are a function of (seed, epoch), on
                    # CPU and CUDA alike, so a resumed run draws what an uninterrupted one would.
                    torch.manual_seed(_global_seed(seed, epoch, here.rank))
                    n_steps, sums, samples, elapsed = 0, {}, 0, 0.0
                else:
                    n_steps, sums = partial["steps"], dict(partial["sums"])
                    samples, elapsed = partial["samples"], partial["time_s"]
                epoch_batches = _epoch_batches(batches, epoch, n_steps)
                if partial is not None:
                    _restore_rng(partial, device, seed, epoch)
                    partial = None
                progress.start_epoch(
                    epoch,
                    done=n_steps,
                    total=_total_steps(epoch_batches, n_steps, optim.max_steps_per_epoch),
                )
                t0, hists = time.perf_counter(), {}
                for batch in epoch_batches:
                    if optim.max_steps_per_epoch and n_steps >= optim.max_steps_per_epoch:
                        break
                    with autocast(device):
                        out = step_fn(batch)
                    loss = out["loss"]
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"loss is {loss.item()} at epoch {epoch} step {n_steps}; lower "
                            "the learning rate or check the inputs"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    distributed.average_gradients(params)
                    scaler.step(optimizer)
                    scaler.update()
                    distributed.broadcast_from_main(buffers)
                    n_steps += 1
                    values = {}
                    for key, value in out.items():
                        if key.startswith(HISTOGRAM):
                            if events is not None:
                                hists.setdefault(key, []).append(value.detach().reshape(-1))
                            continue
                        values[key] = float(value.detach())
                    # One reduction gives every process the stop decision, the global
                    # batch's rows and the step's values averaged over the processes.
                    total = distributed.sum_floats([flag.stopped, _rows(batch), *values.values()])
                    stop, samples = total[0] > 0, samples + int(total[1])
                    values = {k: v / here.size for k, v in zip(values, total[2:], strict=True)}
                    for key, value in values.items():
                        sums[key] = sums.get(key, 0.0) + value
                    if events is not None:
                        events.scalars(values, global_step + n_steps - 1, prefix="step/")
                    progress.step(n_steps, sums, samples)
                    if stop:
                        partial_epoch = {
                            "steps": n_steps,
                            "sums": sums,
                            "samples": samples,
                            "time_s": elapsed + time.perf_counter() - t0,
                            "rng": _rng_state(device),
                        }
                        save(epoch, partial_epoch)
                        distributed.barrier()
                        raise Terminated(
                            f"SIGTERM: stopped at epoch {epoch} step {n_steps} and saved the "
                            f"run to {resume_path}; start the job again (Snakemake retries "
                            "it with --retries, or rerun the target) to continue from there"
                        )
                if n_steps == 0:
                    raise RuntimeError(f"epoch {epoch} saw no batch: is the training list empty?")
                wall = elapsed + time.perf_counter() - t0
                record: dict[str, Any] = {
                    "epoch": epoch,
                    "lr": scheduler.lr,
                    "steps": n_steps,
                    "time_s": round(wall, 3),
                    "samples_per_s": round(samples / max(wall, 1e-9), 2),
                }
                record.update({k: v / n_steps for k, v in sums.items()})
                if validate is not None:
                    after_steps = {
                        "steps": n_steps,
                        "sums": sums,
                        "samples": samples,
                        "time_s": wall,
                        "rng": _rng_state(device),
                    }
                    for m in modules.values():
                        m.eval()
                    # Every process validates on the whole list. Several processes may
                    # run collectives in it, so there SIGTERM waits for its end (then the
                    # epoch is saved and the run stops); one process stops at once.
                    flag.interrupts, interrupted = here.size == 1, False
                    try:
                        record.update(validate())
                    except _Interrupted:
                        interrupted = True
                    finally:
                        flag.interrupts = False
                    if interrupted:
                        save(epoch, after_steps)  # resumes with this epoch's validation
                        raise Terminated(
                            f"SIGTERM: stopped in the validation of epoch {epoch} and saved "
                            f"the run to {resume_path}; start the job again to continue"
                        )
                scheduler.step(record["loss"])
                metric = record.get(select_key)
                if validate is None or (
                    metric is not None
                    and math.isfinite(metric)
                    and (best["metric"] is None or metric > best["metric"])
                ):
                    best = {"metric": metric, "epoch": epoch, "state": _states(modules)}
                history.append(record)
                if here.main:
                    _write_history(history, metrics_path)
                global_step += n_steps
                if events is not None:
                    shown = {k: v for k, v in record.items() if k not in ("epoch", "steps")}
                    events.scalars(shown, global_step - 1, prefix="epoch/")
                    for key, parts in hists.items():
                        events.histogram(key[len(HISTOGRAM) :], torch.cat(parts), global_step - 1)
                    events.flush()
                # One reduction: any process's SIGTERM, and rank 0's clock (the processes'
                # clocks may differ) saying the checkpoint is due.
                late = here.main and time.monotonic() - last_save >= checkpoint_every_s
                stop, due = (v > 0 for v in distributed.sum_floats([flag.stopped, late]))
                if due or stop or epoch + 1 == optim.epochs:
                    save(epoch + 1)
                    last_save = time.monotonic()
                progress.end_epoch(record, wall_s=time.perf_counter() - t0 + elapsed)
                if stop and epoch + 1 < optim.epochs:  # (after the last: finish)
                    distributed.barrier()
                    raise Terminated(
                        f"SIGTERM: stopped after epoch {epoch} and saved the run to "
                        f"{resume_path}; start the job again to continue from there"
                    )
    finally:
        progress.close()
        if events is not None:
            events.close()
    if best["state"] is None:
        raise RuntimeError(f"no epoch was run (epochs={optim.epochs}); set epochs >= 1")
    return FitResult(
        state=best["state"],
        selected_epoch=best["epoch"],
        selected_metric=best["metric"],
        history=history,
        resumed_from=resumed_from,
    )
