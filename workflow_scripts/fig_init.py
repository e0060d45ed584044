"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.figures import write_init_figure  # noqa: E402

write_init_figure(
    results=snakemake.params.results,
    dataset=snakemake.wildcards.dataset,
    budget=snakemake.wildcards.budget,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
