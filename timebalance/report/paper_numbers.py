"""The numbers the TimeBalance paper reports, transcribed from the seed texts.

`PAPER[(table, paper_row, dataset, budget)]` is a top-1 accuracy in percent. `table` uses
this project's table names ("table1".."table7", "fig5_init"); `paper_row` is the row as the
paper labels it (Table 1 rows carry their backbone, since several methods appear twice).
Cells the paper leaves empty ("-") are absent. Sources:
- table1..table5: main paper (shared/seeds/000_*), Tables 1-5.
- table6: supplement (shared/seeds/002_*), Table 1 (teacher loss ablation).
- table7: supplement, Table 2 (student from random initialisation).
- fig5_init: slides (shared/seeds/003_*), Fig. 5 "Accuracy after Epoch 250" (UCF101 5%,
  3D-ResNet18 student); the paper itself only plots these curves.
- methods: the ACL + MTL paper (shared/seeds/004_*), Table 1 (`METHODS_TABLE1`).
- methods_ablation: the ACL + MTL paper, Tables 2, 4 and 5 (`METHODS_ABLATION`).
Decorations are dropped: Table 1's best / second-best colours and underlines, and the
"(+n)" improvements of supplement Table 2 (they are differences of numbers kept here).
"""

# ruff: noqa: E501  (the transcribed Table 1 rows stay one paper row per line)

from __future__ import annotations

from typing import NamedTuple

UCF, HMDB, K400 = "ucf101", "hmdb51", "kinetics400"

#: Datasets the paper reports on; any other dataset (e.g. "synthetic") has no paper number.
PAPER_DATASETS = (UCF, HMDB, K400)

#: Decimals the paper prints per table, so a transcribed 53.10 is shown as 53.10, not 53.1.
PAPER_DECIMALS = {
    "table1": 1,
    "table2": 2,
    "table3": 2,
    "table4": 2,
    "table5": 2,
    "table6": 2,
    "table7": 1,
    "fig5_init": 2,
    "methods": 1,
    "methods_ablation": 2,
}

SOURCES = {
    "table1": "main paper, Table 1",
    "table2": "main paper, Table 2",
    "table3": "main paper, Table 3",
    "table4": "main paper, Table 4",
    "table5": "main paper, Table 5",
    "table6": "supplement, Table 1",
    "table7": "supplement, Table 2",
    "fig5_init": "slides, Fig. 5 (accuracy after epoch 250)",
    "methods": "ACL + MTL paper (004), Table 1",
    "methods_ablation": "ACL + MTL paper (004), Tables 2, 4 and 5",
}

# Main paper, Table 1: column order of the ten result columns.
TABLE1_CELLS = (
    (UCF, "1pct"),
    (UCF, "5pct"),
    (UCF, "10pct"),
    (UCF, "20pct"),
    (UCF, "50pct"),
    (HMDB, "40pct"),
    (HMDB, "50pct"),
    (HMDB, "60pct"),
    (K400, "1pct"),
    (K400, "10pct"),
)


class Table1Row(NamedTuple):
    """One row of the paper's Table 1 with its descriptive columns."""

    label: str  # key used in PAPER: "<method> (<venue>), <backbone>"
    section: str  # the block of Table 1 the row is printed in: R18 or R50 (see TABLE1_ROWS)
    method: str
    venue: str
    ref: str  # the paper's citation number
    backbone: str
    params_m: float | None  # parameters in millions ("-" in the paper -> None)
    inputs: str  # V video (RGB), F optical flow, G temporal gradients
    frames: int
    values: tuple[float | None, ...]  # in TABLE1_CELLS order; None where the paper has "-"


_ = None
R18, R50 = "3D-ResNet18", "3D-ResNet50"


def _t1(method, venue, ref, backbone, params, inputs, frames, *values) -> Table1Row:
    return Table1Row(
        f"{method} ({venue}), {backbone}", "", method, venue, ref, backbone, params, inputs,
        frames, values,
    )  # fmt: skip


