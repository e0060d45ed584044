"""Reports: result tables (ours beside the paper's numbers) and the paper's transcribed numbers.

`specs` says which results each table reads (pure: the Snakemake input functions import it),
`render` turns results into Markdown / CSV / LaTeX, `build` reads and writes the files;
`aggregate` and `summary` are imported by their own module paths. Nothing here imports torch.
"""

from timebalance.report.build import load_results, write_table
from timebalance.report.paper_numbers import PAPER, paper_number, paper_rows
from timebalance.report.render import render_table, tex_escape
from timebalance.report.specs import TABLES, RowSpec, TableSpec, required_results

__all__ = [
    "PAPER",
    "TABLES",
    "RowSpec",
    "TableSpec",
    "load_results",
    "paper_number",
    "paper_rows",
    "render_table",
    "required_results",
    "tex_escape",
    "write_table",
]
