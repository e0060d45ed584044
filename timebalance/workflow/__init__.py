"""The Snakemake workflow's logic, as pure functions of the config (no torch, no I/O beyond
reading sources and annotation file names), so the DAG of the whole paper grid builds in
seconds and every rule is testable without Snakemake.

- ``paths``: every output path pattern and id grammar (wildcard constraints, schema patterns).
- ``config``: schedule and dataset resolution, student variants, cross-key checks.
- ``inputs``: the rules' input, param and resource functions, and the result targets.
- ``code_deps``: which package modules a rule's script runs (its code version).
"""
