"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.figures import write_score_distribution  # noqa: E402

write_score_distribution(
    scores=snakemake.input.scores,
    classes=snakemake.input.classes,
    catalogue=snakemake.params.catalogue,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
