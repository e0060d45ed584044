"""The training of a pseudo-labelling method (ACL + MTL, its variants, FixMatch) from the
metrics line its stage writes per epoch (`methods.acl_mtl.acl_mtl_step`): how reliable ACL
finds the unlabeled clips (gamma of eq. 9, the share above epsilon), how good and how
diverse the teacher's pseudo-labels are, each loss term of eq. 20 and validation top-1.

The same house style as `figures`: a data function (`training_panels`), a plotting
function returning a plain `Figure`, a writer; epochs of a supervised warm-up (the step's
`unsupervised_on` is 0) are shaded. No torch here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from timebalance.report.figures import read_metrics, save_figure

# Panel title -> (metrics column, legend label), in plotting order. A column no run logged
# is left out (FixMatch has no gamma, a variant without MTL no MTL term).
PANELS: dict[str, tuple[tuple[str, str], ...]] = {
    "reliability of x^u (ACL, eq. 9)": (
        ("gamma", "mean gamma"),
        ("reliable", "share gamma > epsilon"),
    ),
    "teacher pseudo-labels (eq. 19)": (
        ("pseudo_accuracy", "share correct"),
        ("kept", "share above delta"),
        ("pseudo_majority", "share of the batch's top class"),
    ),
    "loss terms (eq. 20)": (
        ("labeled_ce", "L_l"),
        ("unlabeled_ce", "L_u"),
        ("acl", "L_ACL"),
        ("mtl", "L_MTL"),
    ),
    "validation top-1 (%)": (
        ("val_top1", "val top-1"),
        ("val_top1_warmup", "val top-1, warm-up (not selected)"),
    ),
}
WARMUP = "unsupervised_on"  # 0 in an epoch of the supervised warm-up
RUN_STYLES = ("-", "--", ":", "-.")


def training_panels(curves: Mapping[str, pd.DataFrame]) -> dict[str, list[tuple[str, str]]]:
    """The panels of `PANELS` with the columns some run logged (a panel without any is
    dropped)."""
    logged = {c for frame in curves.values() for c in frame.columns if frame[c].notna().any()}
    panels = {
        title: [(col, label) for col, label in columns if col in logged]
        for title, columns in PANELS.items()
    }
    return {title: columns for title, columns in panels.items() if columns}


def warmup_epochs(frame: pd.DataFrame) -> list[int]:
    """Epochs in which only the labeled loss trained (their mean `unsupervised_on` < 1)."""
    if WARMUP not in frame:
        return []
    return [int(e) for e, on in frame[WARMUP].items() if pd.notna(on) and on < 1]


def fig_method_training(curves: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """One panel per `training_panels` entry, a colour per column and a line style per run
    (seed), against the epoch; the first run's warm-up epochs shaded in every panel."""
    panels = training_panels(curves)
    if not panels:
        known = sorted(col for columns in PANELS.values() for col, _ in columns)
        raise ValueError(f"{title}: the metrics files hold none of {known}")
    fig = Figure(figsize=(4.2 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    warm = warmup_epochs(next(iter(curves.values())))
    for ax, (panel, columns) in zip(axes, panels.items(), strict=True):
        for i, (run, frame) in enumerate(curves.items()):
            for j, (col, label) in enumerate(columns):
                if col not in frame or not frame[col].notna().any():
                    continue
                values = frame[col].dropna()
                ax.plot(
                    values.index,
                    values.to_numpy(),
                    color=f"C{j}",
                    linestyle=RUN_STYLES[i % len(RUN_STYLES)],
                    marker=".",
                    label=label if len(curves) == 1 else f"{label} ({run})",
                )
        if warm:
            ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="0.9", zorder=0)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    suffix = f" (shaded: labeled loss only, epochs {min(warm)}-{max(warm)})" if warm else ""
    fig.suptitle(title + suffix)
    fig.set_layout_engine("tight")
    return fig


def write_method_training(
    *, metrics: Mapping[str, str | Path], title: str, out_png, out_pdf
) -> dict[str, pd.DataFrame]:
    """The figure of one method in one cell: `metrics` maps a run (seed) to its metrics
    .jsonl; returns the frames plotted."""
    if not metrics:
        raise ValueError(f"{title}: no metrics file to plot")
    missing = [str(p) for p in metrics.values() if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(
            f"{title}: metrics files {missing} do not exist; their training jobs write "
            "them: rerun those jobs"
        )
    curves = {run: read_metrics(path) for run, path in metrics.items()}
    save_figure(fig_method_training(curves, title), out_png, out_pdf)
    return curves
