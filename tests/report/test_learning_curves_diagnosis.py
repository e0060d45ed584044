"""The pretraining learning curves with the temporal-similarity diagnosis: one panel of the
similarity per kind of action and teacher, read back from the plotted lines."""

from __future__ import annotations

import json

import pytest

from timebalance.report import figures as F


def _metrics(tmp_path, name: str, shift: float, kinds: bool = True):
    """Three epochs; the diagnosis after the 2nd and the 3rd (diagnose_every 2)."""
    lines = []
    for e in range(3):
        line = {"epoch": e, "lr": 0.001, "steps": 5, "time_s": 1.0, "loss": 10.0 - e}
        line["loss_minus_uniform"] = 2.0 - e
        if e >= 1:
            line["similarity/all"] = 0.9 - shift - 0.1 * e
            if kinds:
                line["similarity/periodic"] = 0.95 - shift - 0.1 * e
                line["similarity/sequence"] = 0.85 - shift - 0.1 * e
                line["similarity/auc"] = 0.5 + 0.1 * e
        lines.append(line)
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_similarity_per_kind_and_teacher_in_one_panel(tmp_path):
    metrics = {
        "invariant_n4_s0": _metrics(tmp_path, "inv", 0.0),
        "distinctive_n4_s0": _metrics(tmp_path, "dis", 0.3),
        "ssl_init_n4_s0": _metrics(tmp_path, "init", 0.1, kinds=False),
    }
    curves = F.write_learning_curves(
        metrics=metrics, title="pretraining", out_png=tmp_path / "c.png", out_pdf=tmp_path / "c.pdf"
    )
    assert (tmp_path / "c.png").stat().st_size > 0
    panels = F.curve_panels(curves)
    assert list(panels) == [
        "loss",
        "loss minus its uniform-logit level",
        F.SIMILARITY_PANEL,
        "AUC of the similarity: periodic above sequence",
        "learning rate",
    ]
    assert panels[F.SIMILARITY_PANEL] == [
        "similarity/all",
        "similarity/periodic",
        "similarity/sequence",
    ]
    fig = F.fig_learning_curves(curves, "pretraining")
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    lines = {
        line.get_label(): (line.get_xdata().tolist(), line.get_ydata().tolist(), line)
        for line in axes[F.SIMILARITY_PANEL].lines
    }
    # 3 runs x 3 kinds, less the two kinds the run without a catalogue lacks
    assert sorted(lines) == sorted(
        f"{run}: {kind}"
        for run in metrics
        for kind in ("all", "periodic", "sequence")
        if not (run.startswith("ssl_init") and kind != "all")
    )
    x, y, line = lines["distinctive_n4_s0: sequence"]
    assert x == [1, 2] and y == pytest.approx([0.45, 0.35])  # the diagnosed epochs only
    assert line.get_linestyle() == ":"
    x, y, line = lines["invariant_n4_s0: periodic"]
    assert y == pytest.approx([0.85, 0.75]) and line.get_linestyle() == "--"
    # one colour per teacher across its kinds
    colours = {label.split(":")[0]: set() for label in lines}
    for label, (_, _, line) in lines.items():
        colours[label.split(":")[0]].add(line.get_color())
    assert all(len(c) == 1 for c in colours.values()) and len(set.union(*colours.values())) == 3
    auc = {line.get_label(): line.get_ydata().tolist() for line in axes[
        "AUC of the similarity: periodic above sequence"].lines}  # fmt: skip
    assert auc == {"invariant_n4_s0": pytest.approx([0.6, 0.7]),
                   "distinctive_n4_s0": pytest.approx([0.6, 0.7])}  # fmt: skip
    # ... and in every panel
    for ax in axes.values():
        for line in ax.lines:
            run = line.get_label().split(":")[0]
            assert {line.get_color()} == colours[run], (ax.get_title(), run)
    gap = axes["loss minus its uniform-logit level"].lines[0].get_ydata().tolist()
    assert gap == [2.0, 1.0, 0.0]
    legend = axes[F.SIMILARITY_PANEL].get_legend()
    assert legend is not None and "invariant_n4_s0: sequence" in [
        t.get_text() for t in legend.get_texts()
    ]


def test_stages_without_the_diagnosis_keep_their_panels(tmp_path):
    path = tmp_path / "student.jsonl"
    path.write_text(json.dumps({"epoch": 0, "lr": 0.1, "loss": 1.0, "val_top1": 50.0}) + "\n")
    curves = {"s": F.read_metrics(path)}
    assert F.curve_panels(curves) == {
        "loss": ["loss"],
        "accuracy (%)": ["val_top1"],
        "learning rate": ["lr"],
    }
