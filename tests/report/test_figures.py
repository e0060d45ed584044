"""Figures: what each one plots (read back from the matplotlib artists), and the files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from timebalance.report import figures as F
from timebalance.report.run_times import collect_run_times, per_rule, write_run_times


def _bar_heights(ax) -> list[float]:
    return [round(p.get_height(), 6) for p in ax.patches if p.get_width() > 0]


def test_teacher_difference_sorted_and_extremes_labelled(tmp_path):
    inv = {"a": 50.0, "b": 80.0, "c": 20.0, "d": 40.0, "e": None}
    dis = {"a": 70.0, "b": 30.0, "c": 20.0, "d": 90.0, "e": None}
    diff = F.teacher_difference(dis, inv)
    assert list(diff.index) == ["b", "c", "a", "d"]  # e has no test video: left out
    assert diff.tolist() == [-50.0, 0.0, 20.0, 50.0]
    kinds = {"a": "atomic", "b": "sequence", "c": "atomic", "d": "sequence"}
    fig = F.fig_teacher_difference(diff, kinds, n_extreme=1)
    ax = fig.axes[0]
    assert _bar_heights(ax)[:4] == [-50.0, 0.0, 20.0, 50.0]
    ticks = {t.get_text(): x for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)}
    assert ticks == {"b": 0, "d": 3}  # one at each end, under its own bar
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["periodic", "sequence"]
    with pytest.raises(ValueError, match="different classes"):
        F.teacher_difference({"a": 1.0}, {"b": 1.0})


def test_write_teacher_difference_reads_results_and_catalogue(tmp_path):
    for name, acc in (("inv", {"x": 10.0, "y": 90.0}), ("dis", {"x": 60.0, "y": 30.0})):
        (tmp_path / f"{name}.json").write_text(json.dumps({"per_class_accuracy": acc}))
    catalogue = tmp_path / "synthetic.json"
    catalogue.write_text(
        json.dumps(
            {"classes": [{"name": "x", "kind": "atomic"}, {"name": "y", "kind": "sequence"}]}
        )
    )
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    diff = F.write_teacher_difference(
        invariant=tmp_path / "inv.json",
        distinctive=tmp_path / "dis.json",
        catalogue=catalogue,
        out_png=png,
        out_pdf=pdf,
    )
    assert diff.to_dict() == {"y": -60.0, "x": 50.0}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    first = png.read_bytes()
    F.write_teacher_difference(
        invariant=tmp_path / "inv.json",
        distinctive=tmp_path / "dis.json",
        catalogue=catalogue,
        out_png=png,
        out_pdf=pdf,
    )
    assert png.read_bytes() == first  # no timestamp: same data, same bytes


def test_extreme_videos_and_similarity_images():
    scores = pd.DataFrame(
        {"video_id": list("abcdef"), "label": [0] * 6, "s": [0.5, 0.9, 0.1, 0.9, 0.3, 0.7]}
    )
    chosen = F.extreme_videos(scores, k=2)
    assert chosen["video_id"].tolist() == ["b", "d", "e", "c"]  # highest first, lowest last
    rng = np.random.default_rng(0)
    panels = [
        F.SimilarityPanel(v, "cls", s, rng.uniform(-1, 1, (4, 4)), rng.uniform(-1, 1, (4, 4)))
        for v, s in zip(chosen["video_id"], chosen["s"], strict=True)
    ]
    fig = F.fig_similarity(panels)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 8
    for k, panel in enumerate(panels):
        np.testing.assert_array_equal(images[2 * k], panel.invariant)
        np.testing.assert_array_equal(images[2 * k + 1], panel.distinctive)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.images][::2]
    assert labels[0] == "cls\ns = 0.900"
    assert F.off_diagonal_mean(np.array([[1.0, 0.2], [0.4, 1.0]])) == pytest.approx(0.3)


def test_init_bars_keep_rows_not_run_and_paper_numbers():
    stat = {"mean": 40.0, "std": 5.0, "per_seed": [35.0, 40.0, 45.0]}
    bars = F.init_bars({"student": {"top1": stat, "seeds": [0, 1, 2]}}, "ucf101", "5pct")
    by_label = {b.label: b for b in bars}
    tclr = by_label["TCLR init (default)"]
    assert (tclr.mean, tclr.std, tclr.n) == (40.0, 5.0, 3) and tclr.paper is not None
    assert by_label["Scratch (random init)"].mean is None  # not run: kept, marked
    assert by_label["VCOP init"].mean is None and by_label["VCOP init"].paper is not None
    fig = F.fig_init_accuracy(bars, "t")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "40.0\n(n=3)" and texts.count("not run") == len(bars) - 1
    assert _bar_heights(ax)[0] == 40.0
    paper = ax.collections[-1].get_offsets()
    assert [round(float(y), 2) for _, y in paper] == [b.paper for b in bars if b.paper is not None]
    synthetic = F.init_bars({"student": {"top1": stat, "seeds": [0, 1, 2]}}, "synthetic", "20pct")
    assert all(b.paper is None for b in synthetic)
    assert [b.label for b in synthetic][-2:] == ["Distinctive-SSL init", "Scratch (random init)"]


def test_score_groups_per_class_and_kind():
    scores = pd.DataFrame({"label": [0, 0, 1, 1, 1], "s": [0.9, 0.8, 0.2, 0.4, 0.3]})
    classes = ["Bounce", "BounceThenCircle"]
    kinds = {"Bounce": "atomic", "BounceThenCircle": "sequence"}
    by_class, by_kind = F.score_groups(scores, classes, kinds)
    assert by_class["Bounce"].tolist() == [0.9, 0.8]
    assert by_kind["sequence"].tolist() == [0.2, 0.4, 0.3]
    fig = F.fig_score_distribution(by_class, by_kind, kinds)
    box_ax, hist_ax = fig.axes
    # classes sorted by median s; the median line of each box is at its class's median
    assert [t.get_text() for t in box_ax.get_xticklabels()] == ["BounceThenCircle", "Bounce"]
    medians = [ln.get_ydata()[0] for ln in box_ax.lines if len(set(ln.get_ydata())) == 1]
    assert pytest.approx(0.3) in medians and pytest.approx(0.85) in medians
    counts = [p.get_height() for p in hist_ax.patches]
    assert sum(counts) == 5
    assert "periodic (n=2, mean 0.850)" in [t.get_text() for t in hist_ax.get_legend().get_texts()]
    _, none = F.score_groups(scores, classes, None)
    assert none == {} and len(F.fig_score_distribution(by_class, none).axes) == 1
    with pytest.raises(ValueError, match="another dataset"):
        F.score_groups(scores, ["only one"], None)


def test_learning_curves_plot_every_term(tmp_path):
    lines = [
        {
            "epoch": e,
            "lr": 0.001 * (e + 1),
            "steps": 5,
            "time_s": 1.0,
            "loss": 3.0 - e,
            "ce": 2.0 - e / 2,
            "val_top1": 10.0 * e,
        }
        for e in range(3)
    ]
    path = tmp_path / "student.jsonl"
    # a resumed job repeats epoch 1: the last record wins
    path.write_text(
        "\n".join(json.dumps(r) for r in [*lines[:2], lines[1] | {"loss": 9.0}, lines[2]]) + "\n"
    )
    curves = F.write_learning_curves(
        metrics={"seed0": path},
        title="student",
        out_png=tmp_path / "c.png",
        out_pdf=tmp_path / "c.pdf",
    )
    assert curves["seed0"]["loss"].tolist() == [3.0, 9.0, 1.0]
    panels = F.curve_panels(curves)
    assert panels == {
        "loss": ["loss"],
        "ce": ["ce"],
        "accuracy (%)": ["val_top1"],
        "learning rate": ["lr"],
    }
    fig = F.fig_learning_curves(curves, "student")
    plotted = {ax.get_title(): ax.lines[0].get_ydata().tolist() for ax in fig.axes if ax.lines}
    assert plotted["ce"] == [2.0, 1.5, 1.0] and plotted["accuracy (%)"] == [0.0, 10.0, 20.0]
    assert plotted["learning rate"] == pytest.approx([0.001, 0.002, 0.003])
    with pytest.raises(FileNotFoundError, match="rerun those jobs"):
        F.write_learning_curves(
            metrics={"x": tmp_path / "none.jsonl"},
            title="t",
            out_png=tmp_path / "x.png",
            out_pdf=tmp_path / "x.pdf",
        )
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty"):
        F.read_metrics(tmp_path / "empty.jsonl")


def test_run_times_collect_every_benchmark(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rel, s, rss in (
        ("pretrain_teacher/ssl/syn/invariant_n4_s0.tsv", 120.5, 2100.0),
        ("evaluate/syn_20pct/seed0/student.tsv", 14.0, 900.0),
        ("evaluate/syn_20pct/seed1/student.tsv", 16.0, 950.0),
    ):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{s / 2}\n")
    times = collect_run_times(tmp_path)
    assert times["rule"].tolist() == ["evaluate", "evaluate", "pretrain_teacher"]
    assert times["job"].tolist()[2] == "ssl/syn/invariant_n4_s0"
    rules = per_rule(times).set_index("rule")
    assert rules.loc["evaluate", "jobs"] == 2 and rules.loc["evaluate", "total_wall_s"] == 30.0
    assert rules.loc["pretrain_teacher", "max_rss_mb"] == 2100.0
    write_run_times(out_csv=tmp_path / "t.csv", out_html=tmp_path / "t.html")  # below the CSV
    page = (tmp_path / "t.html").read_text()
    assert "<table>" in page and "2,100.0" in page and "3 jobs" in page
    (tmp_path / "evaluate/bad.tsv").write_text("x\n1\n")
    with pytest.raises(ValueError, match=r"bad\.tsv is not a Snakemake benchmark"):
        collect_run_times(tmp_path)
