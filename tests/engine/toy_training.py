"""A small, really learnable training job for engine tests (also run as a subprocess)."""

from __future__ import annotations

import json
import sys
import time

import torch
from torch.utils.data import TensorDataset

from timebalance.engine.loader import epoch_loader
from timebalance.engine.trainer import OptimSettings, fit


def run(resume, metrics, epochs, sleep=0.0, seed=0, fingerprint="", dropout=0.0, lr=1e-2):
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
        return {"loss": torch.nn.functional.cross_entropy(model(xb), yb)}

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
            workers=0,
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
    )


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sleep=float(sys.argv[4]))
    print(json.dumps({"resumed_from": result.resumed_from, "epochs": len(result.history)}))
