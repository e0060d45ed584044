"""claims.json: paired comparisons over seeds, score separation, teacher complementarity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from timebalance.report.claims import (
    COMPARISONS,
    RUNS,
    auc,
    compute_claims,
    paired,
    render_markdown,
    write_claims,
)

CLASSES = ["Bounce", "BounceThenCircle", "Circle", "CircleThenBounce"]
CATALOGUE = [
    {"name": "Bounce", "kind": "atomic"},
    {"name": "BounceThenCircle", "kind": "sequence"},
    {"name": "Circle", "kind": "atomic"},
    {"name": "CircleThenBounce", "kind": "sequence"},
]


def _result(top1: float, per_class: list[float]) -> dict:
    return {"top1": top1, "per_class_accuracy": dict(zip(CLASSES, per_class, strict=True))}


def _per_seed(seeds: int) -> dict[str, list[dict]]:
    rng = np.random.default_rng(0)
    out = {}
    for i, role in enumerate(RUNS):
        out[role] = [
            _result(50.0 + i + rng.normal(), [60.0 + i, 40.0, 70.0 - i, 30.0 + 2 * i])
            for _ in range(seeds)
        ]
    return out


def test_paired_matches_hand_computed_t_interval():
    d = paired([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])  # differences 2, 3, 4
    assert d["per_seed"] == [2.0, 3.0, 4.0]
    assert d["mean"] == pytest.approx(3.0) and d["std"] == pytest.approx(1.0)
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, df=2) x std / sqrt(n)
    assert d["ci95"] == pytest.approx([3.0 - half, 3.0 + half])
    assert d["verdict"].startswith("better")
    assert 0 < d["p_value"] < 0.05
    noisy = paired([1.0, 5.0, 2.0], [2.0, 1.0, 3.0])
    assert noisy["verdict"].startswith("not distinguishable")
    assert paired([1.0], [0.0])["ci95"] is None


def test_auc_counts_ties_half():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 1], [1, 1]) == 0.5


def test_compute_claims_structure_and_values():
    per_seed = _per_seed(3)
    scores = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d"],
            "label": [0, 1, 2, 3],
            "s_invariant": [0.99, 0.9, 0.98, 0.92],
            "s_distinctive": [0.8, 0.5, 0.7, 0.4],
        }
    )
    scores["s"] = (scores["s_invariant"] + scores["s_distinctive"]) / 2
    claims = compute_claims(
        per_seed, [0, 1, 2], scores=scores, classes=CLASSES, catalogue=CATALOGUE
    )
    for name, _, pairs in COMPARISONS:
        for what, better, worse in pairs:
            got = claims[name][what]
            want = [
                b["top1"] - w["top1"]
                for b, w in zip(per_seed[better], per_seed[worse], strict=True)
            ]
            assert got["per_seed"] == pytest.approx(want, abs=1e-4)
            assert set(got) >= {"mean", "std", "ci95", "p_value", "verdict"}
    score = claims["score_separates_kinds"]
    assert score["s"]["auc_periodic_above_sequence"] == 1.0
    assert score["s_invariant"]["periodic_mean"] == pytest.approx(0.985)
    assert score["invariant_above_distinctive"] is True
    comp = claims["complementary_teachers"]
    inv, dis = list(RUNS).index("teacher_invariant"), list(RUNS).index("teacher_distinctive")
    # periodic classes: (60 + i) and (70 - i); sequence: 40 and (30 + 2 i)
    periodic = ((60 + inv) + (70 - inv) - (60 + dis) - (70 - dis)) / 2
    sequence = ((30 + 2 * inv) - (30 + 2 * dis)) / 2
    assert comp["invariant_minus_distinctive_periodic"]["mean"] == pytest.approx(periodic)
    assert comp["invariant_minus_distinctive_sequence"]["mean"] == pytest.approx(sequence)
    text = render_markdown(claims, "synthetic 20pct")
    assert "semi supervised gain" in text and "AUC 1.000" in text


def test_without_a_catalogue_the_kind_claims_say_why():
    claims = compute_claims(_per_seed(2), [0, 1], scores=None, classes=CLASSES, catalogue=None)
    assert "unavailable" in claims["score_separates_kinds"]
    assert "unavailable" in claims["complementary_teachers"]


def test_write_claims_reads_files_and_refuses_missing_roles(tmp_path):
    per_seed = _per_seed(3)
    runs = {}
    for role, results in per_seed.items():
        for seed, result in enumerate(results):
            path = tmp_path / f"{role}_{seed}.json"
            path.write_text(json.dumps(result))
            runs[f"{role}|{seed}"] = str(path)
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    (tmp_path / "synthetic.json").write_text(json.dumps({"classes": CATALOGUE}))
    kw = {
        "scores": None,
        "classes": tmp_path / "classes.txt",
        "catalogue": tmp_path / "synthetic.json",
        "title": "t",
        "out_json": tmp_path / "claims.json",
        "out_md": tmp_path / "claims.md",
    }
    claims = write_claims(runs, [0, 1, 2], **kw)
    assert json.loads((tmp_path / "claims.json").read_text()) == json.loads(json.dumps(claims))
    runs.pop("supervised|1")
    with pytest.raises(ValueError, match="supervised is missing"):
        write_claims(runs, [0, 1, 2], **kw)


def test_normalised_variants_are_compared_with_raw_s(tmp_path):
    per_seed = _per_seed(2)
    runs = {}
    extra = {"normalised:rank_s": [_result(70.0, [0.0] * 4), _result(72.0, [0.0] * 4)]}
    for role, results in {**per_seed, **extra}.items():
        for seed, result in enumerate(results):
            path = tmp_path / f"{role.replace(':', '_')}_{seed}.json"
            path.write_text(json.dumps(result))
            runs[f"{role}|{seed}"] = str(path)
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    claims = write_claims(
        runs,
        [0, 1],
        scores=None,
        classes=tmp_path / "classes.txt",
        catalogue=None,
        title="t",
        out_json=tmp_path / "c.json",
        out_md=tmp_path / "c.md",
    )
    ext = claims["extension_score_normalisation"]
    got = ext["variants/rank_s (normalised s) - reweighted with raw s"]["per_seed"]
    raw = [r["top1"] for r in per_seed["timebalance"]]
    assert got == pytest.approx([70.0 - raw[0], 72.0 - raw[1]], abs=1e-4)
    assert "normalised" not in claims["top1"] and "rank_s" in (tmp_path / "c.md").read_text()
