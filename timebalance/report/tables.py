"""Result tables: our numbers (mean ± std over seeds) beside the paper's, as Markdown, CSV
and LaTeX. `TABLES` says which result files each table reads (`required_results`, called by
the Snakemake input function: pure, no I/O) and which paper row sits beside each of ours.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from timebalance.report.paper_numbers import (
    PAPER,
    PAPER_DATASETS,
    PAPER_DECIMALS,
    R18,
    R50,
    SOURCES,
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
PAPER_CROP = 224  # input resolution of the paper (Sec. 4.2)
DATASET_NAMES = {"ucf101": "UCF101", "hmdb51": "HMDB51", "kinetics400": "Kinetics400"}
MISSING = "–"
CSV_COLUMNS = ("table", "row", "dataset", "budget", "metric", "mean", "std", "n_seeds", "paper")


@dataclass(frozen=True)
class RowSpec:
    """One table row. `result_key` None marks a reference row (paper numbers only).
    `paper` maps a paper backbone ("3D-ResNet50") to the (paper table, paper row) of PAPER
    whose numbers sit beside ours; a measured row picks the entry matching its backbone."""

    label: str
    result_key: str | None
    paper: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def paper_numbers(self, backbone: str) -> dict[tuple[str, str], float]:
        """{(dataset, budget): paper top-1} of the paper row used for `backbone`."""
        table, row = self.paper[backbone]
        return {(ds, b): v for (t, r, ds, b), v in PAPER.items() if (t, r) == (table, row)}


@dataclass(frozen=True)
class TableSpec:
    """A table: measured and reference rows; `paper_backbone` is the paper's setting for its
    measured rows when our backbone has no paper counterpart (e.g. `tiny`)."""

    title: str
    caption: str
    rows: tuple[RowSpec, ...]
    paper_backbone: str = R50
    notes: tuple[str, ...] = ()


def _rows(table: str, bb: str, *rows: tuple[str, str | None, str | None]) -> tuple[RowSpec, ...]:
    """(label, result_key, paper row of `table`) triples; one paper backbone for all rows."""
    return tuple(RowSpec(lab, key, {bb: (table, ref)} if ref else {}) for lab, key, ref in rows)


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
    refs = tuple(RowSpec(r.label, None, {r.backbone: ("table1", r.label)}) for r in TABLE1_ROWS)
    return measured + refs


T7_OURS, T7_PRIOR = "Ours (scratch student)", "Prior best methods"
TABLES: dict[str, TableSpec] = {
    "table1": TableSpec(
        "Table 1 analogue: comparison with prior semi-supervised methods",
        "Measured rows first, then every row of the paper's Table 1 (reference, paper numbers "
        "only), labelled 'method (venue), backbone'.",
        _table1_rows(),
        notes=(
            "The paper's best/second-best marks and its grey (ImageNet-initialised) shading "
            "are not reproduced; of the two TACL and ActorCM rows the higher one is taken as "
            "the ImageNet-initialised one (inferred, see paper_numbers.py).",
        ),
    ),
    "table2": TableSpec(
        "Table 2 analogue: contribution of each component",
        "Student f_S initialised by self-supervised pretraining (TCLR objective); teachers f_I "
        "(temporally invariant) and f_D (temporally distinctive). (b), (c): finetuned teachers "
        "alone; (d)-(f): student distilled from one teacher or the average of both; (g): "
        "temporal-similarity reweighting (TimeBalance).",
        _rows(
            "table2",
            R50,
            ("(a) f_S: SSL init, labels only", "variants/sup_sslinit", "(a)"),
            ("(b) f_I: invariant teacher", "teacher_invariant", "(b)"),
            ("(c) f_D: distinctive teacher", "teacher_distinctive", "(c)"),
            ("(d) f_S + f_I", "variants/inv_only", "(d)"),
            ("(e) f_S + f_D", "variants/dist_only", "(e)"),
            ("(f) f_S + f_I + f_D, averaged", "variants/avg", "(f)"),
            ("(g) f_S + f_I + f_D, reweighted (TimeBalance)", "student", "(g)"),
        ),
    ),
    "table3": TableSpec(
        "Table 3 analogue: components with a randomly initialised student",
        "As Table 2 with f_S trained from random initialisation.",
        _rows(
            "table3",
            R50,
            ("(a) f_S (random init), labels only", "variants/scratch_sup", "(a)"),
            ("(b) f_S + f_I", "variants/scratch_inv", "(b)"),
            ("(c) f_S + f_D", "variants/scratch_dist", "(c)"),
            ("(d) f_S + f_I + f_D, averaged", "variants/scratch_avg", "(d)"),
            ("(e) f_S + f_I + f_D, reweighted", "variants/scratch_tstr", "(e)"),
        ),
    ),
    "table4": TableSpec(
        "Table 4 analogue: teacher pairs",
        "Student distilled from the average of two teachers (no reweighting). Inv1/Dist1 are the "
        "default teachers (pretraining seed 0), Inv2/Dist2 are pretrained again with seed 1; "
        "(c) is the same run as Table 2 (f).",
        _rows(
            "table4",
            R50,
            ("(a) Inv1 + Inv2", "variants/inv1_inv2", "(a) Inv1 + Inv2"),
            ("(b) Dist1 + Dist2", "variants/dist1_dist2", "(b) Dist1 + Dist2"),
            ("(c) Inv1 + Dist1", "variants/avg", "(c) Inv1 + Dist1"),
            ("(d) Inv1 + Dist2", "variants/inv1_dist2", "(d) Inv1 + Dist2"),
        ),
    ),
    "table5": TableSpec(
        "Table 5 analogue: clips per video in teacher pretraining",
        "Teachers pretrained with n clips per video, then finetuned on the labeled list; the "
        "n=4 rows are the default teachers of Table 2 (b), (c).",
        _rows(
            "table5",
            R50,
            ("Invariant teacher, n=4", "teacher_invariant", "Invariant Teacher, n=4"),
            ("Invariant teacher, n=2", "teachers/invariant_n2", "Invariant Teacher, n=2"),
            ("Distinctive teacher, n=4", "teacher_distinctive", "Distinctive Teacher, n=4"),
            ("Distinctive teacher, n=2", "teachers/distinctive_n2", "Distinctive Teacher, n=2"),
        ),
    ),
    "table6": TableSpec(
        "Table 6 analogue (supplement Table 1): distillation loss",
        "Unlabeled supervision of the TimeBalance student: L2 (default), KL or JS divergence "
        "between the student's and the reweighted teachers' predictions.",
        _rows(
            "table6",
            R50,
            ("L2 (default)", "student", "L2"),
            ("KL divergence", "variants/kl", "KL-Divergence"),
            ("JS divergence", "variants/js", "JS-Divergence"),
        ),
        notes=("The supplement's L2 at UCF101 20% (83.15) differs from main Table 2 (g) (83.26).",),
    ),
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
        notes=(
            "The 'prior best' rows mix methods (ActorCM, an R(2+1)D-34, is listed under R3D-50).",
        ),
    ),
    "fig5_init": TableSpec(
        "Fig. 5 analogue: student initialisation",
        "TimeBalance student initialised from different self-supervised checkpoints or from "
        "scratch. CVRL is not reimplemented: an invariant-objective (L_I) pretraining stands in "
        "for it, with CVRL's number in its paper column. Paper values: accuracy after epoch 250 "
        "of semi-supervised training, read from the authors' slides.",
        _rows(
            "fig5_init",
            R18,
            ("TCLR init (default)", "student", "TCLR"),
            ("Invariant-SSL init (stand-in for CVRL)", "variants/init_invariant", "CVRL"),
            ("Distinctive-SSL init", "variants/init_distinctive", None),
            ("Scratch (random init)", "variants/scratch_tstr", "Scratch"),
            ("TempTrans init", None, "TempTrans"),
            ("VCOP init", None, "VCOP"),
        ),
        paper_backbone=R18,
    ),
}


def _spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}")
    return TABLES[name]


def _cells(cells: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for cell in cells:
        if len(cell) != 2 or not all(isinstance(x, str) for x in cell):
            raise ValueError(f"table cell {cell!r} must be a (dataset, budget) pair of strings")
        if tuple(cell) in out:
            raise ValueError(f"table cell {tuple(cell)!r} is listed twice")
        out.append((cell[0], cell[1]))
    if not out:
        raise ValueError("a table needs at least one (dataset, budget) cell")
    return out


def required_results(name: str, cells: Iterable[Sequence[str]]) -> list[tuple[str, str, str]]:
    """(dataset, budget, result_key) of every aggregated result the table reads."""
    spec, cells = _spec(name), _cells(cells)
    keys = [(ds, b, row.result_key) for row in spec.rows if row.result_key for ds, b in cells]
    return list(dict.fromkeys(keys))


@dataclass
class _Cell:
    mean: float | None = None  # ours (None on reference rows)
    std: float | None = None  # None for a single seed: undefined, not zero
    n: int | None = None
    paper: float | None = None
    paper_text: str = MISSING
    ours_text: str = ""


def _stats(key: tuple[str, str, str], result: Mapping, metric: str) -> tuple[float, float, int]:
    block = result.get(metric) if isinstance(result, Mapping) else None
    if not isinstance(block, Mapping) or not isinstance(block.get("mean"), int | float):
        raise ValueError(
            f"result {'/'.join(key)} has no numeric {metric}.mean (an aggregated "
            "result JSON from `aggregate_seeds` is expected)"
        )
    if not math.isfinite(block["mean"]):
        raise ValueError(f"result {'/'.join(key)}: {metric}.mean is {block['mean']}")
    per_seed, seeds = block.get("per_seed"), result.get("seeds")
    n = (
        len(per_seed)
        if isinstance(per_seed, list)
        else len(seeds)
        if isinstance(seeds, list)
        else 0
    )
    if n < 1:
        raise ValueError(
            f"result {'/'.join(key)}: cannot tell the number of seeds "
            f"(no {metric}.per_seed and no seeds list)"
        )
    return float(block["mean"]), float(block.get("std") or 0.0), n


def _paper_backbone(row: RowSpec, spec: TableSpec, ours: str | None) -> str | None:
    if not row.paper:
        return None
    for bb in (BACKBONE_NAMES.get(ours or ""), spec.paper_backbone):
        if bb in row.paper:
            return bb
    return next(iter(row.paper))


def _fmt_paper(value: float | None, table: str) -> str:
    return MISSING if value is None else f"{value:.{PAPER_DECIMALS[table]}f}"


def _layout(name, cells, results, metric):
    """The rendered grid: [(row, [_Cell per cell])] and the note lines."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    spec, cells = _spec(name), _cells(cells)
    missing = [k for k in required_results(name, cells) if k not in results]
    if missing:
        raise ValueError(f"table {name}: no result for " + ", ".join("/".join(k) for k in missing))
    grid, setups, sources, ns = [], set(), {}, set()
    for row in spec.rows:
        line = []
        for ds, b in cells:
            cell = _Cell()
            if row.result_key is None:
                bb = next(iter(row.paper), None)
            else:
                result = results[ds, b, row.result_key]
                cell.mean, std, cell.n = _stats((ds, b, row.result_key), result, metric)
                cell.std = std if cell.n > 1 else None
                ns.add(cell.n)
                config = result.get("config") or {}
                ours_bb, schedule = config.get("backbone"), config.get("schedule")
                bb = _paper_backbone(row, spec, ours_bb)
                crop = config.get("crop_size")  # recorded by newer results only
                setups.add((ours_bb, schedule, bb or spec.paper_backbone, crop))
                if bb and (row.paper[bb][0] != name or len(row.paper) > 1):
                    table, paper_row = row.paper[bb]
                    sources[row.label, bb] = f"{row.label}: {SOURCES[table]}, row '{paper_row}'"
            if bb is not None:
                table, paper_row = row.paper[bb]
                cell.paper = PAPER.get((table, paper_row, ds, b))
                cell.paper_text = _fmt_paper(cell.paper, table)
            line.append(cell)
        grid.append((row, line))
    for _row_spec, line in grid:
        for cell in line:
            if cell.n is not None:
                cell.ours_text = f"{cell.mean:.2f}" + (
                    f" ± {cell.std:.2f}" if cell.std is not None else " (n=1)"
                )
                if len(ns) > 1 and cell.n > 1:
                    cell.ours_text += f" (n={cell.n})"
    return spec, cells, grid, _notes(spec, cells, metric, ns, setups, sources)


