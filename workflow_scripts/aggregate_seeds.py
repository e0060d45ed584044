"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.aggregate import aggregate_runs  # noqa: E402

aggregate_runs(
    list(snakemake.input.runs),
    snakemake.output.result,
    info={"result": snakemake.wildcards.key, "aggregate_code_version": snakemake.params.code},
)
