"""Stage: render one result table from the aggregated result files and write its Markdown,
CSV and LaTeX files (each atomically, through timebalance.io)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from timebalance import io
from timebalance.report.render import render_table


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


def write_table(
    name: str,
    cells: Iterable[Sequence[str]],
    results: Mapping[tuple[str, str, str], Mapping],
    out_md: str | Path,
    out_csv: str | Path,
    out_tex: str | Path,
    metric: str = "top1",
) -> None:
    """Render, then write the three files, each atomically (temp file + os.replace)."""
    texts = render_table(name, cells, results, metric=metric)
    for key, path in (("md", out_md), ("csv", out_csv), ("tex", out_tex)):
        io.write_text(texts[key], path)


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
    write_table(name, cells, load_results(files), out_md, out_csv, out_tex, metric=metric)
