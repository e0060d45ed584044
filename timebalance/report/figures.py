"""The papers' figures as analogues on our results (matplotlib, Agg backend; PNG and PDF).

Each figure has a data function (what is plotted, testable without a picture), a plotting
function (data -> matplotlib Figure) and a writer (files the DAG wrote -> PNG + PDF, each
written atomically through timebalance.io). Figures are plain `Figure` objects (no pyplot,
no GUI backend, no global state). Nothing here imports torch: the Fig. 4 analogue,
which recomputes similarity matrices with the teachers, lives in `similarity_figure`.

- Fig. 1: per-class accuracy of the finetuned distinctive minus the invariant teacher;
- Fig. 4: temporal similarity matrices C_I, C_D of the highest- and lowest-s videos;
- Fig. 5: student test accuracy per student initialisation (the `fig5_init` table's data);
- the distribution of s over the training videos, per class and per kind of action;
- learning curves of a training stage (each loss term, validation accuracy, learning rate;
  for pretraining also the temporal-similarity diagnosis, per kind of action and teacher).
"""

from __future__ import annotations

import io as _io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from timebalance import io

KIND_COLOURS = {"atomic": "tab:blue", "sequence": "tab:orange", None: "tab:gray"}
KIND_NAMES = {"atomic": "periodic", "sequence": "sequence"}
# Columns of a metrics line that are bookkeeping, not curves.
NOT_CURVES = frozenset({"epoch", "steps", "time_s"})
# The pretraining diagnosis' columns (timebalance.methods.diagnostics, which imports torch:
# tests/report keep the two equal) -> (panel, line style). The similarity per kind shares
# one panel, a line per run (teacher) and kind.
SIMILARITY_PANEL = "temporal similarity (mean off-diagonal)"
DIAGNOSIS_CURVES = {
    "loss_minus_uniform": ("loss minus its uniform-logit level", "-"),
    "similarity/all": (SIMILARITY_PANEL, "-"),
    "similarity/periodic": (SIMILARITY_PANEL, "--"),
    "similarity/sequence": (SIMILARITY_PANEL, ":"),
    "similarity/auc": ("AUC of the similarity: periodic above sequence", "-"),
}


# --- files --------------------------------------------------------------------------------
def save_figure(fig: Figure, png: str | Path, pdf: str | Path, *, dpi: int = 150) -> None:
    """Write the figure as PNG and PDF (each atomically; no timestamps, so same data, same
    bytes) and close it."""
    for path, fmt, meta in (
        (png, "png", {"Software": None}),
        (pdf, "pdf", {"CreationDate": None, "Creator": None, "Producer": None}),
    ):
        buf = _io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        io.write_bytes(buf.getvalue(), path)


def _read_json(path: str | Path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{what} {path} does not exist; build it first") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} {path} is not valid JSON ({err}); delete and rebuild it") from err


def read_kinds(catalogue: str | Path | None) -> dict[str, str] | None:
    """Class name -> kind ("atomic" = periodic, "sequence") from a synthetic dataset's
    synthetic.json; None for a dataset without a catalogue."""
    if catalogue is None:
        return None
    classes = _read_json(catalogue, "dataset catalogue").get("classes")
    if not isinstance(classes, list):
        raise ValueError(f"{catalogue} has no 'classes' list; regenerate the dataset")
    return {c["name"]: c["kind"] for c in classes}


def read_metrics(path: str | Path) -> pd.DataFrame:
    """One JSON line per epoch (engine.metrics) -> a frame indexed by epoch."""
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"metrics file {path} is empty; rerun the training job")
    try:
        rows = [json.loads(ln) for ln in lines]
    except json.JSONDecodeError as err:
        raise ValueError(f"metrics file {path}: {err}; rerun the training job") from err
    frame = pd.DataFrame(rows)
    if "epoch" not in frame:
        raise ValueError(f"metrics file {path} has no 'epoch' field")
    # A resumed job appends an epoch again: the last record of each epoch wins.
    return frame.drop_duplicates("epoch", keep="last").set_index("epoch").sort_index()


