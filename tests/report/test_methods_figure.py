"""The figure of a method's training (ACL + MTL's reliability, pseudo-labels, loss terms),
read back from the plotted lines."""

from __future__ import annotations

import json

import pytest

from timebalance.report import methods_figure as M


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _epoch(e: int, **extra) -> dict:
    return {
        "epoch": e,
        "lr": 1e-3,
        "steps": 30,
        "time_s": 5.0,
        "loss": 9.0 - e,
        "labeled_ce": 2.3 - 0.5 * e,
        "unlabeled_ce": 0.1 * e,
        "acl": 1.0 + e,
        "mtl": 5.5 - e,
        "kept": 0.2 * e,
        "pseudo_accuracy": 0.1 + 0.2 * e,
        "pseudo_majority": 1.0 - 0.25 * e,
        "val_top1": 10.0 + 20 * e,
        **extra,
    }


def test_acl_mtl_figure_plots_every_term_and_shades_the_warmup(tmp_path):
    records = [
        _epoch(e, gamma=0.5 + 0.1 * e, reliable=0.9 - 0.2 * e, unsupervised_on=float(e >= 2))
        for e in range(4)
    ]
    for r in records[:2]:  # the warm-up's validation is logged apart (never selected)
        r["val_top1_warmup"] = r.pop("val_top1")
    curves = M.write_method_training(
        metrics={"seed0": _write(tmp_path / "acl_mtl.jsonl", records)},
        title="acl_mtl on synthetic 20pct",
        out_png=tmp_path / "f.png",
        out_pdf=tmp_path / "f.pdf",
    )
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "f.pdf").stat().st_size > 0
    fig = M.fig_method_training(curves, "acl_mtl")
    plotted = {
        ax.get_title(): {line.get_label(): line.get_ydata().tolist() for line in ax.lines}
        for ax in fig.axes
    }
    reliability = plotted["reliability of x^u (ACL, eq. 9)"]
    assert reliability["mean gamma"] == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert reliability["share gamma > epsilon"] == pytest.approx([0.9, 0.7, 0.5, 0.3])
    pseudo = plotted["teacher pseudo-labels (eq. 19)"]
    assert pseudo["share correct"] == pytest.approx([0.1, 0.3, 0.5, 0.7])
    assert pseudo["share of the batch's top class"] == [1.0, 0.75, 0.5, 0.25]
    terms = plotted["loss terms (eq. 20)"]
    assert terms["L_ACL"] == [1.0, 2.0, 3.0, 4.0] and terms["L_MTL"] == [5.5, 4.5, 3.5, 2.5]
    val = plotted["validation top-1 (%)"]
    assert val["val top-1"] == [50.0, 70.0]
    assert val["val top-1, warm-up (not selected)"] == [10.0, 30.0]
    # epochs 0-1 trained the labeled loss only: shaded in every panel, named in the title
    assert M.warmup_epochs(curves["seed0"]) == [0, 1]
    for ax in fig.axes:
        (span,) = ax.patches
        assert span.get_x() == pytest.approx(-0.5) and span.get_width() == pytest.approx(2.0)
    assert "epochs 0-1" in fig.get_suptitle()


def test_fixmatch_figure_leaves_out_what_it_does_not_log(tmp_path):
    curves = {
        f"seed{s}": M.read_metrics(_write(tmp_path / f"{s}.jsonl", [_epoch(0), _epoch(1)])).drop(
            columns=["acl", "mtl"]
        )
        for s in (0, 1)
    }
    panels = M.training_panels(curves)
    assert "reliability of x^u (ACL, eq. 9)" not in panels  # no gamma without ACL
    assert [c for c, _ in panels["loss terms (eq. 20)"]] == ["labeled_ce", "unlabeled_ce"]
    fig = M.fig_method_training(curves, "fixmatch")
    (terms,) = [ax for ax in fig.axes if ax.get_title() == "loss terms (eq. 20)"]
    # a line per term and seed, the seeds told apart by line style
    assert len(terms.lines) == 4 and {ln.get_linestyle() for ln in terms.lines} == {"-", "--"}
    assert not any(ax.patches for ax in fig.axes)  # no warm-up logged: nothing shaded
    with pytest.raises(FileNotFoundError, match="rerun those jobs"):
        M.write_method_training(
            metrics={"seed0": tmp_path / "none.jsonl"}, title="t", out_png="x", out_pdf="y"
        )
    with pytest.raises(ValueError, match="hold none of"):
        M.fig_method_training({"seed0": curves["seed0"][["lr"]]}, "t")