def _sections(rows: tuple[Table1Row, ...]) -> tuple[Table1Row, ...]:
    """Sec. 4.3: "We present the results in two sections based on the backbone architecture
    used: (1) 3D-ResNet18 and (2) 3D-ResNet50." The first section ends with TimeBalance's
    3D-ResNet18 row (TCL's TSM-ResNet18 is printed in it); the second starts with ActorCM's
    R(2+1)D-34 rows (FixMatch's SlowFast-R50 is printed in it)."""
    end = next(i for i, r in enumerate(rows) if r.method == "TimeBalance" and r.backbone == R18)
    return tuple(r._replace(section=R18 if i <= end else R50) for i, r in enumerate(rows))


# Main paper, Table 1, every row in the paper's order. TACL and ActorCM appear twice with
# identical descriptive columns; the paper greys methods that use ImageNet weights (the colour
# is lost in the text). For ActorCM the second-best underline sits on the first row although
# the second row is higher everywhere, so the second row is the greyed (ImageNet) one; we
# assume TACL's pair is in the same order (the second row is higher everywhere too).
TABLE1_ROWS: tuple[Table1Row, ...] = _sections((
    _t1("PL", "ICML'13", "46", R18, 13.5, "V", 16, _, 17.6, 24.7, 37.0, 47.5, 27.3, 32.4, 33.5, _, _),
    _t1("MT", "NeurIPS'17", "69", R18, 13.5, "V", 16, _, 17.5, 25.6, 36.3, 45.8, 27.2, 30.4, 32.2, _, _),
    _t1("S4L", "ICCV'19", "84", R18, 13.5, "V", 16, _, 22.7, 29.1, 37.7, 47.9, 29.8, 31.0, 35.6, _, _),
    _t1("UPS", "ICLR'21", "58", R18, 13.5, "V", 16, _, _, _, 39.4, 50.2, _, _, _, _, _),
    _t1("SD", "ICCV'19", "28", R18, 13.5, "V", 16, _, 31.2, 40.7, 45.4, 53.9, 32.6, 35.1, 36.3, _, _),
    _t1("MT+SD", "WACV'21", "38", R18, 13.5, "V", 16, _, 30.3, 40.5, 45.5, 53.0, 32.3, 33.6, 35.7, _, _),
    _t1("3DRotNet", "Arxiv'19", "39", R18, 13.5, "V", 16, 15.0, 31.5, 40.4, 47.1, _, _, _, _, _, _),
    _t1("VideoSemi", "WACV'21", "38", R18, 13.5, "V", 16, _, 32.4, 42.0, 48.7, 54.3, 32.7, 36.2, 37.0, _, _),
    _t1("TCL", "CVPR'21", "65", "TSM-ResNet18", None, "V", 8, _, _, _, _, _, _, _, _, 11.6, _),
    _t1("TG-FixMatch", "CVPR'21", "78", R18, 13.5, "V", 8, _, 44.8, 62.4, 76.1, 79.3, 46.5, 48.4, 49.7, 9.8, 43.8),
    _t1("MvPL", "ICCV'21", "80", R18, 13.5, "VFG", 8, _, 41.2, 55.5, 64.7, 65.6, 30.5, 33.9, 35.8, 5.0, 36.9),
    _t1("TCLR", "CVIU'22", "18", R18, 13.5, "V", 16, 26.9, _, 66.1, 73.4, 76.7, _, _, _, _, _),
    _t1("CMPL", "CVPR'22", "81", R18, 13.5, "V", 8, 23.8, _, 67.6, _, _, _, _, _, 16.5, 53.7),
    _t1("TACL", "TSVT'22", "71", R18, 13.5, "V", 16, _, 35.6, 50.9, 56.1, 65.8, 34.6, 37.2, 39.5, _, _),
    _t1("TACL, ImageNet weights", "TSVT'22", "71", R18, 13.5, "V", 16, _, 43.7, 55.6, 59.2, 67.2, 38.7, 40.2, 41.7, _, _),
    _t1("MemDPC", "ECCV'20", "31", R18, 13.5, "V", 16, _, _, 44.2, 50.9, 62.3, _, _, _, _, _),
    _t1("MotionFit", "ICCV'21", "27", R18, 13.5, "VF", 16, _, _, _, 57.7, 59.0, _, _, _, _, _),
    _t1("TimeBalance", "CVPR'23", "ours", R18, 13.5, "V", 8, 29.1, 47.9, 69.8, 79.1, 83.3, 49.8, 51.4, 53.1, 17.1, 54.9),
    _t1("ActorCM", "Arxiv'21", "89", "R(2+1)D-34", 33.3, "V", 8, _, 27.0, 40.2, 51.7, 59.9, 32.9, 38.2, 38.9, _, _),
    _t1("ActorCM, ImageNet weights", "Arxiv'21", "89", "R(2+1)D-34", 33.3, "V", 8, _, 45.1, 53.0, 57.4, 64.7, 35.7, 39.5, 40.8, _, _),
    _t1("FixMatch", "NeurIPS'20", "66", "SlowFast-R50", 60.0, "V", 8, 16.1, _, 55.1, _, _, _, _, _, 10.1, 49.4),
    _t1("MvPL", "ICCV'21", "80", R50, 31.8, "VFG", 8, 22.8, _, 80.5, _, _, _, _, _, 17.0, 58.2),
    _t1("CMPL", "CVPR'22", "81", R50, 31.8, "V", 8, 25.1, _, 79.1, _, _, _, _, _, 17.6, 58.4),
    _t1("TimeBalance", "CVPR'23", "ours", R50, 31.8, "V", 8, 30.1, 53.5, 81.1, 83.3, 85.0, 52.6, 53.9, 54.5, 19.6, 61.2),
))  # fmt: skip