# --- Fig. 1: teacher complementarity ----------------------------------------------------
def teacher_difference(
    distinctive: Mapping[str, float | None], invariant: Mapping[str, float | None]
) -> pd.Series:
    """Per-class accuracy (points) of the distinctive minus the invariant teacher, sorted
    ascending; classes without test videos (None) are left out."""
    if set(distinctive) != set(invariant):
        raise ValueError("the two teachers' results name different classes")
    diff = {
        name: float(distinctive[name]) - float(invariant[name])
        for name in distinctive
        if distinctive[name] is not None and invariant[name] is not None
    }
    return pd.Series(diff, dtype="float64").sort_values(kind="stable")


def fig_teacher_difference(
    diff: pd.Series, kinds: Mapping[str, str] | None = None, *, n_extreme: int = 3
) -> Figure:
    """Sorted bars; the `n_extreme` classes at each end are labelled with their names."""
    fig = Figure(figsize=(max(6.0, 0.12 * len(diff) + 4), 4))
    ax = fig.subplots()
    x = np.arange(len(diff))
    colours = [KIND_COLOURS[(kinds or {}).get(name)] for name in diff.index]
    ax.bar(x, diff.to_numpy(), color=colours, width=0.8)
    ax.axhline(0, color="black", linewidth=0.8)
    extremes = list(range(min(n_extreme, len(diff)))) + list(
        range(max(n_extreme, len(diff) - n_extreme), len(diff))
    )
    # Names as tick labels under the axis: long class names never run into the title.
    ax.set_xticks(extremes, [diff.index[i] for i in extremes], rotation=60, ha="right", fontsize=8)
    ax.set_xlabel(f"classes, sorted ({len(diff)})")
    ax.set_ylabel("accuracy difference (points)")
    ax.set_title("Fig. 1 analogue: distinctive minus invariant teacher, per class")
    if kinds:
        handles = [
            Rectangle((0, 0), 1, 1, color=KIND_COLOURS[k], label=KIND_NAMES[k])
            for k in ("atomic", "sequence")
        ]
        ax.legend(handles=handles, loc="upper left", fontsize=8)
    margin = max(5.0, 0.1 * float(diff.abs().max() if len(diff) else 0.0))
    if len(diff):
        ax.set_ylim(min(0.0, diff.min()) - margin, max(0.0, diff.max()) + margin)
    return fig


def write_teacher_difference(
    *,
    invariant: str | Path,
    distinctive: str | Path,
    catalogue: str | Path | None,
    out_png: str | Path,
    out_pdf: str | Path,
) -> pd.Series:
    """Fig. 1 from the aggregated results of the two finetuned teachers (per-class accuracy
    averaged over seeds)."""
    inv = _read_json(invariant, "teacher result")["per_class_accuracy"]
    dis = _read_json(distinctive, "teacher result")["per_class_accuracy"]
    diff = teacher_difference(dis, inv)
    save_figure(fig_teacher_difference(diff, read_kinds(catalogue)), out_png, out_pdf)
    return diff


# --- Fig. 4: temporal similarity matrices -------------------------------------------------
@dataclass(frozen=True)
class SimilarityPanel:
    """One video of Fig. 4: its name, class, score s and the n x n matrices of eq. 5."""

    video_id: str
    class_name: str
    s: float
    invariant: np.ndarray
    distinctive: np.ndarray


def off_diagonal_mean(matrix: np.ndarray) -> float:
    """Mean of an n x n matrix over its n(n-1) off-diagonal entries (eq. 6 per teacher)."""
    n = matrix.shape[0]
    return float((matrix.sum() - np.trace(matrix)) / (n * (n - 1)))


