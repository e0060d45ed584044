# Config validation, wildcard constraints and the named input/param functions of the rules.
# The logic lives in timebalance.workflow (pure functions of the config, unit tested).
from functools import partial
from pathlib import Path

from snakemake.utils import validate

from timebalance import rule_functions as F
from timebalance import workflow as W
from timebalance.engine.stage import code_version

validate(config, schema="config.schema.yaml")
W.check_config(config)

R = W.R


wildcard_constraints:
    dataset=r"[a-z][a-z0-9]*",
    budget=r"[0-9]+(\.[0-9]+)?pct|[0-9]+perclass",
    seed=r"[0-9]+",
    shard=r"[0-9]+",
    kind=r"invariant|distinctive|ssl_init",
    teacher=r"(invariant|distinctive)_n[24]_s[0-9]+",
    t1=r"(invariant|distinctive)_n[24]_s[0-9]+",
    t2=r"(invariant|distinctive)_n[24]_s[0-9]+",
    n=r"[24]",
    ps=r"[0-9]+",
    model=r"student|variants/[a-z0-9_]+",
    run=r"student|variants/[a-z0-9_]+|teachers/(invariant|distinctive)_n[24]_s[0-9]+",
    key=r"student|teacher_(invariant|distinctive)|teachers/(invariant|distinctive)_n[24](_s[0-9]+)?|variants/[a-z0-9_]+",
    grid=r"[a-z0-9_]+",
    table=r"table[1-7]|fig5_init",


def demo_targets():
    return W.demo_targets(config)


def code(stage):
    """Hash of the package modules a stage uses, from the checkout holding this Snakefile."""
    return code_version(W.CODE[stage], root=Path(workflow.basedir) / "timebalance")


def bind(function, *args):
    """A function of timebalance.rule_functions with this run's config bound, so that
    Snakemake calls it with the job's wildcards."""
    return partial(function, *args, config)
