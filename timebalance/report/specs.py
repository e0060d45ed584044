"""Table specs: which result files each table reads (`required_results`, called by the
Snakemake input function: pure, no I/O, no torch) and which paper row sits beside each of
ours. Rendering lives in `render`, file reading and writing in `build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from timebalance.report.paper_numbers import (
    ACL_MTL_ROW,
    METHODS_TABLE1,
    PAPER,
    R18,
    R50,
    TABLE1_ROWS,
)

METRICS = {
    "top1": "top-1 accuracy",
    "top5": "top-5 accuracy",
    "mean_class_accuracy": "mean class accuracy",
}
#: Our backbone names (result["config"]["backbone"]) -> the paper's names.
BACKBONE_NAMES = {"r3d18": R18, "slow_r50": R50}
PAPER_SCHEDULE = "paper"
#: Input crop size per paper backbone. 3D-ResNet50: 224 (Sec. 4.2, the default setup). The
#: paper gives none for 3D-ResNet18; 112 is what torchvision's r3d_18 is built for (config.yaml).
PAPER_CROPS = {R50: 224, R18: 112}
#: What a cell's setup (workflow.config.dataset_setup) holds.
SETUP_KEYS = ("backbone", "crop_size", "paper_dataset")


@dataclass(frozen=True)
class RowSpec:
    """One table row. `result_key` None marks a reference row (paper numbers only).
    `paper` maps a paper backbone ("3D-ResNet50") to the (paper table, paper row) of PAPER
    whose numbers sit beside ours; a measured row picks the entry matching its backbone.
    `block`: the paper backbone block a reference row is printed in (Table 1's sections,
    Table 7's rows) when a table shows runs of several backbones; None: after the blocks."""

    label: str
    result_key: str | None
    paper: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    block: str | None = None

    def paper_numbers(self, backbone: str) -> dict[tuple[str, str], float]:
        """{(dataset, budget): paper top-1} of the paper row used for `backbone`."""
        table, row = self.paper[backbone]
        return {(ds, b): v for (t, r, ds, b), v in PAPER.items() if (t, r) == (table, row)}


@dataclass(frozen=True)
class TableSpec:
    """A table: measured and reference rows; `paper_backbone` is the paper's setting for its
    measured rows when our backbone has no paper counterpart (e.g. `tiny`). With
    `match_backbone` a run of a paper backbone (BACKBONE_NAMES) is shown only beside paper
    numbers of that backbone; without it a measured row's paper column is its one paper row
    whatever the backbone (the methods table: each method with its own published backbone)."""

    title: str
    caption: str
    rows: tuple[RowSpec, ...]
    paper_backbone: str = R50
    notes: tuple[str, ...] = ()
    match_backbone: bool = True


def _rows(table: str, bb: str, *rows: tuple[str, str | None, str | None]) -> tuple[RowSpec, ...]:
    """(label, result_key, paper row of `table`) triples; one paper backbone for all rows
    (and the block of the reference rows)."""
    return tuple(
        RowSpec(lab, key, {bb: (table, ref)} if ref else {}, None if key else bb)
        for lab, key, ref in rows
    )


def _table1_rows() -> tuple[RowSpec, ...]:
    tb = {bb: ("table1", f"TimeBalance (CVPR'23), {bb}") for bb in (R18, R50)}
    measured = (
        RowSpec("Supervised (scratch)", "variants/scratch_sup", {R50: ("table3", "(a)")}),
        RowSpec(
            "TCLR finetune (SSL init, labels only)",
            "variants/sup_sslinit",
            {R18: ("table1", f"TCLR (CVIU'22), {R18}"), R50: ("table2", "(a)")},
        ),
        RowSpec("TimeBalance (ours)", "student", tb),
    )
    refs = tuple(
        RowSpec(r.label, None, {r.backbone: ("table1", r.label)}, r.section) for r in TABLE1_ROWS
    )
    return measured + refs


T7_OURS, T7_PRIOR = "Ours (scratch student)", "Prior best methods"

# Title, caption and paper backbone of the tables whose rows all use one paper backbone.
_PLAIN_TABLES = {
    "table2": (
        "Table 2 analogue: contribution of each component",
        "Student f_S initialised by self-supervised pretraining (TCLR objective); teachers f_I "
        "(temporally invariant) and f_D (temporally distinctive). (b), (c): finetuned teachers "
        "alone; (d)-(f): student distilled from one teacher or the average of both; (g): "
        "temporal-similarity reweighting (TimeBalance).",
        R50,
    ),
    "table3": (
        "Table 3 analogue: components with a randomly initialised student",
        "As Table 2 with f_S trained from random initialisation.",
        R50,
    ),
    "table4": (
        "Table 4 analogue: teacher pairs",
        "Student distilled from the average of two teachers (no reweighting). Inv1/Dist1 are the "
        "default teachers (pretraining seed 0), Inv2/Dist2 are pretrained again with seed 1; "
        "(c) is the same run as Table 2 (f).",
        R50,
    ),
    "table5": (
        "Table 5 analogue: clips per video in teacher pretraining",
        "Teachers pretrained with n clips per video, then finetuned on the labeled list; the "
        "n=4 rows are the default teachers of Table 2 (b), (c).",
        R50,
    ),
    "table6": (
        "Table 6 analogue (supplement Table 1): distillation loss",
        "Unlabeled supervision of the TimeBalance student: L2 (default), KL or JS divergence "
        "between the student's and the reweighted teachers' predictions.",
        R50,
    ),
    "fig5_init": (
        "Fig. 5 analogue: student initialisation",
        "TimeBalance student initialised from different self-supervised checkpoints or from "
        "scratch. CVRL is not reimplemented: an invariant-objective (L_I) pretraining stands in "
        "for it, with CVRL's number in its paper column. Paper values: accuracy after epoch 250 "
        "of semi-supervised training, read from the authors' slides.",
        R18,
    ),
}
# (table, our row label, result key or None for a reference row, paper row or None), in order.
_PLAIN_ROWS = [
    ("table2", "(a) f_S: SSL init, labels only", "variants/sup_sslinit", "(a)"),
    ("table2", "(b) f_I: invariant teacher", "teacher_invariant", "(b)"),
    ("table2", "(c) f_D: distinctive teacher", "teacher_distinctive", "(c)"),
    ("table2", "(d) f_S + f_I", "variants/inv_only", "(d)"),
    ("table2", "(e) f_S + f_D", "variants/dist_only", "(e)"),
    ("table2", "(f) f_S + f_I + f_D, averaged", "variants/avg", "(f)"),
    ("table2", "(g) f_S + f_I + f_D, reweighted (TimeBalance)", "student", "(g)"),
    ("table3", "(a) f_S (random init), labels only", "variants/scratch_sup", "(a)"),
    ("table3", "(b) f_S + f_I", "variants/scratch_inv", "(b)"),
    ("table3", "(c) f_S + f_D", "variants/scratch_dist", "(c)"),
    ("table3", "(d) f_S + f_I + f_D, averaged", "variants/scratch_avg", "(d)"),
    ("table3", "(e) f_S + f_I + f_D, reweighted", "variants/scratch_tstr", "(e)"),
    ("table4", "(a) Inv1 + Inv2", "variants/inv1_inv2", "(a) Inv1 + Inv2"),
    ("table4", "(b) Dist1 + Dist2", "variants/dist1_dist2", "(b) Dist1 + Dist2"),
    ("table4", "(c) Inv1 + Dist1", "variants/avg", "(c) Inv1 + Dist1"),
    ("table4", "(d) Inv1 + Dist2", "variants/inv1_dist2", "(d) Inv1 + Dist2"),
    ("table5", "Invariant teacher, n=4", "teacher_invariant", "Invariant Teacher, n=4"),
    ("table5", "Invariant teacher, n=2", "teachers/invariant_n2", "Invariant Teacher, n=2"),
    ("table5", "Distinctive teacher, n=4", "teacher_distinctive", "Distinctive Teacher, n=4"),
    ("table5", "Distinctive teacher, n=2", "teachers/distinctive_n2", "Distinctive Teacher, n=2"),
    ("table6", "L2 (default)", "student", "L2"),
    ("table6", "KL divergence", "variants/kl", "KL-Divergence"),
    ("table6", "JS divergence", "variants/js", "JS-Divergence"),
    ("fig5_init", "TCLR init (default)", "student", "TCLR"),
    ("fig5_init", "Invariant-SSL init (stand-in for CVRL)", "variants/init_invariant", "CVRL"),
    ("fig5_init", "Distinctive-SSL init", "variants/init_distinctive", None),
    ("fig5_init", "Scratch (random init)", "variants/scratch_tstr", "Scratch"),
    ("fig5_init", "TempTrans init", None, "TempTrans"),
    ("fig5_init", "VCOP init", None, "VCOP"),
]  # fmt: skip
_NOTES = {
    "table1": (
        "The paper's best/second-best marks and its grey (ImageNet-initialised) shading "
        "are not reproduced; of the two TACL and ActorCM rows the higher one is taken as "
        "the ImageNet-initialised one (inferred, see paper_numbers.py).",
    ),
    "table6": ("The supplement's L2 at UCF101 20% (83.15) differs from main Table 2 (g) (83.26).",),
    "table7": (
        "The 'prior best' rows mix methods (ActorCM, an R(2+1)D-34, is listed under R3D-50).",
    ),
}


def _plain_table(name: str) -> TableSpec:
    title, caption, backbone = _PLAIN_TABLES[name]
    rows = [(label, key, ref) for table, label, key, ref in _PLAIN_ROWS if table == name]
    return TableSpec(title, caption, _rows(name, backbone, *rows), backbone, _NOTES.get(name, ()))


TABLES: dict[str, TableSpec] = {
    "table1": TableSpec(
        "Table 1 analogue: comparison with prior semi-supervised methods",
        "Measured rows first, then every row of the paper's Table 1 (reference, paper numbers "
        "only), labelled 'method (venue), backbone'.",
        _table1_rows(),
        notes=_NOTES["table1"],
    ),
    **{name: _plain_table(name) for name in ("table2", "table3", "table4", "table5", "table6")},
    "table7": TableSpec(
        "Table 7 analogue (supplement Table 2): randomly initialised student",
        "TimeBalance with a student trained from random initialisation (Table 3 (e)) beside the "
        "supplement's best earlier method per backbone.",
        (
            RowSpec(
                "Ours (scratch student)",
                "variants/scratch_tstr",
                {R50: ("table7", f"{T7_OURS}, R3D-50"), R18: ("table7", f"{T7_OURS}, R3D-18")},
            ),
            *_rows("table7", R50, (f"{T7_PRIOR}, R3D-50", None, f"{T7_PRIOR}, R3D-50")),
            *_rows("table7", R18, (f"{T7_PRIOR}, R3D-18", None, f"{T7_PRIOR}, R3D-18")),
        ),
        notes=_NOTES["table7"],
    ),
    "fig5_init": _plain_table("fig5_init"),
}


def _methods_rows() -> tuple[RowSpec, ...]:
    """Our four methods side by side, then every row of 004's Table 1 for reference. The
    paper column of a measured row is the Table 1 row of the same method (its own backbone)."""

    def ref(row: str) -> dict[str, tuple[str, str]]:
        return {row.rsplit(", ", 1)[1]: ("methods", row)}

    measured = (
        RowSpec("Supervised (random init, labels only)", "variants/scratch_sup"),
        RowSpec("TimeBalance student", "student", ref("TimeBalance (CVPR 2023), 3D-ResNet-50")),
        RowSpec(
            "FixMatch, EMA teacher (004 Sec. 3.2)",
            "methods/fixmatch",
            ref("FixMatch (NeurIPS 2020), SlowFast-R50"),
        ),
        RowSpec("ACL + MTL (004)", "methods/acl_mtl", ref(ACL_MTL_ROW)),
    )
    return measured + tuple(RowSpec(row, None, ref(row)) for row in METHODS_TABLE1)


TABLES["methods"] = TableSpec(
    "Methods: TimeBalance beside ACL + MTL and the baselines",
    "Every method on the same splits, frames, backbone and test protocol: supervised on the "
    "labeled list only, the TimeBalance student, FixMatch with an EMA teacher (004's basic "
    "framework) and ACL + MTL (004); then every row of 004's Table 1 (reference, paper "
    "numbers only).",
    _methods_rows(),
    paper_backbone="ViT-B",
    match_backbone=False,
    notes=(
        "004 labels UCF101 '1%' / '10%' as 1 / 10 videos per class and Kinetics400 '1%' / "
        "'10%' as 6 / 60 per class: the budgets 1perclass, 10perclass, 6perclass, 60perclass.",
        "004's methods start from ImageNet weights (ViT-B) and test 5 clips x 3 crops; ours "
        "start from methods.pretrained (random when none is given) and use the protocol the "
        "config sets (README, 'Methods').",
        "The FixMatch paper column is 004's Table 1 FixMatch row (SlowFast-R50), not 004's "
        "own basic framework (its Table 2 baseline).",
        "The paper column of this table is 004's: its methods train 30 epochs (the epochs "
        "named above are TimeBalance's), and 004 does not say how many runs it averages.",
    ),
)


# 004's ablations (its Tables 2, 4, 5): (our row, result key, 004's row in
# paper_numbers.METHODS_ABLATION). The variants are config.yaml's methods.variants; the
# baseline is FixMatch (004's basic framework; with ACL and MTL off, eq. 19 and eq. 20
# reduce to it).
METHODS_ABLATION_ROWS = (
    ("Table 2: baseline (FixMatch)", "methods/fixmatch", "Table 2: baseline"),
    ("Table 2: ACL only", "methods/acl_only", "Table 2: ACL"),
    ("Table 2: MTL only", "methods/mtl_only", "Table 2: MTL"),
    ("Table 2: ACL + MTL", "methods/acl_mtl", "Table 2: ACL + MTL"),
    ("Table 4: epsilon 0.3", "methods/acl_mtl_eps3", "Table 4: epsilon 0.3"),
    ("Table 4: epsilon 0.5", "methods/acl_mtl_eps5", "Table 4: epsilon 0.5"),
    ("Table 4: epsilon 0.7 (ACL + MTL)", "methods/acl_mtl", "Table 4: epsilon 0.7"),
    ("Table 4: epsilon 0.9", "methods/acl_mtl_eps9", "Table 4: epsilon 0.9"),
    (
        "Table 4: epsilon 0.7, without the confidence of x^u",
        "methods/acl_mtl_anyconf",
        "Table 4: epsilon 0.7, without the confidence of x^u",
    ),
    ("Table 5: no long-term clip (ACL only)", "methods/acl_only", "Table 5: no long-term clip"),
    ("Table 5: x^L1 only (N = 1)", "methods/acl_mtl_long16", "Table 5: long-term x^L1"),
    ("Table 5: x^L2 only (N = 1)", "methods/acl_mtl_long32", "Table 5: long-term x^L2"),
    ("Table 5: MTL, N = 2 (ACL + MTL)", "methods/acl_mtl", "Table 5: MTL"),
)  # fmt: skip

TABLES["methods_ablation"] = TableSpec(
    "Methods ablation: 004's Tables 2, 4 and 5",
    "ACL + MTL with parts switched off (Table 2), other reliability thresholds epsilon and "
    "without the confidence test of x^u (Table 4), one long-term scale instead of two "
    "(Table 5): the ablation variants of config.yaml's methods.variants, each beside 004's "
    "number for the same setting.",
    tuple(
        RowSpec(label, key, {"ViT-B": ("methods_ablation", row)})
        for label, key, row in METHODS_ABLATION_ROWS
    ),
    paper_backbone="ViT-B",
    match_backbone=False,
    notes=(
        "004 ablates on UCF101 '1%' (1 video per class: the budget 1perclass) and, for "
        "Table 2 only, HMDB51 40%; its numbers start from ImageNet weights (ViT-B).",
        "Rows sharing a result key are one run (ACL + MTL is Table 2's last row, Table 4's "
        "epsilon 0.7 and Table 5's MTL row; ACL only is Table 5's first row).",
    ),
)


def table_spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}")
    return TABLES[name]


