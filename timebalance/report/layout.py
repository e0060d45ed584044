"""The grid of one result table before it is written out (`render`): its columns, its lines
(measured rows, reference rows, block headings), each cell's numbers and the notes.

A table shows runs of one or several setups. The setup of a cell (backbone, crop size,
paper dataset: `workflow.config.dataset_setup`) comes with the cell from the workflow, so a
cell is placed and given its paper number before its result exists. Cells of one setup form
a block; with several blocks (Table 1's 3D-ResNet18 and 3D-ResNet50 sections, Table 7's
R3D-50 and R3D-18 rows) each block lists the measured rows with its own runs and the paper
numbers of its own backbone, then the reference rows the paper prints in that section.
Columns are the paper's cells (UCF101 5%, ...), shared by the blocks. Without setups (plain
(dataset, budget) cells) there is one block, a column per cell, and a run's backbone is
read from its result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from timebalance.report.paper_numbers import PAPER, PAPER_DATASETS, PAPER_DECIMALS, SOURCES
from timebalance.report.specs import (
    BACKBONE_NAMES,
    METRICS,
    PAPER_CROPS,
    PAPER_SCHEDULE,
    RowSpec,
    TableSpec,
    cell_setups,
    check_cells,
    required_results,
    table_spec,
)
from timebalance.workflow.paths import RESULT

DATASET_NAMES = {"ucf101": "UCF101", "hmdb51": "HMDB51", "kinetics400": "Kinetics400"}
MISSING = "–"
NOT_RUN = "not run"  # a measured row's cell whose result does not exist yet


@dataclass
class Cell:
    dataset: str  # our dataset entry (a measured cell) or the column's dataset (reference)
    budget: str
    mean: float | None = None  # ours (None on reference rows)
    std: float | None = None  # None for a single seed: undefined, not zero
    n: int | None = None
    paper: float | None = None
    paper_text: str = MISSING
    ours_text: str = ""
    status: str = "reference"  # reference (paper only) | measured | not run


@dataclass
class Line:
    """A row of the rendered table: a block heading (`row` None), or a spec row with one
    cell per column (None where its block has no cell in that column)."""

    label: str
    row: RowSpec | None
    cells: list[Cell | None] = field(default_factory=list)

    @property
    def is_heading(self) -> bool:
        return self.row is None


@dataclass
class Grid:
    spec: TableSpec
    headers: list[str]  # one per column ("UCF101 5%")
    lines: list[Line]
    notes: list[str]


@dataclass
class _Block:
    setup: Mapping | None  # None: cells without setups
    cells: dict[tuple[str, str], tuple[str, str]]  # column key -> (dataset, budget)

    @property
    def paper_backbone(self) -> str | None:
        return BACKBONE_NAMES.get(self.setup["backbone"]) if self.setup else None

    def heading(self) -> str:
        s = self.setup or {}
        ours = f"ours {s.get('backbone')}, {s.get('crop_size')} px crops"
        return f"{self.paper_backbone or 'No paper backbone'} ({ours})"


def stats(key: tuple[str, str, str], result: Mapping, metric: str) -> tuple[float, float, int]:
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


def paper_backbone(row: RowSpec, spec: TableSpec, ours: str | None) -> str | None:
    """The paper backbone whose numbers sit beside a measured row run with backbone `ours`
    (None: no paper number). A backbone the paper uses gets its own numbers only (when the
    table matches backbones); any other (e.g. `tiny`, or not known yet) the table's
    default, else the row's first."""
    if not row.paper:
        return None
    named = BACKBONE_NAMES.get(ours or "")
    if named and spec.match_backbone:
        return named if named in row.paper else None
    for bb in (named, spec.paper_backbone):
        if bb in row.paper:
            return bb
    return next(iter(row.paper))


def _fmt_paper(value: float | None, table: str) -> str:
    return MISSING if value is None else f"{value:.{PAPER_DECIMALS[table]}f}"


def header(ds: str, budget: str) -> str:
    pct = budget[:-3] + "%" if budget.endswith("pct") else budget
    return f"{DATASET_NAMES.get(ds, ds)} {pct}"


