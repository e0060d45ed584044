"""Which package modules a rule's script runs, read from the import statements.

Snakemake reruns a `script:` job when the script changes, not when a module it imports does.
Each rule therefore passes `code_version(script, package)` as a param: the package version
plus a sha256 over the modules the script imports, directly or through other modules, so
editing a module reruns exactly the jobs that run it. The map comes from the sources (`ast`,
no module is imported, no torch), so it cannot drift from the code.

Import rules (what Python executes): `import timebalance.a.b` and `from timebalance.a import
b` run timebalance/__init__.py, timebalance/a/__init__.py and timebalance/a/b(.py|/); an
import anywhere in a file counts (inside functions too); relative imports resolve against the
importing module's package.

Speed: the Snakefile asks for the version of every rule's script each time Snakemake starts
(every dry run, every cluster job), so a file's import statements are read once per process
(cached per file version; only statements are walked, never expressions) and module names
are resolved against one listing of the package per `closure` call, not one `stat` each.
"""

from __future__ import annotations

import ast
import hashlib
import os
from functools import lru_cache
from pathlib import Path

PACKAGE = "timebalance"


def module_file(
    package_root: Path, module: str, files: frozenset[Path] | None = None
) -> Path | None:
    """The source of a dotted module name of the package (None: not a module of it).
    `files`: the package's source files (`package_files`), looked up instead of the disk."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_root.joinpath(*parts[1:])
    exists = Path.is_file if files is None else files.__contains__
    if exists(base / "__init__.py"):
        return base / "__init__.py"
    if len(parts) > 1 and exists(base.with_suffix(".py")):
        return base.with_suffix(".py")
    return None


_LISTINGS: dict[Path, frozenset[Path]] = {}


def package_files(package_root: Path) -> frozenset[Path]:
    """Every .py file under the (resolved) package root: one listing, no stat per file. An
    unchanged listing is returned as the same object, so the caches keyed by it hit at once."""
    found: set[Path] = set()
    for folder, dirs, names in os.walk(package_root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.update(Path(folder, n) for n in names if n.endswith(".py"))
    listing = frozenset(found)
    if _LISTINGS.get(package_root) != listing:
        _LISTINGS[package_root] = listing
    return _LISTINGS[package_root]


def _module_name(package_root: Path, file: Path) -> str:
    rel = file.relative_to(package_root).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`: a block Python never runs."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


# Nodes holding statements in their list fields (body, orelse, finalbody, handlers, cases):
# an import is a statement, so expressions (most of a tree) are never visited.
_BLOCKS = (ast.stmt, ast.ExceptHandler, ast.match_case)


def _executed_nodes(tree: ast.AST):
    """Every statement of `tree` (at any depth: functions, classes, if/try/with/match
    blocks) except the bodies of `if TYPE_CHECKING:` blocks (imports for type annotations
    only: they neither run nor change what the module computes)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        for _, value in ast.iter_fields(node):
            if isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, _BLOCKS))


@lru_cache(maxsize=1024)
def _imported_names(
    file: str, mtime_ns: int, module: str, is_package: bool
) -> frozenset[tuple[str, bool]]:
    """(dotted name, must be a module) of each import in a source file: `import x.y` gives
    (x.y, True); `from x import y` gives (x, True) and (x.y, False), as y may be a submodule
    or a name defined in x. Cached per file version (the mtime is part of the key)."""
    tree = ast.parse(Path(file).read_bytes(), filename=file)
    package = module if is_package else module.rpartition(".")[0]
    names: set[tuple[str, bool]] = set()
    for node in _executed_nodes(tree):
        if isinstance(node, ast.Import):
            names.update((alias.name, True) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add((base, True))
            names.update((f"{base}.{a.name}", False) for a in node.names if a.name != "*")
    return frozenset(names)


def imports(package_root: Path, file: Path, files: frozenset[Path] | None = None) -> set[Path]:
    """The package's own source files that importing/running `file` executes directly: each
    imported module and the __init__.py of every package above it. `files`: the package's
    source files (`package_files` of the resolved root; None lists them).

    Raises:
        ImportError: `file` imports a module of the package that does not exist.
    """
    package_root = package_root.resolve()
    file = file.resolve()
    if files is None:
        files = package_files(package_root)
    return set(_resolved_imports(package_root, file, file.stat().st_mtime_ns, files))


@lru_cache(maxsize=4096)
def _resolved_imports(
    package_root: Path, file: Path, mtime_ns: int, files: frozenset[Path]
) -> frozenset[Path]:
    """`imports` of one version of `file` against one listing of the package (cached: every
    rule's script imports the same few modules)."""
    inside = file.is_relative_to(package_root)
    module = _module_name(package_root, file) if inside else "__main__"
    names = _imported_names(str(file), mtime_ns, module, inside and file.name == "__init__.py")
    found: set[Path] = set()
    for name, must_be_module in names:
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        for k in range(1, len(parts) + 1):
            source = module_file(package_root, ".".join(parts[:k]), files)
            if source is not None:
                found.add(source)
            elif must_be_module or k < len(parts):
                raise ImportError(
                    f"{file}: imports {name}, but {package_root} has no module "
                    f"{'.'.join(parts[:k])}; fix the import or restore the module"
                )
    return frozenset(found)


def closure(script: str | Path, package_root: str | Path) -> list[Path]:
    """Every package source file `script` runs, transitively, sorted."""
    package_root = Path(package_root).resolve()
    files = package_files(package_root)
    seen: set[Path] = set()
    todo = list(imports(package_root, Path(script), files))
    while todo:
        file = todo.pop()  # resolved already: a file of the listing
        if file not in seen:
            seen.add(file)
            todo += _resolved_imports(package_root, file, file.stat().st_mtime_ns, files)
    return sorted(seen)


def version(package_root: Path) -> str:
    """`__version__` of the package, read from its __init__.py without importing it."""
    tree = ast.parse((package_root / "__init__.py").read_text())
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    raise ValueError(f'{package_root / "__init__.py"}: no `__version__ = "..."` assignment')


def code_version(script: str | Path, package_root: str | Path) -> str:
    """Package version + a short sha256 over (path relative to the package, bytes) of every
    package module `script` runs."""
    package_root = Path(package_root).resolve()
    digest = hashlib.sha256()
    for file in closure(script, package_root):
        digest.update(file.relative_to(package_root).as_posix().encode())
        digest.update(file.read_bytes())
    return f"{version(package_root)}+{digest.hexdigest()[:12]}"


def import_cycles(package_root: str | Path) -> list[list[str]]:
    """Cycles of the package's module import graph (each as a list of relative paths).

    Parent-package __init__ edges are left out: `a/__init__.py` importing `a/b.py`, which
    runs `a/__init__.py` first, is how packages work, not a cycle."""
    root = Path(package_root).resolve()
    listing = package_files(root)
    files = sorted(listing)
    graph: dict[Path, set[Path]] = {}
    for file in files:
        parents = {p / "__init__.py" for p in file.parents if p.is_relative_to(root)}
        graph[file] = imports(root, file, listing) - parents - {file}
    cycles: list[list[str]] = []
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []

    def strongly_connected(v: Path) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongly_connected(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w.relative_to(root).as_posix())
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for file in files:
        if file not in index:
            strongly_connected(file)
    return cycles
