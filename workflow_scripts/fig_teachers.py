"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.figures import write_teacher_difference  # noqa: E402

write_teacher_difference(
    invariant=snakemake.input.invariant,
    distinctive=snakemake.input.distinctive,
    catalogue=snakemake.params.catalogue,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
