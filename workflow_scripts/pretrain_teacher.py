"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.methods.pretrain import pretrain_teacher  # noqa: E402

pretrain_teacher(
    manifest=snakemake.input.manifest,
    frames_root=snakemake.params.frames_root,
    out=snakemake.output.weights,
    resume=snakemake.params.resume,
    metrics=snakemake.params.metrics,
    threads=snakemake.threads,
    code_version=snakemake.params.code,
    **snakemake.params.runtime,
    **snakemake.params.settings,
)
