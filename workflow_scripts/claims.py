"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

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
