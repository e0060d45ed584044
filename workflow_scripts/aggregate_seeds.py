"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.aggregate import aggregate_runs  # noqa: E402

aggregate_runs(
    list(snakemake.input.runs),
    snakemake.output.result,
    info={"result": snakemake.wildcards.key, "aggregate_code_version": snakemake.params.code},
)
