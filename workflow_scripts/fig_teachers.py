"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.figures import write_teacher_difference  # noqa: E402

write_teacher_difference(
    invariant=snakemake.input.invariant,
    distinctive=snakemake.input.distinctive,
    catalogue=snakemake.params.catalogue,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
