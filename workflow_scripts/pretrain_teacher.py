"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.engine.settings import RunSettings  # noqa: E402
from timebalance.methods.pretrain import pretrain_teacher  # noqa: E402
from timebalance.methods.settings import PretrainSettings  # noqa: E402

pretrain_teacher(
    PretrainSettings.from_dict(snakemake.params.settings, where="params.settings"),
    RunSettings.of_job(snakemake),
    manifest=snakemake.input.manifest,
    frames_root=snakemake.params.frames_root,
    out=snakemake.output.weights,
    resume=snakemake.params.resume,
    metrics=snakemake.params.metrics,
)
