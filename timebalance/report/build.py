"""Stage: render one result table from the aggregated result files."""

from __future__ import annotations

from pathlib import Path

from timebalance.report.tables import load_results, write_table


def write_table_from_files(
    name: str,
    cells: list[tuple[str, str]],
    files: dict[tuple[str, str, str], str | Path],
    *,
    out_md: str | Path,
    out_csv: str | Path,
    out_tex: str | Path,
    metric: str = "top1",
) -> None:
    """`files` maps (dataset, budget, result_key) to an aggregated result JSON."""
    results = load_results(files)
    write_table(name, cells, results, out_md, out_csv, out_tex, metric=metric)
