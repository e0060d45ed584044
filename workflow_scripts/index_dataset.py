"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.data.pipeline import write_index  # noqa: E402

write_index(
    out=snakemake.output.index, classes=snakemake.output.classes, **snakemake.params.settings
)
