"""Aggregate per-seed result JSONs into one target: mean and std over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from timebalance import io
from timebalance.report.specs import METRICS


def aggregate_runs(runs: list[str | Path], out: str | Path, *, info: dict | None = None) -> dict:
    """Mean, sample std (ddof=1; 0 for one seed) and the per-seed values of each metric,
    plus the per-class accuracy averaged over seeds and the summed confusion matrix."""
    if not runs:
        raise ValueError("no per-seed run to aggregate")
    loaded = []
    for path in runs:
        try:
            loaded.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read per-seed result {path}: {err}") from err
    result: dict = {"runs": [str(p) for p in runs], "seeds": [r.get("seed") for r in loaded]}
    for key in METRICS:
        values = np.array([r[key] for r in loaded], dtype=np.float64)
        result[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "per_seed": values.tolist(),
        }
    names = list(loaded[0]["per_class_accuracy"])
    result["per_class_accuracy"] = {
        name: (
            float(np.mean(vals))
            if (
                vals := [
                    r["per_class_accuracy"][name]
                    for r in loaded
                    if r["per_class_accuracy"][name] is not None
                ]
            )
            else None
        )
        for name in names
    }
    result["confusion_matrix"] = np.sum([r["confusion_matrix"] for r in loaded], axis=0).tolist()
    result["n_test_videos"] = loaded[0]["n_test_videos"]
    for key in ("model", "dataset", "budget", "code_version", "config"):
        if key in loaded[0]:
            result[key] = loaded[0][key]
    result.update(info or {})
    io.write_json(result, out)
    return result