def check_cells(cells: Iterable[Sequence]) -> list[tuple[str, str]]:
    """The (dataset, budget) pairs of `cells`: pairs, or (dataset, budget, setup) triples as
    the tables rule passes them (`cell_setups` reads the setups)."""
    out: list[tuple[str, str]] = []
    for cell in cells:
        pair = tuple(cell[:2])
        if (
            len(cell) not in (2, 3)
            or not all(isinstance(x, str) for x in pair)
            or (len(cell) == 3 and not isinstance(cell[2], Mapping))
        ):
            raise ValueError(
                f"table cell {cell!r} must be a (dataset, budget) pair of strings, or a "
                "(dataset, budget, setup mapping) triple"
            )
        if pair in out:
            raise ValueError(f"table cell {pair!r} is listed twice")
        out.append((cell[0], cell[1]))
    if not out:
        raise ValueError("a table needs at least one (dataset, budget) cell")
    return out


def cell_setups(cells: Iterable[Sequence]) -> dict[str, dict] | None:
    """Dataset -> setup ({backbone, crop_size, paper_dataset}) of (dataset, budget, setup)
    cells; None when the cells carry no setups (plain pairs)."""
    setups: dict[str, dict] = {}
    for cell in cells:
        if len(cell) != 3:
            continue
        ds, _budget, setup = cell
        if set(setup) != set(SETUP_KEYS):
            raise ValueError(
                f"table cell {ds!r}: setup {dict(setup)!r} must hold exactly {SETUP_KEYS}"
            )
        if setups.setdefault(ds, dict(setup)) != dict(setup):
            raise ValueError(f"table cells of dataset {ds!r} carry different setups")
    if setups and len(setups) != len({cell[0] for cell in cells}):
        raise ValueError("either every table cell carries a setup or none does")
    return setups or None


def required_results(name: str, cells: Iterable[Sequence[str]]) -> list[tuple[str, str, str]]:
    """(dataset, budget, result_key) of every aggregated result the table reads."""
    spec, cells = table_spec(name), check_cells(cells)
    keys = [(ds, b, row.result_key) for row in spec.rows if row.result_key for ds, b in cells]
    return list(dict.fromkeys(keys))
