"""Reports: result tables (ours beside the paper's numbers) and the paper's transcribed numbers.

Only the light, I/O-free table API is imported here (the Snakemake input functions import it);
`aggregate` and `summary` are imported by their own module paths.
"""

from timebalance.report.paper_numbers import PAPER, paper_number, paper_rows
from timebalance.report.tables import (
    TABLES,
    RowSpec,
    TableSpec,
    load_results,
    render_table,
    required_results,
    tex_escape,
    write_table,
)

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
