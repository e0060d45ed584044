"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.figures import write_init_figure  # noqa: E402

write_init_figure(
    results=snakemake.params.results,
    dataset=snakemake.wildcards.dataset,
    budget=snakemake.wildcards.budget,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
