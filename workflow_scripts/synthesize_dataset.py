"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.data.pipeline import synthesize  # noqa: E402

synthesize(root=snakemake.output.root, settings=snakemake.params.settings)
