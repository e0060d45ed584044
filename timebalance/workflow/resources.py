"""Runtime requests (minutes) of the rules that train or run a network.

A request grows with the epochs the job will train (read from the same settings functions
that give the job its params, so it follows the active schedule) and with Snakemake's
`attempt`: a job killed at its time limit writes a checkpoint, fails, and its retry asks
for `attempt` times the first request and resumes where the first one stopped. A profile
caps every request at what the cluster allows (profiles/slurm: `resources: runtime=`), so a
long job runs in pieces of at most that length instead of pending forever.

Minutes per epoch depend on where the job runs (`inputs.gpus`):
- on a GPU (r3d18, slow_r50): the earlier fixed requests, sized for the paper schedule on a
  UCF101-sized dataset (2880 min for 250 pretraining epochs, 1440 for 150 finetuning
  epochs, 2880 for 150 student epochs), spread over those epochs;
- on CPU (the `tiny` backbone on the synthetic data): at least 3x the stage times measured
  on a 2-core CPU with the `demo` schedule (at 2f11e2d: pretraining ~13 s an epoch of 26
  steps, finetuning ~0.3 s and the student ~0.5 s an epoch of 3 steps; README "What the
  demo measures"), rounded up to a whole minute an epoch: generous for the short epochs,
  which leaves room for a slower CPU or a larger dataset.
Larger datasets (Kinetics-400) take longer per epoch: their jobs reach the cap and continue
from their checkpoints in later attempts or reruns.
"""

from __future__ import annotations

import math

from timebalance.workflow import inputs as F

# Minutes per training epoch: stage -> (on CPU, on a GPU).
MINUTES_PER_EPOCH: dict[str, tuple[float, float]] = {
    "pretrain": (1.0, 2880 / 250),
    "finetune": (1.0, 1440 / 150),
    "student": (1.0, 2880 / 150),
    "method": (1.0, 2880 / 150),  # fixmatch, acl_mtl: an epoch is a pass over the unlabeled list
}
# Minutes of a job that does not train (one pass over the data): stage -> (CPU, GPU).
FIXED_MINUTES: dict[str, tuple[float, float]] = {
    "cache_scores": (30.0, 240.0),
    "evaluate": (30.0, 240.0),
}
# Start-up of every job: imports, building the model, reading the lists.
SETUP_MINUTES = 10.0


def epochs(stage: str, config: dict, wildcards) -> int:
    """Epochs the job of `stage` trains, from the settings its rule passes as params."""
    if stage == "pretrain":
        return int(F.pretrain_settings(config, wildcards)["epochs"])
    if stage == "finetune":
        return int(F.finetune_settings(config, wildcards)["optim"]["epochs"])
    if stage == "student":
        return int(F.student_settings(config, wildcards)["optim"]["epochs"])
    if stage == "method":
        return int(F.method_settings("fixmatch", config, wildcards)["optim"]["epochs"])
    raise ValueError(f"no training stage {stage!r} (one of {sorted(MINUTES_PER_EPOCH)})")


def runtime(stage: str, config: dict, wildcards, attempt: int = 1) -> int:
    """Minutes to request for a job of `stage` (a training stage or one of FIXED_MINUTES)
    at Snakemake attempt `attempt` (1 for the first submission)."""
    on_gpu = F.gpus(config, wildcards) > 0
    if stage in MINUTES_PER_EPOCH:
        minutes = (
            SETUP_MINUTES + epochs(stage, config, wildcards) * MINUTES_PER_EPOCH[stage][on_gpu]
        )
    elif stage in FIXED_MINUTES:
        minutes = FIXED_MINUTES[stage][on_gpu]
    else:
        known = sorted([*MINUTES_PER_EPOCH, *FIXED_MINUTES])
        raise ValueError(f"no runtime for stage {stage!r} (one of {known})")
    return math.ceil(minutes * max(1, int(attempt)))
