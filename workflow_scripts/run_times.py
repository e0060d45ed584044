"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.run_times import write_run_times  # noqa: E402

write_run_times(
    out_csv=snakemake.output.csv,
    out_html=snakemake.output.html,
)
