"""What keeps a dry run fast (`snakemake -n paper_grid`): the workflow imports no torch
while Snakemake builds the DAG, the objects the Snakefile's parse leaves are frozen out of
the garbage collector, and the code version of each rule is not recomputed from scratch for
every rule (no timings here: benchmarks measure those)."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.workflow.conftest import ROOT, tiny_config
from timebalance.workflow import code_deps as D

_PROBE = """
import gc, sys
from snakemake.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    status = done.code
print("torch imported:", "torch" in sys.modules, "exit:", status)
print("frozen objects:", gc.get_freeze_count())
"""


def test_building_the_dag_imports_no_torch_and_freezes_the_parse(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    args = ["-n", "demo", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert "torch imported: False exit: 0" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    # The Snakefile's gc.freeze(): Snakemake's modules and the parsed workflow are not
    # scanned by every full collection nor freed one by one at exit (~0.7 s of a
    # paper-grid dry run).
    frozen = int(proc.stdout.split("frozen objects:")[1].split()[0])
    assert frozen > 50_000, proc.stdout


def test_code_versions_resolve_each_module_once(monkeypatch):
    """The Snakefile asks for the code version of every rule's script; the second script
    importing a module must not resolve that module's imports again (it did, ~10k lookups
    with a stat each per dry run)."""
    calls = []
    lookup = D.module_file
    monkeypatch.setattr(D, "module_file", lambda *a, **k: calls.append(a[1]) or lookup(*a, **k))
    D._resolved_imports.cache_clear()
    scripts = sorted((ROOT / "workflow_scripts").glob("*.py"))
    first = [D.code_version(s, ROOT / "timebalance") for s in scripts]
    once = len(calls)
    assert once > 0
    again = [D.code_version(s, ROOT / "timebalance") for s in scripts]
    assert again == first
    assert len(calls) == once  # every import of the second round came from the cache
    # The first round resolves each file's imports once, however many scripts share it.
    files = {f for s in scripts for f in D.closure(s, ROOT / "timebalance")}
    assert D._resolved_imports.cache_info().misses <= len(files) + len(scripts)
