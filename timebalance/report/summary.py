"""Print a short summary of the finished results: `python -m timebalance.report.summary`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarize(results: Path) -> list[str]:
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


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "results")
    lines = summarize(root)
    print("\n".join(lines) if lines else f"no aggregated result under {root}/ yet")
    for table in sorted((root / "tables").glob("*.md")):
        print(f"\n{table}:\n{table.read_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
