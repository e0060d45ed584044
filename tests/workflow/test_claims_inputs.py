"""The claims rule's inputs follow the config: every role per seed, and every variant that
normalises s (whatever its name) as the extension's comparison."""

from __future__ import annotations

from types import SimpleNamespace

import yaml

from tests.workflow.conftest import ROOT, validated
from timebalance.report.claims import NORMALISED, RUNS
from timebalance.workflow.inputs import claims_runs


def test_claims_runs_follow_seeds_and_normalising_variants():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["seeds"] = [0, 3]
    config["variants"].pop("tstr_minmax", None)
    config["variants"]["rank_s"] = {"score_normalisation": "rank"}
    config["variants"]["mm_s"] = {"score_normalisation": "minmax"}
    # (a variant normalising s without weighting: tstr is refused by check_config)
    runs = claims_runs(validated(config), SimpleNamespace(dataset="synthetic", budget="20pct"))
    roles = {key.split("|")[0] for key in runs}
    assert roles == set(RUNS) | {f"{NORMALISED}rank_s", f"{NORMALISED}mm_s"}
    assert runs[f"{NORMALISED}rank_s|3"] == "results/synthetic_20pct/seed3/variants/rank_s.json"
    assert runs["timebalance|0"] == "results/synthetic_20pct/seed0/student.json"
