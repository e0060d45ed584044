"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.data.pipeline import extract_shard_csv  # noqa: E402

extract_shard_csv(
    index=snakemake.input.index,
    frames_root=snakemake.params.frames_root,
    shard=int(snakemake.wildcards.shard),
    out=snakemake.output.shard,
    workers=snakemake.threads,
    **snakemake.params.settings,
)
