"""Stage: render one result table from the aggregated result files and write its Markdown,
CSV, LaTeX and HTML files (each atomically, through timebalance.io)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from timebalance import io
from timebalance.report.render import render_table


def load_results(
    paths: Mapping[tuple, str | Path], *, missing_ok: bool = False
) -> dict[tuple, dict]:
    """Read aggregated result JSONs; errors name the file and what to do. With `missing_ok`
    a result file that does not exist is left out (its table cell shows 'not run')."""
    out = {}
    for key, path in paths.items():
        if missing_ok and not Path(path).exists():
            continue
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
    cells: Iterable[Sequence],
    results: Mapping[tuple[str, str, str], Mapping],
    out_md: str | Path,
    out_csv: str | Path,
    out_tex: str | Path,
    metric: str = "top1",
    out_html: str | Path | None = None,
) -> None:
    """Render, then write the files (Markdown, CSV, LaTeX and, if asked, HTML), each
    atomically (temp file + os.replace). `cells` as `render_table` takes them."""
    texts = render_table(name, cells, results, metric=metric)
    for key, path in (("md", out_md), ("csv", out_csv), ("tex", out_tex), ("html", out_html)):
        if path is not None:
            io.write_text(texts[key], path)


def write_table_from_files(
    name: str,
    cells: list[tuple],
    files: dict[tuple[str, str, str], str | Path],
    *,
    out_md: str | Path,
    out_csv: str | Path,
    out_tex: str | Path,
    out_html: str | Path | None = None,
    metric: str = "top1",
    missing_ok: bool = False,
) -> None:
    """`cells` are (dataset, budget, setup) triples as the tables rule passes them (or
    plain pairs, see `render_table`); `files` maps (dataset, budget, result_key) to an
    aggregated result JSON; with `missing_ok`, results not built yet are rendered as 'not
    run'."""
    results = load_results(files, missing_ok=missing_ok)
    write_table(name, cells, results, out_md, out_csv, out_tex, metric=metric, out_html=out_html)
