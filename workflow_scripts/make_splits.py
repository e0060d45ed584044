"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from pathlib import Path  # noqa: E402

from timebalance.data.pipeline import write_split_lists  # noqa: E402

write_split_lists(
    manifest=snakemake.input.manifest,
    out_dir=Path(snakemake.output.summary).parent,
    budget=snakemake.wildcards.budget,
    seed=int(snakemake.wildcards.seed),
    val_fraction=snakemake.params.val_fraction,
    labeled_list=snakemake.params.labeled_list,
)
