"""Learning-rate schedule of the supplement (B.2): linear warm-up, then halve on a plateau."""

from __future__ import annotations

import math

import torch


class WarmupPlateau:
    """Epoch-level schedule.

    Epoch e < warmup runs at base_lr * (e + 1) / warmup; afterwards the rate is halved
    (factor) whenever the monitored loss has not improved by `threshold` (relative) for
    `patience` epochs, never going below `min_lr`. Call `step(loss)` once per epoch, after it.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        base_lr: float,
        warmup_epochs: int = 10,
        patience: int = 5,
        factor: float = 0.5,
        threshold: float = 1e-3,
        min_lr: float = 1e-6,
    ) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.optimizer = optimizer
        self.base_lr = base_lr
        self.warmup_epochs = max(0, int(warmup_epochs))
        self.patience = patience
        self.factor = factor
        self.threshold = threshold
        self.min_lr = min_lr
        self.epoch = 0
        self.plateau_lr = base_lr
        self.best = math.inf
        self.bad_epochs = 0
        self._apply()

    @property
    def lr(self) -> float:
        if self.epoch < self.warmup_epochs:
            return self.base_lr * (self.epoch + 1) / self.warmup_epochs
        return self.plateau_lr

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def step(self, loss: float) -> None:
        if self.epoch >= self.warmup_epochs:
            if loss < self.best * (1 - self.threshold):
                self.best = loss
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs > self.patience:
                    self.plateau_lr = max(self.min_lr, self.plateau_lr * self.factor)
                    self.bad_epochs = 0
        self.epoch += 1
        self._apply()

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("epoch", "plateau_lr", "best", "bad_epochs")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        self._apply()
