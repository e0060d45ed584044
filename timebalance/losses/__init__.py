"""Losses: contrastive pretraining (L_I, L_D1, L_D2) and teacher-to-student distillation."""

from timebalance.losses.contrastive import (
    DEFAULT_TEMPERATURE,
    OBJECTIVE_TERMS,
    PRETRAINING_LOSSES,
    PRETRAINING_TERMS,
    Projections,
    distinctive_loss,
    global_local_loss,
    invariant_loss,
    local_local_loss,
    nt_xent,
    pretraining_loss,
    pretraining_terms,
    ssl_init_loss,
    uniform_level,
    uniform_levels,
    uses_slices,
)
from timebalance.losses.distillation import DISTILLATION_LOSSES, distillation_loss

__all__ = [
    "DEFAULT_TEMPERATURE",
    "DISTILLATION_LOSSES",
    "OBJECTIVE_TERMS",
    "PRETRAINING_LOSSES",
    "PRETRAINING_TERMS",
    "Projections",
    "distillation_loss",
    "distinctive_loss",
    "global_local_loss",
    "invariant_loss",
    "local_local_loss",
    "nt_xent",
    "pretraining_loss",
    "pretraining_terms",
    "ssl_init_loss",
    "uniform_level",
    "uniform_levels",
    "uses_slices",
]