def _blocks(name, cells, setups) -> tuple[list[tuple[str, str]], list[_Block]]:
    """Column keys (dataset of the paper column, budget) and the blocks, in cell order."""
    if setups is None:
        return list(cells), [_Block(None, {c: c for c in cells})]
    columns: list[tuple[str, str]] = []
    blocks: dict[tuple, _Block] = {}
    for ds, b in cells:
        setup = setups[ds]
        column = (setup["paper_dataset"] or ds, b)
        if column not in columns:
            columns.append(column)
        block = blocks.setdefault((setup["backbone"], setup["crop_size"]), _Block(setup, {}))
        if column in block.cells:
            raise ValueError(
                f"table {name}: cells {block.cells[column]} and {(ds, b)} would share the "
                f"column '{header(*column)}' of the {setup['backbone']} block (same backbone "
                "and crop size on the same paper cell); list only one of them"
            )
        block.cells[column] = (ds, b)
    return columns, list(blocks.values())


def _block_rows(spec: TableSpec, blocks: list[_Block]) -> list[tuple[_Block | None, RowSpec]]:
    """(block, row) in table order: one block lists every row of the spec; several list
    each a heading (block, None), the measured rows and the reference rows printed in their
    paper backbone's section, then (None, None) and the reference rows of no block."""
    if len(blocks) == 1:
        return [(blocks[0], row) for row in spec.rows]
    out: list = []
    placed: set[str] = set()
    for block in blocks:
        out.append((block, None))
        for row in spec.rows:
            if row.result_key is not None or (row.block and row.block == block.paper_backbone):
                out.append((block, row))
                placed.add(row.label)
    rest = [row for row in spec.rows if row.label not in placed]
    if rest:
        out.append((None, None))
        out += [(None, row) for row in rest]
    return out


@dataclass
class _Seen:
    """What the notes report about the measured cells."""

    ns: set = field(default_factory=set)  # seed counts
    setups: set = field(default_factory=set)  # (our backbone, schedule, paper backbone, crop)
    sources: dict = field(default_factory=dict)  # (row, paper backbone) -> where its numbers are
    unmatched: dict = field(default_factory=dict)  # row -> (our backbone, paper backbones)
    not_run: int = 0


def _measured(name: str, spec: TableSpec, row: RowSpec, cell: Cell, setup, results, metric, seen):
    """A measured row's cell: ours from its result (or 'not run'), and the paper number of
    the run's backbone (from its result, else from the cell's setup)."""
    key = (cell.dataset, cell.budget, row.result_key)
    ours_bb = setup["backbone"] if setup else None
    crop = schedule = None
    if key not in results:
        cell.status, cell.ours_text = NOT_RUN, NOT_RUN
        seen.not_run += 1
    else:
        cell.status = "measured"
        result = results[key]
        cell.mean, std, cell.n = stats(key, result, metric)
        cell.std = std if cell.n > 1 else None
        seen.ns.add(cell.n)
        config = result.get("config") or {}
        recorded, schedule = config.get("backbone"), config.get("schedule")
        if setup and recorded is not None and recorded != setup["backbone"]:
            path = RESULT.format(dataset=cell.dataset, budget=cell.budget, key=row.result_key)
            raise ValueError(
                f"result {'/'.join(key)} was trained with backbone {recorded}, but "
                f"datasets.{cell.dataset}.backbone is {setup['backbone']}: rebuild it "
                f"(`snakemake {path}`)"
            )
        ours_bb = recorded or ours_bb
        # crop_size is recorded by newer results only; the setup's is what the config runs
        crop = config.get("crop_size") or (setup["crop_size"] if setup else None)
    bb = paper_backbone(row, spec, ours_bb)
    if cell.status == "measured":
        if bb is None and row.paper:
            seen.unmatched.setdefault(row.label, (ours_bb, tuple(row.paper)))
        else:
            seen.setups.add((ours_bb, schedule, bb or spec.paper_backbone, crop))
        if bb and (row.paper[bb][0] != name or len(row.paper) > 1):
            table, paper_row = row.paper[bb]
            seen.sources[row.label, bb] = f"{row.label}: {SOURCES[table]}, row '{paper_row}'"
    if bb is not None:
        table, paper_row = row.paper[bb]
        paper_ds = setup["paper_dataset"] if setup else cell.dataset
        cell.paper = PAPER.get((table, paper_row, paper_ds, cell.budget))
        cell.paper_text = _fmt_paper(cell.paper, table)


def _reference(row: RowSpec, cell: Cell) -> None:
    """A reference row's cell: the paper number of its one paper row."""
    bb = next(iter(row.paper), None)
    if bb is not None:
        table, paper_row = row.paper[bb]
        cell.paper = PAPER.get((table, paper_row, cell.dataset, cell.budget))
        cell.paper_text = _fmt_paper(cell.paper, table)


