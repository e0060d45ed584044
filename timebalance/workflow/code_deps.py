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
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "timebalance"


def module_file(package_root: Path, module: str) -> Path | None:
    """The source of a dotted module name of the package (None: not a module of it)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_root.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file() and len(parts) > 1:
        return base.with_suffix(".py")
    return None


def _module_name(package_root: Path, file: Path) -> str:
    rel = file.relative_to(package_root).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`: a block Python never runs."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _executed_nodes(tree: ast.AST):
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` blocks (imports for type
    annotations only: they neither run nor change what the module computes)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


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


def imports(package_root: Path, file: Path) -> set[Path]:
    """The package's own source files that importing/running `file` executes directly: each
    imported module and the __init__.py of every package above it.

    Raises:
        ImportError: `file` imports a module of the package that does not exist.
    """
    package_root = package_root.resolve()
    file = file.resolve()
    inside = file.is_relative_to(package_root)
    module = _module_name(package_root, file) if inside else "__main__"
    names = _imported_names(
        str(file), file.stat().st_mtime_ns, module, inside and file.name == "__init__.py"
    )
    found: set[Path] = set()
    for name, must_be_module in names:
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        for k in range(1, len(parts) + 1):
            source = module_file(package_root, ".".join(parts[:k]))
            if source is not None:
                found.add(source)
            elif must_be_module or k < len(parts):
                raise ImportError(
                    f"{file}: imports {name}, but {package_root} has no module "
                    f"{'.'.join(parts[:k])}; fix the import or restore the module"
                )
    return found


def closure(script: str | Path, package_root: str | Path) -> list[Path]:
    """Every package source file `script` runs, transitively, sorted."""
    package_root = Path(package_root).resolve()
    seen: set[Path] = set()
    todo = list(imports(package_root, Path(script)))
    while todo:
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            todo += imports(package_root, file) - seen
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
    files = sorted(root.rglob("*.py"))
    graph: dict[Path, set[Path]] = {}
    for file in files:
        parents = {p / "__init__.py" for p in file.parents if p.is_relative_to(root)}
        graph[file] = imports(root, file) - parents - {file}
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
