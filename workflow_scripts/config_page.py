"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.report.config_page import write_config_page  # noqa: E402

write_config_page(config=snakemake.params.config, out=snakemake.output.html)