def extreme_videos(scores: pd.DataFrame, k: int = 2) -> pd.DataFrame:
    """The `k` videos with the highest s, then the `k` with the lowest (ties: video id)."""
    if scores.empty:
        raise ValueError("no scored video")
    ordered = scores.sort_values(["s", "video_id"], ascending=[False, True], kind="stable")
    k = min(k, len(ordered) // 2) or 1
    return pd.concat([ordered.head(k), ordered.tail(k)]).drop_duplicates("video_id")


def fig_similarity(panels: Sequence[SimilarityPanel]) -> Figure:
    """One row per video: C_I and C_D as images on a shared [-1, 1] colour scale."""
    fig = Figure(figsize=(6, 2.8 * len(panels)))
    axes = fig.subplots(len(panels), 2, squeeze=False)
    image = None
    for row, panel in zip(axes, panels, strict=True):
        for ax, (name, matrix) in zip(
            row,
            (("C_I (invariant)", panel.invariant), ("C_D (distinctive)", panel.distinctive)),
            strict=True,
        ):
            image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="viridis")
            n = matrix.shape[0]
            for i in range(n):
                for j in range(n):
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if matrix[i, j] < 0.3 else "black",
                    )
            ax.set_xticks(range(n), [f"t{j + 1}" for j in range(n)])
            ax.set_yticks(range(n), [f"t{i + 1}" for i in range(n)])
            ax.set_title(name, fontsize=9)
        row[0].set_ylabel(f"{panel.class_name}\ns = {panel.s:.3f}", fontsize=9)
    fig.suptitle("Fig. 4 analogue: highest-s (top) and lowest-s (bottom) training videos")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="cosine similarity")
    return fig


# --- Fig. 5: student initialisation ---------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """One bar: ours (mean, std over n seeds; None: not run) and the paper's value, if any."""

    label: str
    mean: float | None
    std: float | None
    n: int
    paper: float | None = None


def init_bars(
    results: Mapping[str, Mapping], dataset: str, budget: str, *, table: str = "fig5_init"
) -> list[Bar]:
    """The rows of the `fig5_init` table for one (dataset, budget): result key -> aggregated
    result in `results`; a row whose result is absent is kept with mean None (not run)."""
    from timebalance.report.specs import table_spec

    spec = table_spec(table)
    bars = []
    for row in spec.rows:
        paper = None
        if row.paper:
            bb = spec.paper_backbone if spec.paper_backbone in row.paper else next(iter(row.paper))
            paper = row.paper_numbers(bb).get((dataset, budget))
        if row.result_key is None:
            if paper is not None:
                bars.append(Bar(row.label, None, None, 0, paper))
            continue
        result = results.get(row.result_key)
        if result is None:
            bars.append(Bar(row.label, None, None, 0, paper))
            continue
        top1 = result["top1"]
        n = len(top1.get("per_seed") or result.get("seeds") or [])
        bars.append(
            Bar(row.label, float(top1["mean"]), float(top1["std"]) if n > 1 else None, n, paper)
        )
    return bars