def _notes(spec, cells, metric, ns, setups, sources) -> list[str]:
    seeds = ", ".join(str(n) for n in sorted(ns))
    notes = [
        f"Ours: {METRICS[metric]} (%) on the test split, mean ± sample std over {seeds} "
        "seed(s); a single seed shows '(n=1)' and no std."
        if ns
        else "No measured rows: paper numbers only.",
        "Paper: top-1 accuracy (%) as reported (average of three runs); "
        f"'{MISSING}' where the paper has no number.",
    ]
    if metric != "top1":
        notes.append(f"The paper reports only top-1; its column is not the {METRICS[metric]}.")
    if sources:
        notes.append("Paper column of measured rows: " + "; ".join(sources.values()) + ".")
    unknown = [s for s in setups if s[0] is None or s[1] is None]
    differ = [
        s
        for s in setups
        if BACKBONE_NAMES.get(s[0] or "") != s[2]
        or s[1] != PAPER_SCHEDULE
        or s[3] not in (None, PAPER_CROP)
    ]
    if unknown:
        notes.append(
            "Some result files do not record config.backbone / config.schedule; "
            "compare with the paper's numbers with care."
        )
    if differ:
        ours = "; ".join(
            sorted(
                {
                    f"backbone {s[0] or 'not recorded'}, schedule {s[1] or 'not recorded'}"
                    + (f", {s[3]} px crops" if s[3] is not None else "")
                    for s in differ
                }
            )
        )
        paper = ", ".join(sorted({s[2] for s in differ}))
        notes.append(
            f"Setup differs from the paper: ours {ours}; the paper's numbers use {paper} "
            f"with {PAPER_CROP}x{PAPER_CROP} inputs and the paper's epochs (250 SSL, 100 on "
            "Kinetics400; 150 finetune; 150 student), so the columns are not directly comparable."
        )
    other = sorted({ds for ds, _ in cells if ds not in PAPER_DATASETS})
    if other:
        notes.append(f"The paper reports nothing on {', '.join(other)}.")
    if any(row.result_key is None for row in spec.rows):
        notes.append("Rows with empty 'ours' columns are the paper's numbers for reference.")
    return notes + list(spec.notes)


