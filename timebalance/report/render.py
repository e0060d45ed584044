"""Rendering of one result table: our numbers (mean ± std over seeds) beside the paper's, as
Markdown, CSV and LaTeX texts (no file I/O; `build` reads and writes the files)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from timebalance.report.paper_numbers import PAPER, PAPER_DATASETS, PAPER_DECIMALS, SOURCES
from timebalance.report.specs import (
    BACKBONE_NAMES,
    METRICS,
    PAPER_CROP,
    PAPER_SCHEDULE,
    RowSpec,
    TableSpec,
    check_cells,
    required_results,
    table_spec,
)

DATASET_NAMES = {"ucf101": "UCF101", "hmdb51": "HMDB51", "kinetics400": "Kinetics400"}
MISSING = "–"
NOT_RUN = "not run"  # a measured row's cell whose result does not exist yet
CSV_COLUMNS = (
    "table", "row", "dataset", "budget", "metric", "mean", "std", "n_seeds", "paper", "status",
)  # fmt: skip


@dataclass
class _Cell:
    mean: float | None = None  # ours (None on reference rows)
    std: float | None = None  # None for a single seed: undefined, not zero
    n: int | None = None
    paper: float | None = None
    paper_text: str = MISSING
    ours_text: str = ""
    status: str = "reference"  # reference (paper only) | measured | not run


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
    spec, cells = table_spec(name), check_cells(cells)
    known = set(required_results(name, cells))
    if extra := [k for k in results if tuple(k) not in known]:
        raise ValueError(f"table {name}: results given for cells it does not show: {extra[:3]}")
    grid, setups, sources, ns = [], set(), {}, set()
    not_run = 0
    for row in spec.rows:
        line = []
        for ds, b in cells:
            cell = _Cell()
            if row.result_key is None:
                bb = next(iter(row.paper), None)
            elif (ds, b, row.result_key) not in results:
                cell.status, cell.ours_text = NOT_RUN, NOT_RUN
                not_run += 1
                bb = _paper_backbone(row, spec, None)
            else:
                cell.status = "measured"
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
                std = f" ± {cell.std:.2f}" if cell.std is not None else ""
                cell.ours_text = f"{cell.mean:.2f}{std} (n={cell.n})"
    notes = _notes(spec, cells, metric, ns, setups, sources)
    if not_run:
        notes.insert(
            1,
            f"'{NOT_RUN}': {not_run} measured cell(s) have no result file yet; the row is kept "
            "and fills in once its result is built (`snakemake results/<dataset>_<budget>/"
            "<result>.json`).",
        )
    return spec, cells, grid, notes


def _notes(spec, cells, metric, ns, setups, sources) -> list[str]:
    seeds = ", ".join(str(n) for n in sorted(ns))
    notes = [
        f"Ours: {METRICS[metric]} (%) on the test split, mean ± sample std over the seeds; "
        f"(n=k) is the number of seeds of the cell ({seeds} here); one seed has no std."
        if ns
        else "No measured cell: paper numbers only.",
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
                    c.status,
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
        "% Generated by timebalance.report.render; needs \\usepackage{booktabs}.",
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


_HTML_STYLE = (
    "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px}td.num{text-align:right}"
    "td.notrun{color:#b00;font-style:italic}tr.reference td{color:#666}"
)


def _html(spec, cells, grid, notes) -> str:
    from html import escape

    heads = [f"<th>{escape(_header(*c))} {side}</th>" for c in cells for side in ("ours", "paper")]
    lines = [
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{escape(spec.title)}</title>',
        f"<style>{_HTML_STYLE}</style></head><body>",
        f"<h2>{escape(spec.title)}</h2>",
        f"<p>{escape(spec.caption)}</p>",
        "<table>",
        "<thead><tr><th>Method</th>" + "".join(heads) + "</tr></thead>",
        "<tbody>",
    ]
    for row, line in grid:
        tds = []
        for c in line:
            ours_class = "notrun" if c.status == NOT_RUN else "num"
            tds.append(f'<td class="{ours_class}">{escape(c.ours_text)}</td>')
            tds.append(f'<td class="num">{escape(c.paper_text)}</td>')
        kind = "reference" if row.result_key is None else "measured"
        lines.append(f'<tr class="{kind}"><td>{escape(row.label)}</td>' + "".join(tds) + "</tr>")
    lines += ["</tbody></table>", "<ul>", *(f"<li>{escape(n)}</li>" for n in notes), "</ul>"]
    return "\n".join([*lines, "</body></html>"]) + "\n"


def render_table(
    name: str,
    cells: Iterable[Sequence[str]],
    results: Mapping[tuple[str, str, str], Mapping],
    metric: str = "top1",
) -> dict[str, str]:
    """{"md", "csv", "tex", "html"} texts of one table. `results` maps (dataset, budget,
    result_key) to an aggregated result (see `required_results`); metrics are percentages. A
    measured cell without a result is rendered as 'not run' (the row is never dropped)."""
    spec, cells, grid, notes = _layout(name, cells, results, metric)
    return {
        "md": _markdown(spec, cells, grid, notes),
        "csv": _csv(name, cells, grid, metric),
        "tex": _latex(name, spec, cells, grid, notes),
        "html": _html(spec, cells, grid, notes),
    }
