"""results/<dataset>_<budget>/claims.json builds from the DAG (structure, not values)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.workflow.conftest import run_snakemake
from timebalance.report.claims import COMPARISONS, RUNS

pytestmark = pytest.mark.slow


def test_claims_target_over_two_seeds(finished_run, tmp_path):
    done, config = finished_run
    workdir = tmp_path / "run"
    shutil.copytree(done, workdir, symlinks=True)  # the finished chain, left untouched
    config = {**config, "seeds": [0, 1]}
    target = "results/synthetic_50pct/claims.json"
    proc = run_snakemake(workdir, "--cores", "2", target, config=config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    claims = json.loads((workdir / target).read_text())
    assert claims["seeds"] == [0, 1]
    assert set(claims["top1"]) == set(RUNS) | {"timebalance"}
    for name, _, pairs in COMPARISONS:
        for what, _, _ in pairs:
            assert len(claims[name][what]["per_seed"]) == 2
    score = claims["score_separates_kinds"]
    assert 0.0 <= score["s"]["auc_periodic_above_sequence"] <= 1.0
    assert "invariant_minus_distinctive_periodic" in claims["complementary_teachers"]
    assert len(claims["extension_score_normalisation"]) == 2  # source + one comparison
    assert "## complementary teachers" in (workdir / target).with_suffix(".md").read_text()
