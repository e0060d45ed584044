"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.data.pipeline import merge_shards  # noqa: E402
from timebalance.workflow.config import longest_clip  # noqa: E402

# The clip length is read from the config, not a param: it only words the summary, and a
# new clip shape must not redo the manifest (and the pretraining after it).
merge_shards(
    shards=list(snakemake.input.shards),
    out=snakemake.output.manifest,
    summary=snakemake.output.summary,
    dataset=snakemake.wildcards.dataset,
    clip=longest_clip(snakemake.config, snakemake.wildcards.dataset),
    **snakemake.params.settings,
)
