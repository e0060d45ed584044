"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.data.pipeline import extract_shard_csv  # noqa: E402

extract_shard_csv(
    index=snakemake.input.index,
    frames_root=snakemake.params.frames_root,
    shard=int(snakemake.wildcards.shard),
    out=snakemake.output.shard,
    workers=snakemake.threads,
    **snakemake.params.settings,
)
