"""The code version of each rule covers exactly the package modules its script runs, found
from the import statements (timebalance.workflow.code_deps)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflow.conftest import ROOT
from timebalance.workflow import code_deps as D

PACKAGE = ROOT / "timebalance"


def rule_scripts() -> dict[str, str]:
    """Rule -> script stem, from rules/*.smk; each rule's `code=code(...)` must name its script."""
    found = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule |use rule )", smk.read_text()):
            name = re.match(r"(?:use )?rule (\w+)", block)
            script = re.search(r'script:\s+"\.\./workflow_scripts/(\w+)\.py"', block)
            if not (name and script):
                continue
            code = re.search(r'code=code\("(\w+)"\)', block)
            assert code, f"{smk.name}: rule {name.group(1)} passes no code=code(...) param"
            assert code.group(1) == script.group(1), f"{smk.name}: rule {name.group(1)}"
            found[name.group(1)] = script.group(1)
    return found


RULES = rule_scripts()


def script_path(stem: str) -> Path:
    return ROOT / "workflow_scripts" / f"{stem}.py"


def rel(files) -> set[str]:
    return {f.relative_to(PACKAGE.resolve()).as_posix() for f in files}


def test_every_script_rule_is_found():
    assert len(RULES) >= 12
    assert {"index_dataset", "finetune_teacher", "train_student", "tables"} <= set(RULES)


def test_hash_changes_exactly_with_the_modules_a_rule_runs(tmp_path):
    package = tmp_path / "timebalance"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    scripts = {rule: script_path(stem) for rule, stem in RULES.items()}
    base = {rule: D.code_version(s, package) for rule, s in scripts.items()}
    closures = {rule: set(D.closure(s, package)) for rule, s in scripts.items()}
    modules = sorted(package.resolve().rglob("*.py"))
    assert all(closures.values())
    for module in modules:
        source = module.read_bytes()
        module.write_bytes(source + b"\n# edited\n")
        try:
            for rule, script in scripts.items():
                changed = D.code_version(script, package) != base[rule]
                assert changed == (module in closures[rule]), (rule, module.name)
        finally:
            module.write_bytes(source)
    # Something lies outside some closure, or the test above proves nothing.
    assert any(set(modules) - c for c in closures.values())


def test_imports_are_resolved_like_python(tmp_path):
    """import x.y, from x import submodule, relative imports, imports inside functions."""
    pkg = tmp_path / "timebalance"
    files = {
        "__init__.py": "__version__ = '9.9'\n",
        "a/__init__.py": "from .b import f\n",
        "a/b.py": "def f():\n    from timebalance.c import d\n    return d\n",
        "a/unused.py": "",
        "c/__init__.py": "",
        "c/d.py": "from .. import e\nimport timebalance.g.h as h\n",
        "g/__init__.py": "",
        "g/h.py": "from timebalance.e import something_defined_there\n",
        "lonely.py": "import timebalance\n",
        # Type-only imports never run: not in the closure (and no cycle through them).
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from timebalance import lonely\nelse:\n    from timebalance import k\n",
        "k.py": "import typing\nif typing.TYPE_CHECKING:\n    import timebalance.lonely\n",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    script = tmp_path / "script.py"
    script.write_text("import sys\nfrom timebalance.a import f\n")
    assert rel_to(pkg, D.closure(script, pkg)) == {
        "__init__.py", "a/__init__.py", "a/b.py", "c/__init__.py", "c/d.py", "e.py",
        "g/__init__.py", "g/h.py", "k.py",
    }  # fmt: skip
    assert D.code_version(script, pkg).startswith("9.9+")
    script.write_text("from timebalance.a.missing import f\n")
    with pytest.raises(ImportError, match=r"no module timebalance\.a\.missing"):
        D.closure(script, pkg)


def rel_to(root: Path, files) -> set[str]:
    return {f.relative_to(root.resolve()).as_posix() for f in files}


# One interpreter loads the heavy third-party libraries once, then forks a child per script
# that runs the script's import statements and reports the package modules it loaded.
_PROBE = """
import importlib, json, os, sys
for lib in ("torch", "torchvision", "numpy", "pandas", "PIL", "ffmpeg"):
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
assert not any(n.split(".")[0] == "timebalance" for n in sys.modules)
for name, program in json.loads(sys.argv[1]).items():
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        exec(program, {})
        files = [getattr(m, "__file__", None) for n, m in list(sys.modules.items())
                 if n.split(".")[0] == "timebalance"]
        print(json.dumps([name, [f for f in files if f]]), flush=True)
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, name
"""


def _imported_at_run_time(scripts: dict[str, Path]) -> dict[str, set[str]]:
    """Rule -> the package modules loaded by running its script's import statements."""
    programs = {}
    for rule, script in scripts.items():
        tree = ast.parse(script.read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        programs[rule] = "\n".join(ast.unparse(n) for n in imports)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(programs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = dict(json.loads(line) for line in proc.stdout.splitlines())
    assert set(found) == set(scripts)
    return {rule: rel(Path(f).resolve() for f in files) for rule, files in found.items()}


def test_closure_holds_every_module_the_script_really_imports():
    """Ground truth from Python itself; the hand-written map it replaces missed, e.g.,
    data/pipeline.py for the index and methods/timebalance.py for teacher finetuning."""
    real = _imported_at_run_time({rule: script_path(stem) for rule, stem in RULES.items()})
    for rule, stem in RULES.items():
        static = rel(D.closure(script_path(stem), PACKAGE))
        assert real[rule] <= static, (rule, real[rule] - static)
    assert "data/pipeline.py" in real["index_dataset"]
    assert "methods/timebalance.py" in real["finetune_teacher"]
    assert any(f.startswith("losses/") for f in real["train_student"])


def test_no_import_cycle_in_the_package():
    cycles = D.import_cycles(PACKAGE)
    assert cycles == [], f"import cycles: {cycles}"


def _fresh_process(monkeypatch) -> list[str]:
    """Forget what this process parsed (as a new process would); the files parsed from now
    on are recorded in the returned list."""
    D._imported_names.cache_clear()
    D._resolved_imports.cache_clear()
    parsed: list[str] = []
    parse = D._parse_imports
    monkeypatch.setattr(
        D, "_parse_imports", lambda source, file, *a: parsed.append(file) or parse(source, file, *a)
    )
    return parsed


def test_import_cache_spares_a_new_process_the_parsing(tmp_path, monkeypatch):
    scripts = [script_path(stem) for stem in sorted(set(RULES.values()))]
    expected = [D.code_version(s, PACKAGE) for s in scripts]
    path = tmp_path / "state" / "imports.json"
    parsed = _fresh_process(monkeypatch)
    assert [D.code_version(s, PACKAGE, D.ImportCache(path)) for s in scripts] == expected
    assert parsed and path.exists()  # each file parsed once, then written
    parsed = _fresh_process(monkeypatch)
    assert [D.code_version(s, PACKAGE, D.ImportCache(path)) for s in scripts] == expected
    assert parsed == []


def test_import_cache_is_keyed_by_the_bytes_not_the_mtime(tmp_path, monkeypatch):
    pkg = tmp_path / "timebalance"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '1.0'\n")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "b.py").write_text("")
    (pkg / "c.py").write_text("")
    module = pkg / "a" / "m.py"
    module.write_text("from timebalance import b\n")
    script = tmp_path / "script.py"
    script.write_text("import timebalance.a.m\n")
    cache = tmp_path / "imports.json"
    _fresh_process(monkeypatch)
    assert "b.py" in rel_to(pkg, D.closure(script, pkg, D.ImportCache(cache)))
    D.code_version(script, pkg, D.ImportCache(cache))  # writes the cache
    stat = module.stat()
    module.write_text("from timebalance import c\n")  # same size, same mtime: only the bytes
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    parsed = _fresh_process(monkeypatch)
    found = rel_to(pkg, D.closure(script, pkg, D.ImportCache(cache)))
    assert "c.py" in found and "b.py" not in found
    # The edited module is parsed again (and c.py, seen for the first time); nothing else.
    assert sorted(parsed) == sorted(str(f.resolve()) for f in (module, pkg / "c.py"))


@pytest.mark.parametrize(
    "stored", ["{not json", '["a list"]', '{"parser": "another", "entries": {}}', "{}"]
)
def test_an_unusable_import_cache_is_ignored_and_replaced(tmp_path, monkeypatch, stored):
    script = script_path("tables")
    expected = D.code_version(script, PACKAGE)
    path = tmp_path / "imports.json"
    path.write_text(stored)
    parsed = _fresh_process(monkeypatch)
    assert D.code_version(script, PACKAGE, D.ImportCache(path)) == expected
    assert parsed  # nothing was taken from it
    parsed = _fresh_process(monkeypatch)
    assert D.code_version(script, PACKAGE, D.ImportCache(path)) == expected
    assert parsed == []  # rewritten in this version's format


def test_an_unwritable_import_cache_only_costs_the_parsing(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    script = script_path("tables")
    expected = D.code_version(script, PACKAGE)
    _fresh_process(monkeypatch)
    cache = D.ImportCache(blocker / "imports.json")  # its folder cannot be made
    assert D.code_version(script, PACKAGE, cache) == expected
    assert list(tmp_path.iterdir()) == [blocker]


def test_a_full_import_cache_keeps_only_what_was_used(tmp_path, monkeypatch):
    script = script_path("tables")
    path = tmp_path / "imports.json"
    _fresh_process(monkeypatch)
    D.code_version(script, PACKAGE, D.ImportCache(path))
    used = json.loads(path.read_text())["entries"]
    stored = json.loads(path.read_text())
    stored["entries"].update({f"{n:064x}:timebalance.old:0": [] for n in range(5)})
    path.write_text(json.dumps(stored))
    monkeypatch.setattr(D.ImportCache, "MAX_ENTRIES", len(used) + 5)
    _fresh_process(monkeypatch)
    D.code_version(script_path("claims"), PACKAGE, D.ImportCache(path))  # adds entries
    kept = json.loads(path.read_text())["entries"]
    assert not any(":timebalance.old:" in key for key in kept)
    parsed = _fresh_process(monkeypatch)  # what it kept is what claims needs
    D.code_version(script_path("claims"), PACKAGE, D.ImportCache(path))
    assert parsed == []
