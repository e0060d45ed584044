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


def test_demo_end_prints_headline_table_and_paths(tmp_path, capsys):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "table1.md").write_text("## Table 1 analogue\n| TimeBalance (ours) |\n")
    (tmp_path / "tables" / "table2.md").write_text("## Table 2 analogue\n")
    main(["summary", str(tmp_path)])
    out = capsys.readouterr().out
    assert "## Table 1 analogue" in out and "Table 2 analogue" not in out  # headline only
    assert f"Report:      {tmp_path / 'report.html'}  (not built: make report)" in out
    assert "Figures:     none yet" in out and "no event files" in out
    (tmp_path / "report.html").write_text("<html></html>")
    (tmp_path / "figures" / "synthetic").mkdir(parents=True)
    (tmp_path / "figures" / "synthetic" / "fig4_similarity.png").write_bytes(b"png")
    (tmp_path / "tensorboard" / "pretrain").mkdir(parents=True)
    main(["summary", str(tmp_path)])
    out = capsys.readouterr().out
    assert "(open it in a browser)" in out and "(1 PNG, each with a PDF)" in out
    assert str(tmp_path / "figures" / "synthetic" / "fig4_similarity.png") in out
    assert f"tensorboard --logdir {tmp_path / 'tensorboard'}" in out
    assert "source .venv/bin/activate" in out
