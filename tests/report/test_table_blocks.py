"""Tables whose cells run different backbones: each cell carries its setup, each block of
runs sits beside the paper numbers of its own backbone (Table 1's 3D-ResNet18 and
3D-ResNet50 sections, Table 7's R3D-18 and R3D-50 rows), before and after results exist."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from tests.report.test_tables import md_row, result
from tests.workflow.conftest import ROOT, validated
from timebalance.report import render_table, required_results
from timebalance.report.build import write_table_from_files
from timebalance.report.paper_numbers import TABLE1_ROWS
from timebalance.workflow import inputs as F

R18 = {"backbone": "r3d18", "crop_size": 112, "paper_dataset": "ucf101"}
R50 = {"backbone": "slow_r50", "crop_size": 224, "paper_dataset": "ucf101"}
H18 = {**R18, "paper_dataset": "hmdb51"}
H50 = {**R50, "paper_dataset": "hmdb51"}
CELLS = [
    ("ucf101", "5pct", R18),
    ("hmdb51", "60pct", H18),
    ("ucf101r50", "5pct", R50),
    ("hmdb51r50", "60pct", H50),
]


def _results(name: str, cells, *, mean: float = 50.0, schedule="paper", **config) -> dict:
    setups = {ds: setup for ds, _b, setup in cells}
    out = {}
    for ds, b, key in required_results(name, [c[:2] for c in cells]):
        r = result(mean, backbone=setups[ds]["backbone"], schedule=schedule)
        r["config"].update(config or {"crop_size": setups[ds]["crop_size"]})
        out[ds, b, key] = r
    return out


def _block(md: str, heading: str) -> list[str]:
    """The Markdown table lines of one block: its heading up to the next one."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| **{heading}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("| **")), len(lines))
    return lines[start:end]


def _row(lines: list[str], label: str) -> list[str]:
    return md_row("\n".join(lines), label)


@pytest.mark.parametrize("built", [False, True])
def test_table1_keeps_its_two_backbone_blocks_apart(built):
    results = _results("table1", CELLS) if built else {}
    md = render_table("table1", CELLS, results)["md"]
    # One column per paper cell, shared by the blocks.
    assert (
        "| Method | UCF101 5% ours | UCF101 5% paper | HMDB51 60% ours | HMDB51 60% paper |" in md
    )
    r18 = _block(md, "3D-ResNet18 (ours r3d18, 112 px crops)")
    r50 = _block(md, "3D-ResNet50 (ours slow_r50, 224 px crops)")
    ours = "50.00 ± 1.20 (n=3)" if built else "not run"
    assert _row(r18, "TimeBalance (ours)") == [ours, "47.9", ours, "53.1"]
    assert _row(r50, "TimeBalance (ours)") == [ours, "53.5", ours, "54.5"]
    assert _row(r18, "TCLR finetune (SSL init, labels only)")[1] == "–"  # TCLR: no 5% number
    assert _row(r50, "TCLR finetune (SSL init, labels only)")[1] == "48.66"  # Table 2 (a)
    # The paper has no 3D-ResNet18 supervised-from-scratch row: nothing beside ours.
    assert _row(r18, "Supervised (scratch)")[1::2] == ["–", "–"]
    assert _row(r50, "Supervised (scratch)")[1] == "25.60"  # Table 3 (a)
    # Each section's reference rows in its own block, once.
    for row in TABLE1_ROWS:
        block = r18 if row.section == "3D-ResNet18" else r50
        other = r50 if block is r18 else r18
        assert any(line.startswith(f"| {row.label} |") for line in block), row.label
        assert not any(line.startswith(f"| {row.label} |") for line in other), row.label
    assert md.count("| PL (ICML'13), 3D-ResNet18 |") == 1
    if built:  # the same paper backbone, schedule and input size: no setup note
        assert "Setup differs from the paper: ours" not in md
        assert "reports 'Supervised (scratch)' only with 3D-ResNet50, not with our " in md


