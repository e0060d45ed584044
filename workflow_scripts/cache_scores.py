"""Thin rule script: log to the rule's log file, call one package function."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115

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