def _header(ds: str, budget: str) -> str:
    pct = budget[:-3] + "%" if budget.endswith("pct") else budget
    return f"{DATASET_NAMES.get(ds, ds)} {pct}"


def _markdown(spec, cells, grid, notes) -> str:
    def esc(text: str) -> str:
        return text.replace("|", r"\|")

    heads = [f"{_header(*c)} {side}" for c in cells for side in ("ours", "paper")]
    lines = [f"## {spec.title}", "", spec.caption, ""]
    lines += ["| Method | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    for row, line in grid:
        vals = [v for c in line for v in (c.ours_text, c.paper_text)]
        lines.append(f"| {esc(row.label)} | " + " | ".join(esc(v) for v in vals) + " |")
    return "\n".join([*lines, "", *(f"- {n}" for n in notes)]) + "\n"


def _csv(name, cells, grid, metric) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row, line in grid:
        for (ds, b), c in zip(cells, line, strict=True):
            writer.writerow(
                [
                    name,
                    row.label,
                    ds,
                    b,
                    metric,
                    *("" if v is None else repr(v) for v in (c.mean, c.std, c.n, c.paper)),
                ]
            )
    return buf.getvalue()


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "×": r"$\times$",
}


def tex_escape(text: str) -> str:
    """Plain text -> LaTeX text (special characters escaped, ± as $\\pm$)."""
    return text.translate({ord(k): v for k, v in _TEX.items()})


