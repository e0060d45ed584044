"""The methods table: our four methods side by side, 004's Table 1 transcribed beside them."""

from __future__ import annotations

import pytest

from tests.report.test_tables import md_row, result
from timebalance.report.paper_numbers import (
    ACL_MTL_ROW,
    METHODS_TABLE1,
    METHODS_TABLE1_CELLS,
    PAPER,
    paper_number,
)
from timebalance.report.render import NOT_RUN, render_table
from timebalance.report.specs import required_results

U1, H60, K6 = ("ucf101", "1perclass"), ("hmdb51", "60pct"), ("kinetics400", "6perclass")


@pytest.mark.parametrize(
    ("row", "cell", "value"),
    [
        (ACL_MTL_ROW, U1, 60.1),  # 004's result, bold in its Table 1
        (ACL_MTL_ROW, ("kinetics400", "60perclass"), 69.9),
        ("SVFormer (CVPR 2023), ViT-B", H60, 68.2),
        ("ActorCM (CVIU 2021), R(2+1)D-34", K6, 9.02),  # the only value with two decimals
        ("VideoSSL (WACV 2021), 3D-ResNet-18", ("kinetics400", "60perclass"), 33.8),
        ("TimeBalance (CVPR 2023), 3D-ResNet-50", ("hmdb51", "40pct"), 52.6),
        ("FixMatch (NeurIPS 2020), SlowFast-R50", ("ucf101", "10perclass"), 55.1),
        ("CMPL (CVPR 2022), R50+R50-1/4", K6, 17.6),
    ],
)
def test_004_table1_spot_checks(row, cell, value):
    assert paper_number("methods", row, *cell) == value


def test_004_table1_shape_and_gaps():
    assert len(METHODS_TABLE1) == 15  # 14 earlier methods and 004's own row
    assert all(len(v) == len(METHODS_TABLE1_CELLS) for v in METHODS_TABLE1.values())
    assert paper_number("methods", "MT (NeurIPS 2017), 3D-ResNet-18", *U1) is None  # "–"
    assert paper_number("methods", "TCL (CVPR 2021), TSM-ResNet-18", *K6) == 11.6
    # The TimeBalance numbers 004 cites equal TimeBalance's own Table 1 (3D-ResNet50) where
    # the budgets coincide (HMDB51 percentages).
    for budget in ("40pct", "50pct", "60pct"):
        cited = PAPER["methods", "TimeBalance (CVPR 2023), 3D-ResNet-50", "hmdb51", budget]
        assert cited == PAPER["table1", "TimeBalance (CVPR'23), 3D-ResNet50", "hmdb51", budget]


def test_methods_table_rows_paper_columns_and_not_run():
    cells = [U1, ("synthetic", "20pct")]
    keys = required_results("methods", cells)
    assert [k for _, _, k in keys[::2]] == [
        "variants/scratch_sup",
        "student",
        "methods/fixmatch",
        "methods/acl_mtl",
    ]
    results = {("synthetic", "20pct", "methods/acl_mtl"): result(61.234, std=2.5, n=3)}
    md = render_table("methods", cells, results)["md"]
    # columns: ucf101 1/class ours, paper; synthetic ours, paper
    assert md_row(md, "ACL + MTL (004)") == [NOT_RUN, "60.1", "61.23 ± 2.50 (n=3)", "–"]
    assert md_row(md, "FixMatch, EMA teacher (004 Sec. 3.2)")[:2] == [NOT_RUN, "16.1"]
    assert md_row(md, "TimeBalance student")[:2] == [NOT_RUN, "30.1"]
    assert md_row(md, "Supervised (random init, labels only)")[:2] == [NOT_RUN, "–"]
    assert md_row(md, "SVFormer (CVPR 2023), ViT-B")[:2] == ["", "46.3"]
    assert "1perclass" in md  # the note on 004's per-class budgets
