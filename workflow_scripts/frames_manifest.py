"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.data.pipeline import merge_shards  # noqa: E402

merge_shards(
    shards=list(snakemake.input.shards),
    out=snakemake.output.manifest,
    max_bad_fraction=snakemake.params.max_bad_fraction,
)
