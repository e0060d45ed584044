"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.methods_figure import write_method_training  # noqa: E402

write_method_training(
    metrics=snakemake.params.metrics,
    title=snakemake.params.title,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
