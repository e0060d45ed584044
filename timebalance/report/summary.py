"""The end of `make demo`: the headline table, the aggregated results, and where the report,
figures and TensorBoard logs are: `python -m timebalance.report.summary [results]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADLINE = "table1"  # the paper's main comparison


def summarize(results: Path) -> list[str]:
    """One line per aggregated result (<cell>/<key>.json): top-1, mean class accuracy."""
    lines = []
    for path in sorted(results.glob("*_*/*.json")):
        data = json.loads(path.read_text())
        # aggregated results only (claims.json and others have other fields)
        if not {"top1", "mean_class_accuracy", "seeds"} <= set(data):
            continue
        t1, mca = data["top1"], data["mean_class_accuracy"]
        chance = 100.0 / max(1, len(data.get("per_class_accuracy", {})) or 1)
        lines.append(
            f"{path}: top1 {t1['mean']:.1f} ± {t1['std']:.1f}, mean class acc "
            f"{mca['mean']:.1f} (seeds {data.get('seeds')}, chance {chance:.1f})"
        )
    return lines


def where(results: Path) -> list[str]:
    """Paths of the report, the figures, the other tables and the TensorBoard logs (or what
    to run when one is missing)."""
    report = results / "report.html"
    figures = sorted((results / "figures").rglob("*.png"))
    tables = sorted((results / "tables").glob("*.md"))
    tensorboard = results / "tensorboard"
    return [
        f"Report:      {report}"
        + ("  (open it in a browser)" if report.exists() else "  (not built: make report)"),
        f"Figures:     {results / 'figures'}/ ({len(figures)} PNG, each with a PDF)"
        if figures
        else "Figures:     none yet (snakemake figures)",
        *(f"             {f}" for f in figures),
        "Tables:      "
        + (", ".join(map(str, tables)) if tables else "none yet")
        + " (.csv .tex .html)",
        f"TensorBoard: {tensorboard}/  (tensorboard --logdir {tensorboard})"
        if tensorboard.is_dir()
        else f"TensorBoard: no event files under {tensorboard}/ yet",
        "Commands:    source .venv/bin/activate  (puts snakemake and tensorboard on PATH)",
    ]


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "results")
    headline = root / "tables" / f"{HEADLINE}.md"
    if headline.exists():
        print(f"\n{headline}:\n\n{headline.read_text(encoding='utf-8')}")
    lines = summarize(root)
    print("\n".join(lines) if lines else f"no aggregated result under {root}/ yet")
    print()
    print("\n".join(where(root)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
