"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.claims import write_claims  # noqa: E402

write_claims(
    snakemake.params.runs,
    snakemake.params.seeds,
    scores=snakemake.input.scores,
    classes=snakemake.input.classes,
    catalogue=snakemake.params.catalogue,
    title=f"{snakemake.wildcards.dataset} {snakemake.wildcards.budget}",
    out_json=snakemake.output.json,
    out_md=snakemake.output.md,
)