def _latex(name, spec, cells, grid, notes) -> str:
    k = len(cells)
    lines = [
        "% Generated by timebalance.report.tables; needs \\usepackage{booktabs}.",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{tex_escape(spec.title)}. {tex_escape(spec.caption)}}}",
        rf"\label{{tab:{name}}}",
        rf"\begin{{tabular}}{{l{'rr' * k}}}",
        r"\toprule",
        " & ".join(["", *(rf"\multicolumn{{2}}{{c}}{{{tex_escape(_header(*c))}}}" for c in cells)])
        + r" \\",
        " ".join(rf"\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(k)),
        "Method & " + " & ".join(["ours & paper"] * k) + r" \\",
        r"\midrule",
    ]
    previous_measured = True
    for row, line in grid:
        if previous_measured and row.result_key is None and lines[-1] != r"\midrule":
            lines.append(r"\midrule")
        previous_measured = row.result_key is not None
        vals = [tex_escape(v) for c in line for v in (c.ours_text, c.paper_text)]
        lines.append(" & ".join([tex_escape(row.label), *vals]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip\footnotesize"]
    lines += [tex_escape(n) + r"\par" for n in notes]
    return "\n".join([*lines, r"\end{table}"]) + "\n"


def render_table(
    name: str,
    cells: Iterable[Sequence[str]],
    results: Mapping[tuple[str, str, str], Mapping],
    metric: str = "top1",
) -> dict[str, str]:
    """{"md", "csv", "tex"} texts of one table. `results` maps (dataset, budget, result_key)
    to an aggregated result (see `required_results`); metrics are percentages."""
    spec, cells, grid, notes = _layout(name, cells, results, metric)
    return {
        "md": _markdown(spec, cells, grid, notes),
        "csv": _csv(name, cells, grid, metric),
        "tex": _latex(name, spec, cells, grid, notes),
    }


def _write_atomic(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(name, cells, results, out_md, out_csv, out_tex, metric: str = "top1") -> None:
    """Render, then write the three files, each atomically (temp file + os.replace)."""
    texts = render_table(name, cells, results, metric=metric)
    for key, path in (("md", out_md), ("csv", out_csv), ("tex", out_tex)):
        _write_atomic(texts[key], path)


def load_results(paths: Mapping[tuple, str | Path]) -> dict[tuple, dict]:
    """Read aggregated result JSONs; errors name the file and what to do."""
    out = {}
    for key, path in paths.items():
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"result file {path} (for {'/'.join(map(str, key))}) does not exist; "
                f"build it first, e.g. `snakemake {path}`"
            ) from err
        except json.JSONDecodeError as err:
            raise ValueError(
                f"result file {path} is not valid JSON (line {err.lineno}, column {err.colno}: "
                f"{err.msg}); delete it and rebuild it"
            ) from err
        if not isinstance(data, dict):
            raise ValueError(f"result file {path} holds a {type(data).__name__}, not an object")
        out[tuple(key)] = data
    return out
