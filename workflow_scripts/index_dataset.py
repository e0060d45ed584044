"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.data.pipeline import write_index  # noqa: E402

write_index(
    out=snakemake.output.index, classes=snakemake.output.classes, **snakemake.params.settings
)
