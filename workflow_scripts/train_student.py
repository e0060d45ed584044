"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.methods.student import train_student  # noqa: E402

train_student(
    labeled=snakemake.input.labeled,
    unlabeled=snakemake.input.unlabeled,
    val=snakemake.input.val,
    frames_root=snakemake.params.frames_root,
    init=snakemake.input.get("init"),
    teachers=list(snakemake.input.teachers),
    scores=snakemake.input.get("scores"),
    out=snakemake.output.weights,
    resume=snakemake.params.resume,
    metrics=snakemake.params.metrics,
    threads=snakemake.threads,
    code_version=snakemake.params.code,
    classes=snakemake.input.classes,
    **snakemake.params.runtime,
    **snakemake.params.settings,
)
