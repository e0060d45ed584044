"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.data.pipeline import synthesize  # noqa: E402

synthesize(root=snakemake.output.root, settings=snakemake.params.settings)
