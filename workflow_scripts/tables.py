"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.build import write_table_from_files  # noqa: E402

write_table_from_files(
    snakemake.wildcards.table,
    [tuple(c) for c in snakemake.params.cells],
    {tuple(k.split("|")): path for k, path in snakemake.params.results.items()},
    out_md=snakemake.output.md,
    out_csv=snakemake.output.csv,
    out_tex=snakemake.output.tex,
    out_html=snakemake.output.html,
)
