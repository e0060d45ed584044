"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.figures import write_learning_curves  # noqa: E402

write_learning_curves(
    metrics=snakemake.params.metrics,
    title=snakemake.params.title,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
