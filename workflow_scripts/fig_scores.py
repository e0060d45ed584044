"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.figures import write_score_distribution  # noqa: E402

write_score_distribution(
    scores=snakemake.input.scores,
    classes=snakemake.input.classes,
    catalogue=snakemake.params.catalogue,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
