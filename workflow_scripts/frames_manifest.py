"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.data.pipeline import merge_shards  # noqa: E402

merge_shards(
    shards=list(snakemake.input.shards),
    out=snakemake.output.manifest,
    max_bad_fraction=snakemake.params.max_bad_fraction,
)
