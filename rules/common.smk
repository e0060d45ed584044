# Config validation, wildcard constraints and the named input/param functions of the rules.
# The logic lives in timebalance.workflow (pure functions of the config, unit tested).
from pathlib import Path

from snakemake.utils import validate

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
    teacher=r"(invariant|distinctive)_n[0-9]+_s[0-9]+",
    t1=r"(invariant|distinctive)_n[0-9]+_s[0-9]+",
    t2=r"(invariant|distinctive)_n[0-9]+_s[0-9]+",
    n=r"[0-9]+",
    ps=r"[0-9]+",
    model=r"student|variants/[a-z0-9_]+",
    run=r"student|variants/[a-z0-9_]+|teachers/(invariant|distinctive)_n[0-9]+_s[0-9]+",
    key=r"student|teacher_(invariant|distinctive)|teachers/(invariant|distinctive)_n[0-9]+(_s[0-9]+)?|variants/[a-z0-9_]+",
    grid=r"[a-z0-9_]+",
    table=r"table[1-7]|fig5_init",


def demo_targets():
    return W.demo_targets(config)


def paper_grid_targets(wildcards):
    """Evaluated only when paper_grid is requested (a config may define no paper grid)."""
    return W.grid_results(config, "paper")


def code(stage):
    """Hash of the package modules a stage uses, from the checkout holding this Snakefile."""
    return code_version(W.CODE[stage], root=Path(workflow.basedir) / "timebalance")


def device_params(wildcards):
    return {"device": config.get("device", "auto")}


def gpus(wildcards):
    """One GPU per training job, none for the CPU-sized `tiny` backbone."""
    return 0 if W.dataset(config, wildcards.dataset).get("backbone") == "tiny" else 1


def frames_root(wildcards):
    return f"{R}/frames/{wildcards.dataset}/jpg"


def manifest(wildcards):
    return f"{R}/frames/{wildcards.dataset}/manifest.csv"


def split_dir(wildcards):
    return f"{R}/splits/{wildcards.dataset}/{wildcards.budget}/seed{wildcards.seed}"


def split_file(name):
    def get(wildcards):
        return f"{split_dir(wildcards)}/{name}.csv"

    return get