def test_table7_rows_and_csv_per_block():
    cells = [*CELLS, ("kinetics400r50", "10pct", {**R50, "paper_dataset": "kinetics400"})]
    out = render_table("table7", cells, _results("table7", cells))
    md = out["md"]
    r50 = _block(md, "3D-ResNet50")
    r18 = _block(md, "3D-ResNet18")
    assert _row(r50, "Ours (scratch student)")[1::2] == ["53.1", "54.3", "60.8"]
    assert _row(r18, "Ours (scratch student)")[1::2] == ["46.7", "52.9", ""]  # no R18 K400 cell
    assert _row(r50, "Prior best methods, R3D-50")[1::2] == ["27.0", "38.9", "58.4"]
    assert _row(r18, "Prior best methods, R3D-18")[1::2] == ["44.8", "49.7", "53.7"]
    assert not any("R3D-18" in line for line in r50)
    frame = pd.read_csv(io.StringIO(out["csv"]))
    measured = frame[frame.status == "measured"]
    assert sorted(measured.dataset) == sorted(c[0] for c in cells)  # one row per cell
    ours50 = measured[measured.dataset == "hmdb51r50"].iloc[0]
    assert ours50.paper == pytest.approx(54.3)
    prior = frame[frame.row == "Prior best methods, R3D-18"]
    assert set(prior.dataset) == {"ucf101", "hmdb51", "kinetics400"}  # paper columns
    assert r"\emph{3D-ResNet50 (ours slow\_r50, 224 px crops)}" in out["tex"]
    assert '<tr class="block"><th colspan="7">3D-ResNet18' in out["html"]


def test_one_setup_is_one_block_with_paper_column_names():
    cells = [("ucf101r50", "5pct", R50), ("ucf101r50", "20pct", R50)]
    md = render_table("table2", cells, _results("table2", cells))["md"]
    assert "| **" not in md  # no block heading
    assert "| Method | UCF101 5% ours | UCF101 5% paper | UCF101 20% ours |" in md
    assert md_row(md, "(g) f_S + f_I + f_D, reweighted (TimeBalance)")[1::2] == ["53.48", "83.26"]
    assert "Setup differs" not in md


def test_crop_and_backbone_mismatches_are_reported():
    cells = [("ucf101r50", "5pct", {**R50, "crop_size": 112})]
    md = render_table("table2", cells, _results("table2", cells))["md"]
    assert "Setup differs from the paper: ours backbone slow_r50, schedule paper, 112 px" in md
    assert "the paper's numbers use 3D-ResNet50 at 224x224 inputs" in md
    stale = _results("table2", [("ucf101r50", "5pct", R50)])
    stale["ucf101r50", "5pct", "student"]["config"]["backbone"] = "r3d18"
    with pytest.raises(ValueError, match=r"trained with backbone r3d18, but datasets\.ucf101r50"):
        render_table("table2", [("ucf101r50", "5pct", R50)], stale)


def test_a_generated_dataset_has_no_paper_column():
    tiny = {"backbone": "tiny", "crop_size": 32, "paper_dataset": None}
    cells = [("synthetic", "20pct", tiny)]
    md = render_table("table2", cells, _results("table2", cells, schedule="demo"))["md"]
    assert md_row(md, "(g) f_S + f_I + f_D, reweighted (TimeBalance)")[1] == "–"
    assert "| Method | synthetic 20% ours |" in md
    assert "The paper reports nothing on synthetic." in md


def test_bad_setups_are_refused():
    with pytest.raises(ValueError, match="would share the column 'UCF101 5%'"):
        render_table("table2", [("ucf101", "5pct", R50), ("ucf101r50", "5pct", R50)], {})
    with pytest.raises(ValueError, match="must hold exactly"):
        render_table("table2", [("ucf101", "5pct", {"backbone": "r3d18"})], {})
    with pytest.raises(ValueError, match="every table cell carries a setup or none"):
        render_table("table2", [("ucf101", "5pct", R18), ("hmdb51", "5pct")], {})


def test_the_tables_rule_path_places_cells_before_results_exist(tmp_path):
    """What workflow_scripts/tables.py does with the rule's params, for the paper grid."""
    config = validated(yaml.safe_load((ROOT / "config.yaml").read_text()))
    wc = SimpleNamespace(grid="paper", table="table1")
    results = F.table_results(config, wc)
    out = {k: tmp_path / f"table1.{k}" for k in ("md", "csv", "tex", "html")}
    write_table_from_files(
        "table1",
        [tuple(c) for c in F.table_cells(config, wc)],
        {tuple(k.split("|")): tmp_path / path for k, path in results.items()},
        out_md=out["md"],
        out_csv=out["csv"],
        out_tex=out["tex"],
        out_html=out["html"],
        missing_ok=True,
    )
    md = out["md"].read_text(encoding="utf-8")
    r18 = _block(md, "3D-ResNet18 (ours r3d18, 112 px crops)")
    r50 = _block(md, "3D-ResNet50 (ours slow_r50, 224 px crops)")
    assert _row(r18, "TimeBalance (ours)")[1::2][:3] == ["29.1", "47.9", "69.8"]
    assert _row(r50, "TimeBalance (ours)")[1::2][-2:] == ["19.6", "61.2"]
    frame = pd.read_csv(out["csv"])
    assert set(frame[frame.status == "not run"].dataset) == {
        "ucf101", "hmdb51", "kinetics400", "ucf101r50", "hmdb51r50", "kinetics400r50",
    }  # fmt: skip
