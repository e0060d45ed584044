"""A small, really learnable training job for engine tests (also run as a subprocess)."""

from __future__ import annotations

import argparse
import json
import logging
import time

import torch
from torch.utils.data import TensorDataset

from timebalance import io
from timebalance.engine.loader import epoch_loader
from timebalance.engine.trainer import OptimSettings, fit


def run(
    resume,
    metrics,
    epochs,
    sleep=0.0,
    seed=0,
    fingerprint="",
    dropout=0.0,
    lr=1e-2,
    tensorboard=None,
    log_every_steps=None,
    hist=False,
    workers=0,
    make_optimizer=None,
    checkpoint_every_s=0.0,
):
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(16, 2)
    )
    device = torch.device("cpu")

    def step(batch):
        if sleep:
            time.sleep(sleep)
        xb, yb = batch
        logits = model(xb)
        out = {"loss": torch.nn.functional.cross_entropy(logits, yb)}
        if hist:  # a histogram and a second term, as the student logs
            out["hist/p1"] = logits.softmax(-1)[:, 1].detach()
            out["mean_logit"] = logits.mean().detach()
        return out

    def validate():
        with torch.no_grad():
            return {"val_top1": float((model(x).argmax(1) == y).float().mean() * 100)}

    return fit(
        modules={"model": model},
        step_fn=step,
        batches=epoch_loader(
            TensorDataset(x, y),
            batch_size=32,
            shuffle=True,
            seed=seed,
            purpose="toy",
            workers=workers,
            device=device,
        ),
        optim=OptimSettings(
            epochs=epochs,
            lr=lr,
            weight_decay=0.0,
            warmup_epochs=1,
            patience=2,
            max_steps_per_epoch=None,
        ),
        device=device,
        resume_path=resume,
        metrics_path=metrics,
        validate=validate,
        seed=seed,
        fingerprint=fingerprint,
        log_every_steps=log_every_steps,
        tensorboard=tensorboard,
        make_optimizer=make_optimizer,
        checkpoint_every_s=checkpoint_every_s,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("resume")
    parser.add_argument("metrics")
    parser.add_argument("epochs", type=int)
    parser.add_argument("sleep", type=float)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--tensorboard")
    parser.add_argument("--state", help="write the selected weights here")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    result = run(
        args.resume,
        args.metrics,
        args.epochs,
        sleep=args.sleep,
        dropout=args.dropout,
        tensorboard=args.tensorboard,
        log_every_steps=4,
        hist=True,
        workers=args.workers,
    )
    if args.state:
        io.write_torch(result.state, args.state)
    print(json.dumps({"resumed_from": result.resumed_from, "epochs": len(result.history)}))
