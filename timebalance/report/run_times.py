"""Run times and memory of every job that kept a `benchmark:` file (results/benchmarks/
<rule>/<output below results/>.tsv, Snakemake's format): one CSV and one HTML table for the
report, per job and summed per rule."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from timebalance import io

COLUMNS = ("rule", "job", "wall_s", "max_rss_mb", "cpu_s")


def collect_run_times(root: str | Path) -> pd.DataFrame:
    """One row per benchmark file under `root` (the last run of the job when a file holds
    several repeats): rule, job (the output's path below results/, without suffix), wall
    seconds, peak resident memory (MB), CPU seconds. Sorted by rule, then job."""
    root = Path(root)
    rows = []
    for tsv in sorted(root.glob("*/**/*.tsv")):
        frame = pd.read_csv(tsv, sep="\t")
        lacking = {"s", "max_rss"} - set(frame.columns)
        if frame.empty or lacking:
            raise ValueError(
                f"{tsv} is not a Snakemake benchmark file (lacks {sorted(lacking)} or is "
                "empty); delete it and rerun its job"
            )
        last = frame.iloc[-1]
        rel = tsv.relative_to(root)
        rows.append(
            (
                rel.parts[0],
                str(rel.relative_to(rel.parts[0]).with_suffix("")),
                float(last["s"]),
                pd.to_numeric(last["max_rss"], errors="coerce"),
                pd.to_numeric(last.get("cpu_time"), errors="coerce"),
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def per_rule(times: pd.DataFrame) -> pd.DataFrame:
    """Jobs, summed and longest wall time, and peak memory per rule."""
    grouped = times.groupby("rule")
    return pd.DataFrame(
        {
            "jobs": grouped.size(),
            "total_wall_s": grouped["wall_s"].sum(),
            "max_wall_s": grouped["wall_s"].max(),
            "max_rss_mb": grouped["max_rss_mb"].max(),
        }
    ).reset_index()


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                text = "–" if pd.isna(value) else f"{value:,.1f}"
                cells.append(f'<td style="text-align:right">{text}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>"
    )


def render_html(times: pd.DataFrame) -> str:
    total = times["wall_s"].sum() if len(times) else 0.0
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Run times</title>',
        "<style>table{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
        "<h2>Run times and memory per rule</h2>",
        f"<p>{len(times)} jobs with a benchmark file, {total / 60:.1f} min of wall time in all "
        "(jobs may have run in parallel). Memory: peak resident set (MB).</p>",
        _html_table(per_rule(times)) if len(times) else "<p>No benchmark file yet.</p>",
        "<h2>Per job</h2>",
        _html_table(times) if len(times) else "",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_run_times(
    *, out_csv: str | Path, out_html: str | Path, benchmarks: str | Path | None = None
) -> None:
    """Collect every benchmark file below `benchmarks` (default: the CSV's folder, which is
    results/benchmarks/ in the workflow) into a CSV and an HTML page."""
    times = collect_run_times(Path(out_csv).parent if benchmarks is None else benchmarks)
    io.write_text(times.to_csv(index=False, float_format="%.3f"), out_csv)
    io.write_text(render_html(times), out_html)
