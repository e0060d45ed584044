"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.engine.settings import RunSettings  # noqa: E402
from timebalance.methods.evaluate import evaluate_checkpoint  # noqa: E402
from timebalance.methods.settings import EvalSettings  # noqa: E402

evaluate_checkpoint(
    EvalSettings.from_dict(snakemake.params.settings, where="params.settings"),
    RunSettings.of_job(snakemake),
    checkpoint=snakemake.input.checkpoint,
    test=snakemake.input.test,
    classes=snakemake.input.classes,
    frames_root=snakemake.params.frames_root,
    out=snakemake.output.metrics,
    info=snakemake.params.info,
)
