"""Losses: contrastive pretraining (L_I, L_D1, L_D2) and teacher-to-student distillation."""

from timebalance.losses.contrastive import (
    DEFAULT_TEMPERATURE,
    PRETRAINING_LOSSES,
    Projections,
    distinctive_loss,
    global_local_loss,
    invariant_loss,
    local_local_loss,
    nt_xent,
    pretraining_loss,
    ssl_init_loss,
    uniform_level,
    uses_slices,
)
from timebalance.losses.distillation import DISTILLATION_LOSSES, distillation_loss

__all__ = [
    "DEFAULT_TEMPERATURE",
    "DISTILLATION_LOSSES",
    "PRETRAINING_LOSSES",
    "Projections",
    "distillation_loss",
    "distinctive_loss",
    "global_local_loss",
    "invariant_loss",
    "local_local_loss",
    "nt_xent",
    "pretraining_loss",
    "ssl_init_loss",
    "uniform_level",
    "uses_slices",
]
