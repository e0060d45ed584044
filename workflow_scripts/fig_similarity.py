"""Thin rule script: log to the rule's log file, call one package function."""

from timebalance.joblog import open_rule_log

open_rule_log(snakemake)  # appends every attempt to the rule's log

from timebalance.engine.settings import RunSettings  # noqa: E402
from timebalance.methods.settings import ScoreSettings  # noqa: E402
from timebalance.report.similarity_figure import write_similarity_figure  # noqa: E402

write_similarity_figure(
    ScoreSettings.from_dict(snakemake.params.settings, where="params.settings"),
    RunSettings.of_job(snakemake),
    scores=snakemake.input.scores,
    classes=snakemake.input.classes,
    manifest=snakemake.input.manifest,
    frames_root=snakemake.params.frames_root,
    invariant=snakemake.input.invariant,
    distinctive=snakemake.input.distinctive,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