def fig_init_accuracy(bars: Sequence[Bar], title: str) -> Figure:
    """Ours as bars with +- std, the paper's numbers as diamonds; rows not run are marked."""
    fig = Figure(figsize=(max(5.0, 1.3 * len(bars)), 4))
    ax = fig.subplots()
    x = np.arange(len(bars))
    means = [b.mean if b.mean is not None else 0.0 for b in bars]
    errs = [b.std or 0.0 for b in bars]
    ax.bar(x, means, yerr=errs, capsize=4, color="tab:blue", label="ours (mean ± std)")
    for i, b in enumerate(bars):
        text = "not run" if b.mean is None else f"{b.mean:.1f}\n(n={b.n})"
        ax.text(i, (b.mean or 0.0) + (b.std or 0.0) + 1, text, ha="center", va="bottom", fontsize=8)
    paper = [(i, b.paper) for i, b in enumerate(bars) if b.paper is not None]
    if paper:
        ax.scatter(*zip(*paper, strict=True), marker="D", color="tab:red", zorder=3, label="paper")
    ax.set_xticks(x, [b.label for b in bars], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("test top-1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def write_init_figure(
    *, results: Mapping[str, str | Path], dataset: str, budget: str, out_png, out_pdf
) -> list[Bar]:
    """Fig. 5 from aggregated results, `results` mapping result key -> file."""
    loaded = {key: _read_json(path, "result") for key, path in results.items()}
    bars = init_bars(loaded, dataset, budget)
    title = f"Fig. 5 analogue: student initialisation ({dataset} {budget})"
    save_figure(fig_init_accuracy(bars, title), out_png, out_pdf)
    return bars


# --- the distribution of s ------------------------------------------------------------------
def score_groups(
    scores: pd.DataFrame, classes: Sequence[str], kinds: Mapping[str, str] | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({class name: s of its training videos}, {kind: s}) - kinds empty without a catalogue."""
    if not {"label", "s"} <= set(scores.columns):
        raise ValueError("a score cache needs the columns label and s; rerun cache_scores")
    if scores["label"].max() >= len(classes):
        raise ValueError(
            f"score labels go up to {scores['label'].max()} but there are "
            f"{len(classes)} classes; the score cache is of another dataset"
        )
    by_class = {
        name: scores.loc[scores["label"] == i, "s"].to_numpy(dtype=float)
        for i, name in enumerate(classes)
    }
    by_kind: dict[str, np.ndarray] = {}
    if kinds:
        kind_of = scores["label"].map(lambda i: kinds.get(classes[i]))
        by_kind = {
            KIND_NAMES[k]: scores.loc[kind_of == k, "s"].to_numpy(dtype=float)
            for k in ("atomic", "sequence")
        }
    return by_class, by_kind


def fig_score_distribution(
    by_class: Mapping[str, np.ndarray],
    by_kind: Mapping[str, np.ndarray],
    kinds: Mapping[str, str] | None = None,
) -> Figure:
    """Box plots of s per class (classes sorted by median s); a histogram per kind."""
    order = sorted(
        by_class, key=lambda n: (np.median(by_class[n]) if len(by_class[n]) else -np.inf, n)
    )
    order = [n for n in order if len(by_class[n])]
    ncols = 2 if by_kind else 1
    fig = Figure(figsize=(max(6.0, 0.25 * len(order) + 3) + 4 * (ncols - 1), 4))
    axes = fig.subplots(1, ncols, squeeze=False)
    ax = axes[0, 0]
    box = ax.boxplot([by_class[n] for n in order], patch_artist=True)
    for patch, name in zip(box["boxes"], order, strict=True):
        patch.set_facecolor(KIND_COLOURS[(kinds or {}).get(name)])
    ax.set_xticks(
        range(1, len(order) + 1),
        order,
        rotation=60,
        ha="right",
        fontsize=8 if len(order) <= 30 else 5,
    )
    ax.set_ylabel("temporal similarity score s")
    ax.set_title("s of the training videos, per class")
    if by_kind:
        ax2 = axes[0, 1]
        values = [v for v in by_kind.values() if len(v)]
        lo, hi = (min(v.min() for v in values), max(v.max() for v in values)) if values else (0, 1)
        bins = np.linspace(lo, hi + 1e-9, 21)
        for (name, v), kind in zip(by_kind.items(), ("atomic", "sequence"), strict=True):
            ax2.hist(
                v,
                bins=bins,
                alpha=0.6,
                color=KIND_COLOURS[kind],
                label=f"{name} (n={len(v)}, mean {v.mean():.3f})" if len(v) else name,
            )
        ax2.set_xlabel("s")
        ax2.set_ylabel("training videos")
        ax2.set_title("s per kind of action")
        ax2.legend(fontsize=8)
    return fig


def write_score_distribution(
    *, scores: str | Path, classes: str | Path, catalogue: str | Path | None, out_png, out_pdf
) -> tuple[dict, dict]:
    """The distribution of s from the score cache (and the catalogue's kinds, if any)."""
    table = pd.read_csv(scores, dtype={"video_id": str})
    names = Path(classes).read_text(encoding="utf-8").splitlines()
    kinds = read_kinds(catalogue)
    by_class, by_kind = score_groups(table, names, kinds)
    save_figure(fig_score_distribution(by_class, by_kind, kinds), out_png, out_pdf)
    return by_class, by_kind


# --- learning curves ------------------------------------------------------------------------
def curve_panels(curves: Mapping[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Panel title -> metric columns, over all runs: one panel per loss term (in first-seen
    order), then the pretraining diagnosis (`DIAGNOSIS_CURVES`: the similarity of every
    kind in one panel), then accuracy (columns with 'top1' or 'acc'), then the learning
    rate. Other numeric columns (throughput, ...) get a panel each after the loss terms."""
    seen: list[str] = []
    for frame in curves.values():
        for col in frame.columns:
            if (
                col not in seen
                and col not in NOT_CURVES
                and pd.api.types.is_numeric_dtype(frame[col])
            ):
                seen.append(col)
    diagnosis = [c for c in DIAGNOSIS_CURVES if c in seen]
    accuracy = [c for c in seen if ("top1" in c or "acc" in c) and c not in DIAGNOSIS_CURVES]
    panels = {c: [c] for c in seen if c not in (*accuracy, *diagnosis, "lr")}
    for col in diagnosis:
        panels.setdefault(DIAGNOSIS_CURVES[col][0], []).append(col)
    if accuracy:
        panels["accuracy (%)"] = accuracy
    if "lr" in seen:
        panels["learning rate"] = ["lr"]
    return panels


def fig_learning_curves(curves: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """One panel per curve_panels entry, one line per run (and column) against the epoch."""
    panels = curve_panels(curves)
    if not panels:
        raise ValueError(f"{title}: the metrics files hold no numeric column to plot")
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colours = {run: f"C{i % 10}" for i, run in enumerate(curves)}
    for ax, (panel, columns) in zip(axes.flat, panels.items(), strict=False):
        for run, frame in curves.items():
            for col in columns:
                if col not in frame or not frame[col].notna().any():
                    continue
                # The diagnosis runs every `diagnose_every` epochs: join the epochs it ran.
                values = frame[col].dropna()
                label = run if len(columns) == 1 else f"{run}: {col.rsplit('/', 1)[-1]}"
                style = DIAGNOSIS_CURVES.get(col, (panel, "-"))[1]
                ax.plot(
                    values.index,
                    values.to_numpy(),
                    linestyle=style,
                    # a run's colour in every panel (but several columns of one run in a
                    # panel of other curves: the colour cycle tells them apart)
                    color=colours[run] if col in DIAGNOSIS_CURVES or len(columns) == 1 else None,
                    marker=".",
                    label=label,
                )
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        if panel == SIMILARITY_PANEL and ax.lines:
            ax.legend(fontsize=6)  # line style = kind of action (the figure's legend: runs)
        if panel == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(4, len(labels)),
        fontsize=8,
        bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(labels) // 4)),
    )
    fig.suptitle(title)
    fig.set_layout_engine("tight")
    return fig


def write_learning_curves(
    *, metrics: Mapping[str, str | Path], title: str, out_png, out_pdf
) -> dict[str, pd.DataFrame]:
    """Learning curves of one stage: `metrics` maps a run's name to its metrics .jsonl."""
    if not metrics:
        raise ValueError(f"{title}: no metrics file to plot")
    missing = [str(p) for p in metrics.values() if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(
            f"{title}: metrics files {missing} do not exist; their "
            "training jobs write them: rerun those jobs"
        )
    curves = {run: read_metrics(path) for run, path in metrics.items()}
    save_figure(fig_learning_curves(curves, title), out_png, out_pdf)
    return curves
