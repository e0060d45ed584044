"""`make demo`'s closing summary lists aggregated results and skips other JSON files."""

from __future__ import annotations

import json

from timebalance.report.summary import main, summarize


def test_summary_lists_aggregates_and_skips_claims(tmp_path, capsys):
    cell = tmp_path / "synthetic_20pct"
    cell.mkdir()
    stat = {"mean": 45.0, "std": 14.5, "per_seed": [30.0, 58.9, 46.1]}
    (cell / "student.json").write_text(
        json.dumps(
            {
                "top1": stat,
                "mean_class_accuracy": stat,
                "seeds": [0, 1, 2],
                "per_class_accuracy": {str(i): 45.0 for i in range(10)},
            }
        )
    )
    # claims.json also has a "top1" object (one summary per run), but is not a result
    (cell / "claims.json").write_text(json.dumps({"top1": {"student": stat}, "seeds": [0]}))
    lines = summarize(tmp_path)
    assert len(lines) == 1 and "student.json: top1 45.0 ± 14.5" in lines[0]
    assert "chance 10.0" in lines[0]
    assert main(["summary", str(tmp_path)]) == 0
    assert "claims" not in capsys.readouterr().out
