"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.engine.settings import RunSettings  # noqa: E402
from timebalance.methods.pretrain import pretrain_teacher  # noqa: E402
from timebalance.methods.settings import PretrainSettings  # noqa: E402

pretrain_teacher(
    PretrainSettings.from_dict(snakemake.params.settings, where="params.settings"),
    RunSettings.of_job(snakemake),
    manifest=snakemake.input.manifest,
    frames_root=snakemake.params.frames_root,
    out=snakemake.output.weights,
    resume=snakemake.params.resume,
    metrics=snakemake.params.metrics,
    catalogue=snakemake.params.catalogue,
)