U5, U20, U50 = (UCF, "5pct"), (UCF, "20pct"), (UCF, "50pct")

# Tables 2-6 and Fig. 5: {table: {paper_row: {(dataset, budget): top-1}}}.
_ABLATIONS: dict[str, dict[str, dict[tuple[str, str], float]]] = {
    # Main paper, Table 2 (3D-ResNet50 student and teachers, student SSL-initialised).
    "table2": {
        "(a)": {U5: 48.66, U20: 79.70},  # f_S only
        "(b)": {U5: 43.79, U20: 74.55},  # f_I only
        "(c)": {U5: 44.08, U20: 75.13},  # f_D only
        "(d)": {U5: 47.95, U20: 79.28},  # f_S + f_I
        "(e)": {U5: 48.81, U20: 79.76},  # f_S + f_D
        "(f)": {U5: 52.14, U20: 82.02},  # f_S + f_I + f_D, no reweighting
        "(g)": {U5: 53.48, U20: 83.26},  # f_S + f_I + f_D + reweighting
    },
    # Main paper, Table 3 (student from random initialisation, 3D-ResNet50).
    "table3": {
        "(a)": {U5: 25.60, U20: 46.20},
        "(b)": {U5: 43.94, U20: 74.85},
        "(c)": {U5: 44.30, U20: 75.22},
        "(d)": {U5: 49.57, U20: 80.06},
        "(e)": {U5: 53.10, U20: 83.00},
    },
    # Main paper, Table 4 (teacher pairs).
    "table4": {
        "(a) Inv1 + Inv2": {U5: 48.33, U20: 78.76},
        "(b) Dist1 + Dist2": {U5: 49.15, U20: 80.49},
        "(c) Inv1 + Dist1": {U5: 52.14, U20: 82.02},
        "(d) Inv1 + Dist2": {U5: 51.78, U20: 81.43},
    },
    # Main paper, Table 5 (clips per video in teacher pretraining; finetuned teachers).
    "table5": {
        "Invariant Teacher, n=4": {U5: 43.79, U20: 74.55},
        "Invariant Teacher, n=2": {U5: 42.78, U20: 73.86},
        "Distinctive Teacher, n=4": {U5: 44.08, U20: 75.13},
        "Distinctive Teacher, n=2": {U5: 39.55, U20: 71.21},
    },
    # Supplement, Table 1 (distillation loss). Its L2 20% (83.15) differs from main Table 2
    # row (g) (83.26) for the same setting; both are transcribed as printed.
    "table6": {
        "L2": {U5: 53.48, U20: 83.15, U50: 85.02},
        "KL-Divergence": {U5: 52.62, U20: 82.76, U50: 84.50},
        "JS-Divergence": {U5: 50.91, U20: 82.10, U50: 83.94},
    },
    # Slides, Fig. 5: student initialisations, UCF101 5%, 3D-ResNet18 student.
    "fig5_init": {
        "TCLR": {U5: 47.94},
        "CVRL": {U5: 47.02},
        "TempTrans": {U5: 47.60},
        "VCOP": {U5: 46.91},
        "Scratch": {U5: 46.72},
    },
}

