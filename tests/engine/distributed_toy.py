"""Training stages small enough for tests of multi-process training (`engine.distributed`):
a learnable MLP trained through the real `fit` and `epoch_loader`, and a probe of the
gathered contrastive losses. Both are `stage`s, so `accelerator.processes=2` runs them in
two gloo processes exactly as a rule's job runs."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from timebalance import io
from timebalance.engine import distributed, launch
from timebalance.engine.loader import epoch_loader
from timebalance.engine.settings import RunSettings, Settings
from timebalance.engine.stage import start_stage
from timebalance.engine.trainer import OptimSettings, fit
from timebalance.losses.contrastive import Projections, gather_projections, pretraining_loss

ROWS, FEATURES = 64, 8


@dataclass(frozen=True)
class ToySettings(Settings):
    epochs: int
    batch_size: int  # the global batch
    dropout: float
    seed: int
    sigterm_at_step: int | None  # the process `sigterm_rank` sends itself SIGTERM in this step
    sigterm_rank: int


def toy_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, FEATURES, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


@launch.stage
def train_toy(
    settings: ToySettings, run: RunSettings, *, resume: str, metrics: str, out: str
) -> None:
    """Train the MLP; rank 0 writes the selected weights and the history to `out`. The
    resume checkpoint stays (the tests compare it)."""
    s = settings
    dev = start_stage(run, seed=s.seed)
    x, y = toy_data()
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 16),
        torch.nn.ReLU(),
        torch.nn.Dropout(s.dropout),
        torch.nn.Linear(16, 2),
    ).to(dev)
    steps = [0]

    def step(batch):
        steps[0] += 1
        here = distributed.world()
        if steps[0] == s.sigterm_at_step and here.rank == s.sigterm_rank:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler would, to one process
        xb, yb = (t.to(dev) for t in batch)
        return {"loss": torch.nn.functional.cross_entropy(model(xb), yb)}

    def validate():
        with torch.no_grad():
            return {"val_top1": float((model(x).argmax(1) == y).float().mean() * 100)}

    result = fit(
        modules={"model": model},
        step_fn=step,
        batches=epoch_loader(
            TensorDataset(x, y),
            batch_size=s.batch_size,
            shuffle=True,
            seed=s.seed,
            purpose="toy",
            workers=0,
            device=dev,
        ),
        optim=OptimSettings(
            epochs=s.epochs,
            lr=1e-2,
            weight_decay=0.0,
            warmup_epochs=1,
            patience=2,
            max_steps_per_epoch=None,
        ),
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        validate=validate,
        seed=s.seed,
        fingerprint="toy",  # settings may differ between the parts of one test run
        accelerator=run.accelerator,
    )
    if distributed.is_main():
        io.write_torch(
            {
                "state": result.state,
                "history": result.history,
                "resumed_from": result.resumed_from,
                "world": distributed.world().size,
            },
            out,
        )


def contrastive_batch(batch: int, n_clips: int, features: int) -> tuple[torch.Tensor, ...]:
    """(sparse 2 x B x F, slices 2 x B x n x F, dense 2 x B x n x F) features, seeded."""
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(2, batch, features, generator=g, dtype=torch.float64),
        torch.randn(2, batch, n_clips, features, generator=g, dtype=torch.float64),
        torch.randn(2, batch, n_clips, features, generator=g, dtype=torch.float64),
    )


def contrastive_step(
    head: torch.nn.Linear, kind: str, rows: slice, *, batch: int, n_clips: int
) -> torch.Tensor:
    """The pretraining loss of `kind` on the projections (by `head`, L2-normalised) of the
    videos `rows` of the seeded batch, gathered over the processes."""
    sparse, slices, dense = (
        t[:, rows] for t in contrastive_batch(batch, n_clips, head.in_features)
    )

    def project(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(head(t), dim=-1)

    z = gather_projections(Projections(project(sparse), project(slices), project(dense)))
    return pretraining_loss(kind, z, temperature=0.1, local_local_reduction="sum")


@launch.stage
def contrastive_gradients(run: RunSettings, *, kind: str, batch: int, out: str) -> None:
    """Each process projects its share of the batch; the loss over the gathered
    projections is back-propagated and the gradients averaged as `fit` does. Rank 0
    writes the loss and the head's gradients to `out`."""
    here = distributed.world()
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 4).double()
    per = batch // here.size
    loss = contrastive_step(
        head, kind, slice(here.rank * per, (here.rank + 1) * per), batch=batch, n_clips=3
    )
    loss.backward()
    distributed.average_gradients(list(head.parameters()))
    if here.main:
        grads = {name: p.grad for name, p in head.named_parameters()}
        io.write_torch({"loss": loss.detach(), "grads": grads, "world": here.size}, out)
