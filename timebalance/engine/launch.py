"""Starting a stage's training in several processes: one per GPU, on one node or across
the nodes of a SLURM job.

A stage function decorated with `stage` runs in the calling process, as before, when its job
has at most one GPU. With more (the job's `gpu` resource, or `accelerator.processes`), the
call starts the stage again in worker processes and waits for them: one Python process per
GPU on one node (with torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT), `srun` with one task per GPU across the nodes of a SLURM job (ranks from
SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID). Each worker joins the process group (NCCL on
CUDA, gloo on CPU) and runs the stage's body; `engine.trainer.fit` and
`engine.loader.epoch_loader` then split every batch over the processes, average the
gradients (`engine.distributed`), and write checkpoints, metrics and outputs from rank 0.
A stage called inside a process group that exists already (a script run under torchrun)
runs its body directly.

Why not torchrun's agent on one node: SIGTERM reaches a SLURM job's processes both from the
scheduler and from their parent; a second SIGTERM in the agent's shutdown aborts it and
leaves the workers behind, while the workers' own handler only raises a flag, so this
launcher passes signals straight to them.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from timebalance.engine.device import select_device
from timebalance.engine.distributed import env_world
from timebalance.engine.settings import RunSettings, Settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_STAGE = "__timebalance_stage__"  # attribute marking a function `stage` may launch


def processes_per_node(run: RunSettings) -> int:
    """Training processes on each node of the job: `accelerator.processes` when set, else
    one per GPU granted on a node (its `gpu` resource over its `nodes`) when the job runs
    on CUDA, else one. A device pinned to one GPU (`cuda:k`) runs one process."""
    if run.nodes < 1:
        raise ValueError(f"a job runs on at least one node, got nodes={run.nodes}")
    if run.accelerator.processes is not None:
        return run.accelerator.processes
    if run.gpus <= 1 and run.nodes == 1:
        return 1
    device = select_device(run.device)
    if device.type != "cuda" or device.index is not None:
        return 1
    if run.gpus % run.nodes:
        raise ValueError(
            f"the job has {run.gpus} GPUs over {run.nodes} nodes: request a multiple of the "
            "node count (resources gpu and nodes), so that every node trains alike"
        )
    per_node = run.gpus // run.nodes
    if run.nodes == 1 and per_node > torch.cuda.device_count():
        raise RuntimeError(
            f"the job was granted {per_node} GPUs but this node shows "
            f"{torch.cuda.device_count()} (CUDA_VISIBLE_DEVICES); lower the rule's gpu resource"
        )
    return per_node


def stage(fn: F) -> F:
    """Make the stage function `fn` (with a `run: RunSettings` argument and otherwise
    settings, paths, numbers) start its own training processes when its job has several
    GPUs: see the module docstring. With one process it simply calls `fn`; with several it
    returns None once they all succeeded, and raises when one failed."""
    signature = inspect.signature(fn)
    if "run" not in signature.parameters:
        raise TypeError(f"{fn.__qualname__}: a stage takes its RunSettings as `run`")

    @functools.wraps(fn)
    def launcher(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        run = bound.arguments["run"]
        per_node = processes_per_node(run)
        if per_node * run.nodes == 1 or dist.is_initialized():
            return fn(*args, **kwargs)
        launch(fn, bound, per_node=per_node, nodes=run.nodes)
        return None

    setattr(launcher, _STAGE, True)
    return typing.cast(F, launcher)


def _plain(value: Any, where: str) -> Any:
    """`value` as JSON: settings as their dicts, paths as strings."""
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(
        f"{where}: a {type(value).__name__} cannot be passed to training processes; a stage "
        "takes settings, paths, strings and numbers"
    )


def encode_call(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> str:
    """The JSON a worker process rebuilds the call `fn(**arguments)` from."""
    body = inspect.unwrap(fn)
    args = {name: _plain(value, name) for name, value in arguments.items()}
    return json.dumps({"stage": f"{body.__module__}:{body.__qualname__}", "args": args})


def decode_call(spec: str) -> tuple[Callable[..., Any], dict[str, Any]]:
    """(the stage's body, its keyword arguments) from `encode_call`'s JSON. Only a function
    marked by `stage` is accepted; settings are rebuilt (and checked) by their classes."""
    data = json.loads(spec)
    module_name, _, qualname = str(data["stage"]).partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not getattr(target, _STAGE, False):
        raise ValueError(f"{data['stage']} is not a training stage (marked by `stage`)")
    body = inspect.unwrap(target)
    hints = typing.get_type_hints(body)
    args = {}
    for name, value in data["args"].items():
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, Settings):
            value = hint.from_dict(value, where=name)
        args[name] = value
    return body, args


def launch_commands(
    spec: str,
    *,
    per_node: int,
    nodes: int,
    port: int,
    threads: int | None = None,
    gpu_per_task: bool = False,
) -> list[tuple[list[str], dict[str, str]]]:
    """(command, extra environment) of each process to start: on one node, `per_node`
    Python workers with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT=`port`); across nodes, one `srun` with a task per worker process (ranks
    from SLURM_PROCID..., rendezvous at this host), each with `threads` CPUs and, with
    `gpu_per_task`, its own GPU. (The executor plugin removes the job's SLURM_* task
    settings from a job's environment, so srun is told them again.)"""
    entry = [sys.executable, "-m", __name__, spec]
    if nodes > 1:
        srun = ["srun", f"--nodes={nodes}", f"--ntasks-per-node={per_node}"]
        srun += [f"--cpus-per-task={threads}"] if threads else []
        srun += ["--gpus-per-task=1"] if gpu_per_task else []
        srun += ["--kill-on-bad-exit=1"]
        return [([*srun, *entry], {"MASTER_ADDR": socket.gethostname(), "MASTER_PORT": str(port)})]
    return [
        (
            entry,
            {
                "RANK": str(rank),
                "LOCAL_RANK": str(rank),
                "WORLD_SIZE": str(per_node),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
            },
        )
        for rank in range(per_node)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _check_slurm_allocation(nodes: int) -> None:
    if "SLURM_JOB_ID" not in os.environ:
        raise RuntimeError(
            f"nodes={nodes}: training across nodes needs a SLURM job (profiles/slurm); "
            "without SLURM use one node"
        )
    if "SLURM_STEP_ID" in os.environ:
        raise RuntimeError(
            f"nodes={nodes}: this job runs inside a one-task srun step, which cannot start "
            "tasks on the other nodes; give the rule the resource mpi (profiles/slurm "
            "config.yaml, 'training across nodes') so that it runs in the batch step"
        )


class LaunchFailed(RuntimeError):
    """A worker process of a multi-process training failed (or they were stopped)."""


#: Seconds the other workers get to stop (and rank 0 to save) after one failed.
GRACE_S = 60.0


def launch(
    fn: Callable[..., Any], bound: inspect.BoundArguments, *, per_node: int, nodes: int
) -> None:
    """Run the stage `fn` with `bound` arguments in `per_node` processes on each of `nodes`
    nodes, and wait for them. Each process gets the job's threads over the processes of
    its node (on SLURM across nodes, each task has its own CPUs: the job's threads).
    SIGTERM is passed on, so the workers save the run and stop as one process would."""
    run: RunSettings = bound.arguments["run"]
    threads = run.threads if nodes > 1 or not run.threads else max(1, run.threads // per_node)
    arguments = {**bound.arguments, "run": dataclasses.replace(run, threads=threads)}
    if nodes > 1:
        _check_slurm_allocation(nodes)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the package
    base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        "OMP_NUM_THREADS": str(threads or 1),
    }
    commands = launch_commands(
        encode_call(fn, arguments),
        per_node=per_node,
        nodes=nodes,
        port=_free_port(),
        threads=threads,
        gpu_per_task=run.gpus > 0 and select_device(run.device).type == "cuda",
    )
    log.info(
        "training in %d processes (%d per node on %d node(s)), %s threads each",
        per_node * nodes,
        per_node,
        nodes,
        threads,
    )
    failure = _supervise([(command, {**base, **extra}) for command, extra in commands])
    if failure is not None:
        raise LaunchFailed(failure)


def _supervise(commands: list[tuple[list[str], dict[str, str]]]) -> str | None:
    """Start the processes and wait for all; None when all succeeded, else why not. When
    one fails the others get SIGTERM (they stop at their next step; they cannot save
    without it, so the last epoch's checkpoint stays) and SIGKILL after GRACE_S. SIGTERM
    to this process is passed to every worker (their handler only raises a flag, so one
    that also got it from the scheduler is not harmed)."""
    procs = [subprocess.Popen(command, env=env) for command, env in commands]
    signals: list[int] = []

    def pass_on(signum: int, frame: Any) -> None:
        signals.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, pass_on) if main_thread else None
    failed: int | None = None
    deadline = None
    try:
        while any(p.poll() is None for p in procs):
            codes = [p.returncode for p in procs]
            if failed is None and any(c not in (None, 0) for c in codes):
                failed = next(c for c in codes if c not in (None, 0))
                deadline = time.monotonic() + GRACE_S
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
            if deadline is not None and time.monotonic() > deadline:
                for p in procs:
                    p.kill()
            time.sleep(0.1)
    except BaseException:
        for p in procs:
            p.kill()
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    codes = [p.returncode for p in procs]
    if all(c == 0 for c in codes):
        return None
    if signals:
        return (
            "SIGTERM: the training processes saved the run and stopped; start the job again "
            "(Snakemake retries it with --retries, or rerun the target) to continue"
        )
    first = failed if failed is not None else next(c for c in codes if c != 0)
    return (
        f"a training process failed (exit status {first}; all: {codes}); the log above "
        "shows each process's error, the first one is the cause"
    )


def _worker(spec: str) -> None:
    """One worker process: join the process group and run the stage's body."""
    here = env_world()
    if here is None:
        raise RuntimeError(f"{__name__} runs as a worker of `stage` (or of torchrun or srun)")
    os.environ.update(
        RANK=str(here.rank), WORLD_SIZE=str(here.size), LOCAL_RANK=str(here.local_rank)
    )
    body, args = decode_call(spec)
    run: RunSettings = args["run"]
    device = select_device(run.device)
    backend = "gloo"
    if device.type == "cuda":
        if device.index is not None:
            raise ValueError(
                f"device {run.device!r} pins every process to one GPU; set device: auto (or "
                "cuda) so that each process takes its own"
            )
        torch.cuda.set_device(here.local_rank % torch.cuda.device_count())
        backend = "nccl"
    dist.init_process_group(backend, rank=here.rank, world_size=here.size)
    if not here.main:  # one log line per event, from rank 0; warnings from all
        logging.getLogger("timebalance").setLevel(logging.WARNING)
    try:
        body(**args)
    finally:
        dist.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of a worker process: `python -m timebalance.engine.launch SPEC`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        raise SystemExit(f"usage: python -m {__name__} SPEC (written by the stage launcher)")
    _worker(args[0])


if __name__ == "__main__":
    # Run the worker from the imported module, not from this `__main__` copy, so that the
    # stage functions and the trainer share one module state.
    from timebalance.engine.launch import main as _main

    _main()
