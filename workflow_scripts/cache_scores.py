"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.engine.settings import RunSettings  # noqa: E402
from timebalance.methods.scores import cache_scores  # noqa: E402
from timebalance.methods.settings import ScoreSettings  # noqa: E402

cache_scores(
    ScoreSettings.from_dict(snakemake.params.settings, where="params.settings"),
    RunSettings.of_job(snakemake),
    manifest=snakemake.input.manifest,
    frames_root=snakemake.params.frames_root,
    invariant=snakemake.input.t1,
    distinctive=snakemake.input.t2,
    out=snakemake.output.scores,
)