# Supplement, Table 2 (student from random initialisation vs. prior best). The R3D-50
# "prior best" row cites [7] (ActorCM) for UCF101 and HMDB51 40%, nothing for HMDB51 60%,
# and [6] (CMPL) for Kinetics400; the R3D-18 row cites [5] (TG-FixMatch) and [6] (CMPL).
_TABLE7_CELLS = (U5, U20, (HMDB, "40pct"), (HMDB, "60pct"), (K400, "10pct"))
_TABLE7 = {
    "Prior best methods, R3D-50": (27.0, 51.7, 32.9, 38.9, 58.4),
    "Ours (scratch student), R3D-50": (53.1, 83.0, 52.1, 54.3, 60.8),
    "Prior best methods, R3D-18": (44.8, 76.1, 46.5, 49.7, 53.7),
    "Ours (scratch student), R3D-18": (46.7, 78.2, 49.1, 52.9, 54.4),
}


# The ACL + MTL paper (004), Table 1. Its UCF101 "1%" and "10%" are 1 and 10 labeled videos
# per class (following SVFormer), its Kinetics400 "1%" and "10%" 6 and 60 per class (Sec.
# 4.1): this project's budgets 1perclass, 10perclass, 6perclass and 60perclass.
METHODS_TABLE1_CELLS = (
    (UCF, "1perclass"),
    (UCF, "10perclass"),
    (HMDB, "40pct"),
    (HMDB, "50pct"),
    (HMDB, "60pct"),
    (K400, "6perclass"),
    (K400, "60perclass"),
)
ACL_MTL_ROW = "Ours (ACL + MTL), ViT-B"
# Row label "<method> (<venue>), <backbone>" -> values in METHODS_TABLE1_CELLS order, as
# printed ("–" -> None; bold marks dropped). ActorCM's Kinetics400 1% is printed 9.02.
METHODS_TABLE1: dict[str, tuple[float | None, ...]] = {
    "MT (NeurIPS 2017), 3D-ResNet-18": (_, 25.6, 27.2, 30.4, 32.2, _, _),
    "SD (ICCV 2019), 3D-ResNet-18": (_, 40.7, 32.6, 35.1, 36.3, _, _),
    "FixMatch (NeurIPS 2020), SlowFast-R50": (16.1, 55.1, _, _, _, 10.1, 49.4),
    "MT+SD (WACV 2021), 3D-ResNet-18": (_, 40.5, 32.3, 33.6, 35.7, _, _),
    "VideoSSL (WACV 2021), 3D-ResNet-18": (_, 42.0, 32.7, 36.2, 37.0, _, 33.8),
    "TCL (CVPR 2021), TSM-ResNet-18": (_, _, _, _, _, 11.6, _),
    "ActorCM (CVIU 2021), R(2+1)D-34": (_, 53.0, 35.7, 39.5, 40.8, 9.02, _),
    "MvPL (ICCV 2021), 3D-ResNet-50": (22.8, 80.5, _, _, _, 17.0, 58.2),
    "CMPL (CVPR 2022), R50+R50-1/4": (25.1, 79.1, _, _, _, 17.6, 58.4),
    "LTG (CVPR 2022), 3D-ResNet-18": (_, 62.4, 46.5, 48.4, 49.7, 9.8, 43.8),
    "TACL (TCSVT 2022), 3D-ResNet-18": (_, 55.6, 38.7, 40.2, 41.7, _, _),
    "L2A (ECCV 2022), 3D-ResNet-18": (_, 60.1, 42.1, 46.3, 47.1, _, _),
    "TimeBalance (CVPR 2023), 3D-ResNet-50": (30.1, 81.1, 52.6, 53.9, 54.5, 19.6, 61.2),
    "SVFormer (CVPR 2023), ViT-B": (46.3, 86.7, 61.6, 64.4, 68.2, 49.1, 69.4),
    ACL_MTL_ROW: (60.1, 88.6, 64.9, 66.9, 68.8, 50.1, 69.9),
}

