"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.methods.student import finetune_teacher  # noqa: E402

finetune_teacher(
    labeled=snakemake.input.labeled,
    val=snakemake.input.val,
    frames_root=snakemake.params.frames_root,
    pretrained=snakemake.input.pretrained,
    out=snakemake.output.weights,
    resume=snakemake.params.resume,
    metrics=snakemake.params.metrics,
    threads=snakemake.threads,
    code_version=snakemake.params.code,
    classes=snakemake.input.classes,
    **snakemake.params.runtime,
    **snakemake.params.settings,
)
