"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

from timebalance.report.config_page import write_config_page  # noqa: E402

write_config_page(config=snakemake.params.config, out=snakemake.output.html)
