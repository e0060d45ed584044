"""The tables of a grid from whatever results exist, without running anything:
`python -m timebalance.report.partial_tables [--grid NAME] [--configfile config.yaml]`.

Prints each table's Markdown; a measured cell whose result is not built yet shows 'not run'
(the `tables` rule instead builds every cell first). Nothing is written under results/, so
Snakemake's view of its outputs is untouched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from timebalance.report.build import load_results
from timebalance.report.render import render_table

ROOT = Path(__file__).resolve().parents[2]


def partial_tables(config: dict, grid: str) -> dict[str, str]:
    """Table name -> Markdown of every table of `grid`, from the results that exist (paths
    relative to the working directory, as Snakemake's)."""
    from timebalance.workflow import config as C
    from timebalance.workflow.inputs import table_inputs

    out = {}
    for name, cells in C.table_grid(config, grid).items():
        files = {tuple(k.split("|")): p for k, p in table_inputs(config, grid, name).items()}
        placed = [(ds, b, C.dataset_setup(config, ds)) for ds, b in cells]  # as the rule's
        out[name] = render_table(name, placed, load_results(files, missing_ok=True))["md"]
    return out


def validated_config(path: str | Path) -> dict:
    """config.yaml validated against rules/config.schema.yaml (the schema's defaults filled
    in), as the workflow sees it."""
    from timebalance.workflow.config import validate

    config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return validate(config, ROOT / "rules" / "config.schema.yaml")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config.yaml")
    parser.add_argument("--grid", help="a grid of tables.grids (default: tables.grid)")
    args = parser.parse_args(argv)
    config = validated_config(args.configfile)
    for text in partial_tables(config, args.grid or config["tables"]["grid"]).values():
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
