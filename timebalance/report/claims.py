"""The papers' claims, measured over seeds on one (dataset, budget) cell: claims.json + .md.

Each claim is a paired comparison of per-seed test top-1 (the same split, seed and
evaluation on both sides), reported with the per-seed values, mean, sample std, a 95%
t-interval of the mean difference and the paired t-test's two-sided p-value. With 3 seeds the
interval is wide; "better" in the summary means the interval excludes 0, nothing weaker.

The score claim (Fig. 4) and the teacher-complementarity claim (Fig. 1) need to know which
classes are periodic ("atomic") and which are sequences of sub-actions: the synthetic
dataset's catalogue says so; for other datasets those two claims are reported as unavailable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from timebalance import io
from timebalance.methods.diagnostics import auc

# Role in a claim -> result key of the run (the workflow maps keys to per-seed runs).
RUNS: dict[str, str] = {
    "supervised": "variants/scratch_sup",
    "sslinit_labels": "variants/sup_sslinit",
    "teacher_invariant": "teacher_invariant",
    "teacher_distinctive": "teacher_distinctive",
    "teacher_invariant_n2": "teachers/invariant_n2",
    "teacher_distinctive_n2": "teachers/distinctive_n2",
    "invariant_only": "variants/inv_only",
    "distinctive_only": "variants/dist_only",
    "averaged": "variants/avg",
    "timebalance": "student",
}

# Role prefix of a student variant that normalises s (extension): "normalised:<variant>".
NORMALISED = "normalised:"

# (claim, paper source, [(what, better role, worse role)]): each pair is one paired test.
COMPARISONS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "semi_supervised_gain",
        "Table 1",
        (("TimeBalance student - supervised only", "timebalance", "supervised"),),
    ),
    (
        "both_teachers_and_reweighting_help",
        "Table 2 rows a, d, e, f, g",
        (
            ("(d) + invariant teacher - (a) labels only", "invariant_only", "sslinit_labels"),
            ("(e) + distinctive teacher - (a) labels only", "distinctive_only", "sslinit_labels"),
            ("(f) both averaged - (d) invariant only", "averaged", "invariant_only"),
            ("(f) both averaged - (e) distinctive only", "averaged", "distinctive_only"),
            ("(g) reweighted - (f) averaged", "timebalance", "averaged"),
        ),
    ),
    (
        "clips_in_pretraining",
        "Table 5",
        (
            ("invariant teacher n=4 - n=2", "teacher_invariant", "teacher_invariant_n2"),
            ("distinctive teacher n=4 - n=2", "teacher_distinctive", "teacher_distinctive_n2"),
        ),
    ),
)


def paired(better: Sequence[float], worse: Sequence[float]) -> dict[str, Any]:
    """Paired comparison over seeds: differences, their mean, std, 95% t-interval, p."""
    from scipy import stats

    a, b = np.asarray(better, dtype=float), np.asarray(worse, dtype=float)
    diff = a - b
    out: dict[str, Any] = {
        "per_seed": [round(float(d), 4) for d in diff],
        "mean": float(diff.mean()),
        "std": float(diff.std(ddof=1)) if len(diff) > 1 else None,
        "ci95": None,
        "p_value": None,
    }
    if len(diff) > 1 and diff.std(ddof=1) > 0:
        half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
        out["ci95"] = [float(diff.mean() - half), float(diff.mean() + half)]
        out["p_value"] = float(stats.ttest_rel(a, b).pvalue)
    out["verdict"] = _verdict(out)
    return out


def _verdict(d: Mapping[str, Any]) -> str:
    if d["ci95"] is None:
        return "too few seeds for an interval"
    low, high = d["ci95"]
    if low > 0:
        return "better (95% interval above 0)"
    if high < 0:
        return "worse (95% interval below 0)"
    return "not distinguishable from 0 at these seeds"


def _summary(values: Sequence[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    return {
        "per_seed": [round(float(x), 4) for x in v],
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else None,
    }


def score_claim(scores: pd.DataFrame, kinds: Mapping[int, str]) -> dict[str, Any]:
    """Fig. 4: s (and each teacher's similarity) on periodic vs sequence videos, and the AUC
    of s for telling them apart (periodic videos should score higher)."""
    kind = scores["label"].map(kinds)
    out: dict[str, Any] = {"source": "Fig. 4", "n_videos": len(scores)}
    for column in ("s", "s_invariant", "s_distinctive"):
        periodic = scores.loc[kind == "atomic", column]
        sequence = scores.loc[kind == "sequence", column]
        out[column] = {
            "periodic_mean": float(periodic.mean()),
            "sequence_mean": float(sequence.mean()),
            "auc_periodic_above_sequence": auc(periodic, sequence),
        }
    inv, dis = scores["s_invariant"].mean(), scores["s_distinctive"].mean()
    out["invariant_above_distinctive"] = bool(inv > dis)
    # The weight eq. 7 gives the distinctive teacher (1 - s, s clamped to [0, 1]).
    out["distinctive_weight_mean"] = float((1 - scores["s"].clip(0, 1)).mean())
    return out


def teacher_complementarity(
    per_seed: Mapping[str, Sequence[Mapping]], kinds_by_name: Mapping[str, str]
) -> dict[str, Any]:
    """Fig. 1: invariant minus distinctive teacher per-class accuracy, averaged over the
    periodic classes and over the sequence classes, per seed."""
    out: dict[str, Any] = {"source": "Fig. 1"}
    for kind, label in (("atomic", "periodic"), ("sequence", "sequence")):
        diffs = []
        for inv, dis in zip(
            per_seed["teacher_invariant"], per_seed["teacher_distinctive"], strict=True
        ):
            names = [n for n, k in kinds_by_name.items() if k == kind]
            pairs = [
                (inv["per_class_accuracy"][n], dis["per_class_accuracy"][n])
                for n in names
                if inv["per_class_accuracy"].get(n) is not None
            ]
            diffs.append(float(np.mean([a - b for a, b in pairs])))
        out[f"invariant_minus_distinctive_{label}"] = _summary(diffs)
    return out


def compute_claims(
    per_seed: Mapping[str, Sequence[Mapping]],
    seeds: Sequence[int],
    *,
    scores: pd.DataFrame | None,
    classes: Sequence[str],
    catalogue: Sequence[Mapping] | None,
    normalised: Mapping[str, Sequence[Mapping]] | None = None,
) -> dict[str, Any]:
    """All claims from the per-seed results (role -> one result dict per seed, in `seeds`
    order), the score cache and, for the synthetic dataset, its class catalogue."""
    top1 = {role: [r["top1"] for r in runs] for role, runs in per_seed.items()}
    claims: dict[str, Any] = {
        "seeds": list(seeds),
        "top1": {role: _summary(v) for role, v in top1.items()},
    }
    for name, source, pairs in COMPARISONS:
        claims[name] = {
            "source": source,
            **{what: paired(top1[b], top1[w]) for what, b, w in pairs},
        }
    if normalised:
        claims["extension_score_normalisation"] = {
            "source": "extension (not in the paper)",
            **{
                f"variants/{name} (normalised s) - reweighted with raw s": paired(
                    [r["top1"] for r in runs], top1["timebalance"]
                )
                for name, runs in normalised.items()
            },
        }
    if catalogue is None:
        reason = "the dataset has no periodic/sequence catalogue (only the synthetic one has)"
        claims["score_separates_kinds"] = {"source": "Fig. 4", "unavailable": reason}
        claims["complementary_teachers"] = {"source": "Fig. 1", "unavailable": reason}
        return claims
    kinds_by_name = {c["name"]: c["kind"] for c in catalogue}
    missing = sorted(set(classes) - set(kinds_by_name))
    if missing:
        raise ValueError(f"classes {missing[:5]} are not in the dataset's catalogue")
    kinds = {i: kinds_by_name[name] for i, name in enumerate(classes)}
    claims["score_separates_kinds"] = (
        score_claim(scores, kinds)
        if scores is not None
        else {"source": "Fig. 4", "unavailable": "no score cache was given"}
    )
    claims["complementary_teachers"] = teacher_complementarity(per_seed, kinds_by_name)
    return claims


def _fmt(d: Mapping[str, Any]) -> str:
    std = "" if d.get("std") is None else f" +- {d['std']:.1f}"
    ci = "" if d.get("ci95") is None else f", 95% CI [{d['ci95'][0]:.1f}, {d['ci95'][1]:.1f}]"
    p = "" if d.get("p_value") is None else f", p = {d['p_value']:.3f}"
    seeds = ", ".join(f"{x:.1f}" for x in d["per_seed"])
    return f"{d['mean']:+.1f}{std} (seeds: {seeds}){ci}{p}"


def render_markdown(claims: Mapping[str, Any], title: str) -> str:
    lines = [f"# Claims on {title} (seeds {claims['seeds']})", ""]
    lines += ["| run | test top-1 (%), mean +- std | per seed |", "| --- | ---: | --- |"]
    for role, s in claims["top1"].items():
        std = "" if s["std"] is None else f" +- {s['std']:.1f}"
        lines.append(f"| {role} | {s['mean']:.1f}{std} | {s['per_seed']} |")
    for name, _, _ in COMPARISONS:
        lines += ["", f"## {name.replace('_', ' ')} ({claims[name]['source']})", ""]
        for what, d in claims[name].items():
            if what != "source":
                lines.append(f"- {what}: {_fmt(d)}: {d['verdict']}")
    ext = claims.get("extension_score_normalisation")
    if ext:
        lines += ["", f"## score normalisation ({ext['source']})", ""]
        for what, d in ext.items():
            if what != "source":
                lines.append(f"- {what}: {_fmt(d)}: {d['verdict']}")
    score = claims["score_separates_kinds"]
    lines += ["", "## score separates the two kinds of action (Fig. 4)", ""]
    if "unavailable" in score:
        lines.append(f"- unavailable: {score['unavailable']}")
    else:
        for col in ("s", "s_invariant", "s_distinctive"):
            c = score[col]
            lines.append(
                f"- {col}: periodic {c['periodic_mean']:.3f}, sequence {c['sequence_mean']:.3f}, "
                f"AUC {c['auc_periodic_above_sequence']:.3f}"
            )
        lines.append(
            f"- invariant teacher above distinctive: {score['invariant_above_distinctive']}; "
            f"mean weight of the distinctive teacher (1 - s): "
            f"{score['distinctive_weight_mean']:.3f}"
        )
    comp = claims["complementary_teachers"]
    lines += ["", "## complementary teachers (Fig. 1)", ""]
    if "unavailable" in comp:
        lines.append(f"- unavailable: {comp['unavailable']}")
    else:
        for key in ("periodic", "sequence"):
            d = comp[f"invariant_minus_distinctive_{key}"]
            std = "" if d["std"] is None else f" +- {d['std']:.1f}"
            lines.append(
                f"- invariant - distinctive teacher, {key} classes: {d['mean']:+.1f}{std} "
                f"(seeds: {d['per_seed']})"
            )
    return "\n".join(lines) + "\n"


def write_claims(
    runs: Mapping[str, str | Path],
    seeds: Sequence[int],
    *,
    scores: str | Path | None,
    classes: str | Path,
    catalogue: str | Path | None,
    title: str,
    out_json: str | Path,
    out_md: str | Path,
) -> dict[str, Any]:
    """`runs` maps "<role>|<seed>" to a per-seed result JSON: every role of RUNS, and
    "normalised:<variant>|<seed>" for the score-normalisation extension's variants."""
    per_seed: dict[str, list[Mapping]] = {}
    extension = sorted({k.split("|")[0] for k in runs if k.startswith(NORMALISED)})
    for role in [*RUNS, *extension]:
        paths = [runs.get(f"{role}|{seed}") for seed in seeds]
        if all(p is None for p in paths):
            continue
        if any(p is None for p in paths):
            raise ValueError(f"claims: {role} is missing for some of the seeds {list(seeds)}")
        per_seed[role] = [json.loads(Path(p).read_text()) for p in paths]
    normalised = {r.removeprefix(NORMALISED): per_seed.pop(r) for r in extension}
    lacking = sorted(set(RUNS) - set(per_seed))
    if lacking:
        raise ValueError(f"claims: no results for {lacking}")
    claims = compute_claims(
        per_seed,
        seeds,
        scores=None if scores is None else pd.read_csv(scores, dtype={"video_id": str}),
        classes=Path(classes).read_text().splitlines(),
        catalogue=None if catalogue is None else json.loads(Path(catalogue).read_text())["classes"],
        normalised=normalised,
    )
    io.write_json(claims, out_json)
    io.write_text(render_markdown(claims, title), out_md)
    return claims