# The ACL + MTL paper's ablations (top-1): Table 2 on UCF101 "1%" (1 video per class) and
# HMDB51 40%, Tables 4 (epsilon, with / without the confidence of x^u) and 5 (long-term
# clips) on UCF101 "1%" only. Rows are labelled "Table <k>: <setting>".
METHODS_ABLATION_CELLS = ((UCF, "1perclass"), (HMDB, "40pct"))
METHODS_ABLATION: dict[str, dict[tuple[str, str], float]] = {
    "Table 2: baseline": {(UCF, "1perclass"): 48.74, (HMDB, "40pct"): 62.48},
    "Table 2: ACL": {(UCF, "1perclass"): 57.78, (HMDB, "40pct"): 64.12},
    "Table 2: MTL": {(UCF, "1perclass"): 53.34, (HMDB, "40pct"): 63.53},
    "Table 2: ACL + MTL": {(UCF, "1perclass"): 60.14, (HMDB, "40pct"): 64.90},
    "Table 4: epsilon 0.3": {(UCF, "1perclass"): 58.21},
    "Table 4: epsilon 0.5": {(UCF, "1perclass"): 59.22},
    "Table 4: epsilon 0.7": {(UCF, "1perclass"): 60.14},
    "Table 4: epsilon 0.9": {(UCF, "1perclass"): 58.62},
    "Table 4: epsilon 0.7, without the confidence of x^u": {(UCF, "1perclass"): 59.13},
    "Table 5: no long-term clip": {(UCF, "1perclass"): 57.78},
    "Table 5: long-term x^L1": {(UCF, "1perclass"): 59.11},
    "Table 5: long-term x^L2": {(UCF, "1perclass"): 59.24},
    "Table 5: MTL": {(UCF, "1perclass"): 60.14},
}


def _build() -> dict[tuple[str, str, str, str], float]:
    out: dict[tuple[str, str, str, str], float] = {}
    if len({row.label for row in TABLE1_ROWS}) != len(TABLE1_ROWS):
        raise AssertionError("Table 1 row labels must be unique")
    for row in TABLE1_ROWS:
        if len(row.values) != len(TABLE1_CELLS):
            raise AssertionError(f"Table 1 row {row.label!r} has {len(row.values)} values")
        for (ds, budget), value in zip(TABLE1_CELLS, row.values, strict=True):
            if value is not None:
                out["table1", row.label, ds, budget] = value
    for table, rows in _ABLATIONS.items():
        for label, cells in rows.items():
            for (ds, budget), value in cells.items():
                out[table, label, ds, budget] = value
    for label, values in _TABLE7.items():
        for (ds, budget), value in zip(_TABLE7_CELLS, values, strict=True):
            out["table7", label, ds, budget] = value
    for label, values in METHODS_TABLE1.items():
        for (ds, budget), value in zip(METHODS_TABLE1_CELLS, values, strict=True):
            if value is not None:
                out["methods", label, ds, budget] = value
    for label, cells in METHODS_ABLATION.items():
        for (ds, budget), value in cells.items():
            out["methods_ablation", label, ds, budget] = value
    return out


PAPER: dict[tuple[str, str, str, str], float] = _build()


def paper_number(table: str, row: str, dataset: str, budget: str) -> float | None:
    """The paper's top-1 for one cell, or None where the paper reports none."""
    return PAPER.get((table, row, dataset, budget))


def paper_rows(table: str) -> list[str]:
    """Row labels of one transcribed table, in the paper's order."""
    seen: dict[str, None] = {}
    for t, row, _ds, _b in PAPER:
        if t == table:
            seen.setdefault(row, None)
    return list(seen)
