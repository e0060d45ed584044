"""The processes of a multi-process training: who this process is (`World`), and the
collectives the trainer, the loaders and the losses use. Every function is a no-op, or
returns its input, in a single-process run, so the same code runs with one process or many.
`engine.launch` starts the processes.

Why the gradients are averaged here rather than by DistributedDataParallel's wrapper: DDP
only synchronises what runs through the wrapper's forward, and the stages' steps call their
networks' parts directly (`model.features`, the classifier, projection heads, EMA teachers)
and skip some heads on some steps. `average_gradients` averages every trainable gradient
after the backward pass, whatever the step called, which is what DDP computes (its
all-reduce mean), at the cost of not overlapping the communication with the backward pass.
Buffers (batch-norm running statistics, ...) follow rank 0's after every step, as DDP's
`broadcast_buffers` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class World:
    """This process's place among the job's training processes."""

    rank: int = 0  # 0..size-1; rank 0 writes the files
    size: int = 1  # processes over all nodes
    local_rank: int = 0  # index on its node (its GPU)

    @property
    def main(self) -> bool:
        return self.rank == 0


# (rank, world size, local rank): torchrun's names, then srun's.
_WORLD_VARIABLES = (
    ("RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
)


def env_world(environ: Mapping[str, str] | None = None) -> World | None:
    """The world a launcher describes in the environment: torchrun's RANK, WORLD_SIZE and
    LOCAL_RANK, else the SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID of an srun task.
    None when neither is set."""
    env = os.environ if environ is None else environ
    for keys in _WORLD_VARIABLES:
        if all(k in env for k in keys):
            rank, size, local = (int(env[k]) for k in keys)
            if not 0 <= rank < size or local < 0:
                given = {k: env[k] for k in keys}
                raise ValueError(f"inconsistent launcher environment: {given}")
            return World(rank=rank, size=size, local_rank=local)
    return None


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def world() -> World:
    """The world of the initialised process group; one process when there is none."""
    if not _initialised():
        return World()
    return World(
        rank=dist.get_rank(),
        size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def is_main() -> bool:
    """Whether this process writes the job's files (rank 0, or the only process)."""
    return world().main


def _active() -> bool:
    return _initialised() and dist.get_world_size() > 1


def _comm_device() -> torch.device:
    """Where collective tensors live: the current GPU for NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ---------------------------------------------------------------- collectives
def barrier() -> None:
    """Wait for every process (nothing with one)."""
    if _active():
        dist.barrier()


def sum_floats(values: Sequence[float]) -> list[float]:
    """`values` summed over the processes (as given with one process)."""
    if not _active():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def any_process(flag: bool) -> bool:
    """Whether `flag` is true in any process: a decision every process takes alike."""
    return sum_floats([float(flag)])[0] > 0


def gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order (in-memory pickles between this job's own
    processes; nothing is read from a file)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class _GatherWithGrad(torch.autograd.Function):
    """Concatenation of every process's tensor along `dim`; the backward pass sums the
    gradient over the processes (each one's loss depends on every row) and keeps this
    process's rows. Rows may differ in number between processes."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        size, rank = dist.get_world_size(), dist.get_rank()
        rows = x.movedim(dim, 0).contiguous()
        counts = torch.tensor([rows.shape[0]], device=rows.device)
        all_counts = [torch.zeros_like(counts) for _ in range(size)]
        dist.all_gather(all_counts, counts)
        sizes = [int(c) for c in all_counts]
        pad = max(sizes) - rows.shape[0]
        padded = torch.cat([rows, rows.new_zeros(pad, *rows.shape[1:])]) if pad else rows
        parts = [torch.empty_like(padded) for _ in range(size)]
        dist.all_gather(parts, padded)
        ctx.dim, ctx.sizes, ctx.rank = dim, sizes, rank
        return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)]).movedim(0, dim)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        start = sum(ctx.sizes[: ctx.rank])
        return total.narrow(ctx.dim, start, ctx.sizes[ctx.rank]), None


def all_gather(x: Tensor, dim: int = 0) -> Tensor:
    """Every process's `x` concatenated along `dim` in rank order, differentiable (a loss
    over the whole global batch, e.g. contrastive negatives from every process). With the
    gradient averaging of `average_gradients`, a loss computed alike by every process on
    the gathered rows trains exactly as one process on the whole batch. `x` itself with
    one process."""
    if not _active():
        return x
    return _GatherWithGrad.apply(x, dim)


def _grouped(tensors: Iterable[Tensor]) -> list[list[Tensor]]:
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return list(groups.values())


@torch.no_grad()
def average_gradients(params: Sequence[torch.nn.Parameter]) -> None:
    """Replace each parameter's gradient by its mean over the processes (one all-reduce per
    dtype). A parameter without a gradient in one process counts as zero there; one
    without a gradient in every process keeps None (the optimiser skips it, as with one
    process)."""
    if not _active():
        return
    size = dist.get_world_size()
    for group in _grouped(params):
        p0 = group[0]
        has = torch.tensor([p.grad is not None for p in group], dtype=p0.dtype, device=p0.device)
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group]
            + [has]
        )
        comm = flat.to(_comm_device())
        dist.all_reduce(comm)
        flat = comm.to(p0.device)
        offset = 0
        for p, any_grad in zip(group, (flat[-len(group) :] > 0).tolist(), strict=True):
            part = flat[offset : offset + p.numel()].view(p.shape).div_(size)
            offset += p.numel()
            if not any_grad:
                continue
            if p.grad is None:
                p.grad = torch.empty_like(p)
            p.grad.copy_(part)


@torch.no_grad()
def broadcast_from_main(tensors: Iterable[Tensor]) -> None:
    """Overwrite `tensors` with rank 0's values (one broadcast per dtype)."""
    if not _active():
        return
    for group in _grouped(tensors):
        flat = torch.cat([t.reshape(-1) for t in group]).to(_comm_device())
        dist.broadcast(flat, src=0)
        offset = 0
        for t in group:
            t.copy_(flat[offset : offset + t.numel()].view(t.shape))
            offset += t.numel()
