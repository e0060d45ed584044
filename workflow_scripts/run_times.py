"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.run_times import write_run_times  # noqa: E402

write_run_times(
    benchmarks=snakemake.params.benchmarks,
    out_csv=snakemake.output.csv,
    out_html=snakemake.output.html,
)
