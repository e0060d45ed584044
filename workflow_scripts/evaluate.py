"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.engine.evaluate import evaluate_checkpoint  # noqa: E402

evaluate_checkpoint(
    checkpoint=snakemake.input.checkpoint,
    test=snakemake.input.test,
    frames_root=snakemake.params.frames_root,
    class_names=snakemake.input.classes,
    out=snakemake.output.metrics,
    threads=snakemake.threads,
    info={**snakemake.params.info, "code_version": snakemake.params.code},
    **snakemake.params.runtime,
    **snakemake.params.settings,
)
