"""Fig. 4 analogue: the temporal similarity matrices C_I and C_D (eq. 5) of the training
videos with the highest and the lowest score s, recomputed with the pretrained teachers for
those few videos (the score cache keeps only s). Kept apart from `figures` because it runs
the teachers (torch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from timebalance.engine.settings import RunSettings
from timebalance.methods.scores import similarity_matrices
from timebalance.methods.settings import ScoreSettings
from timebalance.report.figures import (
    SimilarityPanel,
    extreme_videos,
    fig_similarity,
    off_diagonal_mean,
    save_figure,
)

N_EXTREME = 2  # videos at each end of s
# |s recomputed - s cached| allowed (the cache has 6 decimals; autocast on CUDA rounds more)
S_TOLERANCE = 5e-3


def write_similarity_figure(
    settings: ScoreSettings,
    run: RunSettings,
    *,
    scores: str | Path,
    classes: str | Path,
    manifest: str | Path,
    frames_root: str | Path,
    invariant: str | Path,
    distinctive: str | Path,
    out_png: str | Path,
    out_pdf: str | Path,
) -> list[SimilarityPanel]:
    """Pick the extreme videos of the score cache, recompute their matrices, plot them."""
    table = pd.read_csv(scores, dtype={"video_id": str})
    names = Path(classes).read_text(encoding="utf-8").splitlines()
    chosen = extreme_videos(table, N_EXTREME)
    matrices = similarity_matrices(
        settings,
        run,
        manifest=manifest,
        frames_root=frames_root,
        invariant=invariant,
        distinctive=distinctive,
        video_ids=chosen["video_id"].tolist(),
    )
    for i, row in enumerate(chosen.itertuples(index=False)):
        again = 0.5 * (
            off_diagonal_mean(matrices["invariant"][i])
            + off_diagonal_mean(matrices["distinctive"][i])
        )
        if abs(again - float(row.s)) > S_TOLERANCE:
            raise ValueError(
                f"{row.video_id}: s recomputed from the teachers is {again:.4f}, the score "
                f"cache {scores} says {float(row.s):.4f}; the cache is of other teachers or "
                "older weights: rerun cache_scores"
            )
    panels = [
        SimilarityPanel(
            video_id=row.video_id,
            class_name=names[int(row.label)],
            s=float(row.s),
            invariant=matrices["invariant"][i],
            distinctive=matrices["distinctive"][i],
        )
        for i, row in enumerate(chosen.itertuples(index=False))
    ]
    save_figure(fig_similarity(panels), out_png, out_pdf)
    return panels
