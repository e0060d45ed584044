"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

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
