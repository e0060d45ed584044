"""The methods ablation table: 004's Tables 2, 4 and 5 transcribed (spot-checked against the
seed text's numbers), our variants beside them."""

from __future__ import annotations

import pytest

from tests.report.test_tables import md_row, result
from timebalance.report.paper_numbers import METHODS_ABLATION, METHODS_ABLATION_CELLS, paper_number
from timebalance.report.render import NOT_RUN, render_table
from timebalance.report.specs import METHODS_ABLATION_ROWS, required_results

U1, H40 = ("ucf101", "1perclass"), ("hmdb51", "40pct")


@pytest.mark.parametrize(
    ("row", "cell", "value"),
    [
        ("Table 2: baseline", U1, 48.74),
        ("Table 2: baseline", H40, 62.48),
        ("Table 2: ACL", H40, 64.12),
        ("Table 2: MTL", U1, 53.34),
        ("Table 2: ACL + MTL", H40, 64.90),
        ("Table 4: epsilon 0.3", U1, 58.21),
        ("Table 4: epsilon 0.9", U1, 58.62),
        ("Table 4: epsilon 0.7, without the confidence of x^u", U1, 59.13),
        ("Table 5: long-term x^L2", U1, 59.24),
    ],
)
def test_004_ablation_spot_checks(row, cell, value):
    assert paper_number("methods_ablation", row, *cell) == value


def test_004_ablation_shape_and_shared_rows():
    assert len(METHODS_ABLATION) == 13 and METHODS_ABLATION_CELLS == (U1, H40)
    # Tables 4 and 5 report UCF101 only
    assert paper_number("methods_ablation", "Table 4: epsilon 0.5", *H40) is None
    # 004's full method is one number in all three tables, ACL-only in Tables 2 and 5
    full = ("Table 2: ACL + MTL", "Table 4: epsilon 0.7", "Table 5: MTL")
    assert [paper_number("methods_ablation", r, *U1) for r in full] == [60.14] * 3
    assert paper_number("methods_ablation", "Table 2: ACL", *U1) == paper_number(
        "methods_ablation", "Table 5: no long-term clip", *U1
    )
    # the 004 row each of ours sits beside exists
    assert {row for _, _, row in METHODS_ABLATION_ROWS} == set(METHODS_ABLATION)


def test_ablation_table_reads_each_run_once_and_renders_both_columns():
    cells = [U1, ("synthetic", "20pct")]
    keys = [k for ds, _, k in required_results("methods_ablation", cells) if ds == "synthetic"]
    assert keys[:4] == [
        "methods/fixmatch",
        "methods/acl_only",
        "methods/mtl_only",
        "methods/acl_mtl",
    ]
    assert len(keys) == len(set(keys)) == 10
    results = {("synthetic", "20pct", "methods/acl_mtl"): result(41.25, std=0.0, n=1)}
    md = render_table("methods_ablation", cells, results)["md"]
    # columns: UCF101 1 per class ours, paper; synthetic ours, paper
    assert md_row(md, "Table 2: ACL + MTL") == [NOT_RUN, "60.14", "41.25 (n=1)", "–"]
    assert md_row(md, "Table 5: MTL, N = 2 (ACL + MTL)")[1:3] == ["60.14", "41.25 (n=1)"]
    assert md_row(md, "Table 2: baseline (FixMatch)")[:2] == [NOT_RUN, "48.74"]
    assert md_row(md, "Table 4: epsilon 0.3")[1] == "58.21"