def layout(
    name: str, cells: Sequence[Sequence], results: Mapping[tuple, Mapping], metric: str
) -> Grid:
    """The grid of table `name` (see the module doc); `cells` are (dataset, budget) pairs
    or (dataset, budget, setup) triples, `results` aggregated results by (dataset, budget,
    result_key)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    cells = list(cells)
    spec, pairs, setups = table_spec(name), check_cells(cells), cell_setups(cells)
    known = set(required_results(name, pairs))
    if extra := [k for k in results if tuple(k) not in known]:
        raise ValueError(f"table {name}: results given for cells it does not show: {extra[:3]}")
    columns, blocks = _blocks(name, pairs, setups)
    seen = _Seen()
    lines: list[Line] = []
    for block, row in _block_rows(spec, blocks):
        if row is None:
            lines.append(Line(block.heading() if block else "Other rows of the paper", None))
            continue
        line = Line(row.label, row)
        for column in columns:
            if row.result_key is None:
                cell = Cell(*column)  # the paper's dataset (with setups) and budget
                _reference(row, cell)
            elif column in block.cells:
                cell = Cell(*block.cells[column])
                setup = setups[cell.dataset] if setups else None
                _measured(name, spec, row, cell, setup, results, metric, seen)
            else:
                cell = None
            line.cells.append(cell)
        lines.append(line)
    for line in lines:
        for cell in line.cells:
            if cell is not None and cell.n is not None:
                std = f" ± {cell.std:.2f}" if cell.std is not None else ""
                cell.ours_text = f"{cell.mean:.2f}{std} (n={cell.n})"
    notes = _notes(spec, columns, metric, seen)
    if seen.not_run:
        notes.insert(
            1,
            f"'{NOT_RUN}': {seen.not_run} measured cell(s) have no result file yet; the row is "
            "kept and fills in once its result is built (`snakemake results/<dataset>_<budget>/"
            "<result>.json`).",
        )
    return Grid(spec, [header(*c) for c in columns], lines, notes)


def _paper_setup(bb: str) -> str:
    crop = PAPER_CROPS.get(bb)
    return f"{bb} at {crop}x{crop}" if crop else bb


def _notes(spec, columns, metric, seen: _Seen) -> list[str]:
    seeds = ", ".join(str(n) for n in sorted(seen.ns))
    notes = [
        f"Ours: {METRICS[metric]} (%) on the test split, mean ± sample std over the seeds; "
        f"(n=k) is the number of seeds of the cell ({seeds} here); one seed has no std."
        if seen.ns
        else "No measured cell: paper numbers only.",
        "Paper: top-1 accuracy (%) as reported (average of three runs); "
        f"'{MISSING}' where the paper has no number.",
    ]
    if metric != "top1":
        notes.append(f"The paper reports only top-1; its column is not the {METRICS[metric]}.")
    if seen.sources:
        notes.append("Paper column of measured rows: " + "; ".join(seen.sources.values()) + ".")
    unknown = [s for s in seen.setups if s[0] is None or s[1] is None]
    differ = [
        s
        for s in seen.setups
        if BACKBONE_NAMES.get(s[0] or "") != s[2]
        or s[1] != PAPER_SCHEDULE
        or s[3] not in (None, PAPER_CROPS.get(s[2]))
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
        paper = ", ".join(sorted({_paper_setup(s[2]) for s in differ}))
        notes.append(
            f"Setup differs from the paper: ours {ours}; the paper's numbers use {paper} "
            "inputs and the paper's epochs (250 SSL, 100 on Kinetics400; 150 finetune; 150 "
            "student), so the columns are not directly comparable."
        )
    for label, (ours, bbs) in seen.unmatched.items():
        notes.append(
            f"Setup differs from the paper: it reports '{label}' only with "
            f"{', '.join(bbs)}, not with our {BACKBONE_NAMES.get(ours, ours)} ({ours}); "
            f"its paper column is '{MISSING}' there."
        )
    other = sorted({ds for ds, _ in columns if ds not in PAPER_DATASETS})
    if other:
        notes.append(f"The paper reports nothing on {', '.join(other)}.")
    if any(row.result_key is None for row in spec.rows):
        notes.append("Rows with empty 'ours' columns are the paper's numbers for reference.")
    return notes + list(spec.notes)
