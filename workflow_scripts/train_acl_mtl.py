"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.engine.settings import RunSettings  # noqa: E402
from timebalance.methods.acl_mtl import AclMtlSettings, train_acl_mtl  # noqa: E402

train_acl_mtl(
    AclMtlSettings.from_dict(snakemake.params.settings, where="params.settings"),
    RunSettings.of_job(snakemake),
    labeled=snakemake.input.labeled,
    unlabeled=snakemake.input.unlabeled,
    val=snakemake.input.val,
    classes=snakemake.input.classes,
    frames_root=snakemake.params.frames_root,
    init=snakemake.input.get("init"),
    out=snakemake.output.weights,
    resume=snakemake.params.resume,
    metrics=snakemake.params.metrics,
)
