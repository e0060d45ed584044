"""The README's rule -> package function table matches what the rule scripts call."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script_calls() -> dict[str, str]:
    """rule -> dotted function its script calls (the one call at module level)."""
    out = {}
    for script in sorted((ROOT / "workflow_scripts").glob("*.py")):
        tree = ast.parse(script.read_text())
        imported = {
            alias.asname or alias.name: f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
        calls = [
            n.value.func.id
            for n in tree.body
            if isinstance(n, ast.Expr)
            and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Name)
            and n.value.func.id != "open_rule_log"  # the log, before the one call
        ]
        assert len(calls) == 1, f"{script}: expected one call into the package, got {calls}"
        out[script.stem] = imported[calls[0]]
    return out


def test_readme_rule_table_matches_the_scripts():
    text = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| `([a-z_]+)` \| `(timebalance\.[a-z_.]+)` \|$", text, re.M))
    assert table == _script_calls()


def test_every_script_is_a_rule():
    rules = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule ([a-z_]+):", smk.read_text(), re.M))
    assert set(_script_calls()) <= rules
