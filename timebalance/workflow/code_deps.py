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
Parsing every module (`ast.parse`, ~0.3 s for the package) would still be paid by every new
process, so an `ImportCache` keeps what each source says across processes: keyed by the
sha256 of the file's bytes (never by its path or mtime) and dropped whole when this module's
own source changes, it cannot return the imports of another version of a file.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import uuid
from functools import lru_cache
from pathlib import Path

PACKAGE = "timebalance"


def module_file(
    package_root: Path, module: str, files: frozenset[Path] | None = None
) -> Path | None:
    """The source of a dotted module name of the package (None: not a module of it).
    `files`: the package's source files (`package_files`), looked up instead of the disk."""
    if files is not None:
        return _listed_module_file(package_root, module, files)
    return _module_file(package_root, module, Path.is_file)


@lru_cache(maxsize=8192)
def _listed_module_file(package_root: Path, module: str, files: frozenset[Path]) -> Path | None:
    """`module_file` against one listing (cached: the same modules are imported by many)."""
    return _module_file(package_root, module, files.__contains__)


def _module_file(package_root: Path, module: str, exists) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_root.joinpath(*parts[1:])
    if exists(base / "__init__.py"):
        return base / "__init__.py"
    if len(parts) > 1 and exists(base.with_suffix(".py")):
        return base.with_suffix(".py")
    return None


_LISTINGS: dict[Path, tuple[frozenset[str], frozenset[Path]]] = {}


def package_files(package_root: Path) -> frozenset[Path]:
    """Every .py file under the (resolved) package root: one listing, no stat per file. An
    unchanged listing is returned as the same object, so the caches keyed by it hit at once
    (and its paths are only built when it changed)."""
    found: set[str] = set()
    for folder, dirs, names in os.walk(package_root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.update(os.path.join(folder, n) for n in names if n.endswith(".py"))
    names = frozenset(found)
    previous = _LISTINGS.get(package_root)
    if previous is None or previous[0] != names:
        _LISTINGS[package_root] = (names, frozenset(map(Path, names)))
    return _LISTINGS[package_root][1]


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


class ImportCache:
    """The imports read from source files, kept in a JSON file across processes.

    An entry is keyed by the sha256 of a file's bytes, its module name and whether it is a
    package (all that `_parse_imports` reads), so an edited, moved or checked-out file is
    simply parsed again. The whole file is ignored when it was written by another version of
    this module (its sha256 is stored in it), when it cannot be read, and when it is not
    this format. Written atomically (a temporary file renamed over it); a failed write only
    costs the next process the parsing. Past `MAX_ENTRIES` (old versions of edited files
    pile up), only the entries this process used are written back.
    """

    MAX_ENTRIES = 1024

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._entries: dict[str, list[list]] | None = None
        self._used: set[str] = set()
        self._dirty = False

    @staticmethod
    def key(source: bytes, module: str, is_package: bool) -> str:
        return f"{hashlib.sha256(source).hexdigest()}:{module}:{int(is_package)}"

    def _load(self) -> dict[str, list[list]]:
        if self._entries is None:
            self._entries = {}
            with contextlib.suppress(OSError, ValueError):
                stored = json.loads(self.path.read_text())
                if (
                    isinstance(stored, dict)
                    and stored.get("parser") == _parser_version()
                    and isinstance(stored.get("entries"), dict)
                ):
                    self._entries = stored["entries"]
        return self._entries

    def get(self, key: str) -> frozenset[tuple[str, bool]] | None:
        found = self._load().get(key)
        if not isinstance(found, list):
            return None
        with contextlib.suppress(TypeError, ValueError):
            names = frozenset((str(name), bool(must)) for name, must in found)
            self._used.add(key)
            return names
        return None

    def put(self, key: str, names: frozenset[tuple[str, bool]]) -> None:
        self._load()[key] = sorted([name, must] for name, must in names)
        self._used.add(key)
        self._dirty = True

    def save(self) -> None:
        """Write the entries when some were added since the last save."""
        if not self._dirty:
            return
        self._dirty = False
        entries = self._load()
        if len(entries) > self.MAX_ENTRIES:
            entries = {key: entries[key] for key in self._used}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}")
        with contextlib.suppress(OSError):
            payload = json.dumps({"parser": _parser_version(), "entries": entries})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(tmp, "x") as out:
                    out.write(payload)
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def _parser_version() -> str:
    """sha256 of this module's source: a cache written by other parsing code is not used."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@lru_cache(maxsize=1024)
def _imported_names(
    file: str, mtime_ns: int, module: str, is_package: bool, cache: ImportCache | None = None
) -> frozenset[tuple[str, bool]]:
    """(dotted name, must be a module) of each import in a source file: `import x.y` gives
    (x.y, True); `from x import y` gives (x, True) and (x.y, False), as y may be a submodule
    or a name defined in x. Cached per file version (the mtime is part of the key), and in
    `cache` across processes (by the file's bytes)."""
    source = Path(file).read_bytes()
    if cache is None:
        return _parse_imports(source, file, module, is_package)
    key = ImportCache.key(source, module, is_package)
    names = cache.get(key)
    if names is None:
        names = _parse_imports(source, file, module, is_package)
        cache.put(key, names)
    return names


def _parse_imports(
    source: bytes, file: str, module: str, is_package: bool
) -> frozenset[tuple[str, bool]]:
    tree = ast.parse(source, filename=file)
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


def imports(
    package_root: Path,
    file: Path,
    files: frozenset[Path] | None = None,
    cache: ImportCache | None = None,
) -> set[Path]:
    """The package's own source files that importing/running `file` executes directly: each
    imported module and the __init__.py of every package above it. `files`: the package's
    source files (`package_files` of the resolved root; None lists them); `cache`: where
    the import statements read are kept across processes (None: parse every file).

    Raises:
        ImportError: `file` imports a module of the package that does not exist.
    """
    package_root = package_root.resolve()
    file = file.resolve()
    if files is None:
        files = package_files(package_root)
    return set(_resolved_imports(package_root, file, file.stat().st_mtime_ns, files, cache))


@lru_cache(maxsize=4096)
def _resolved_imports(
    package_root: Path,
    file: Path,
    mtime_ns: int,
    files: frozenset[Path],
    cache: ImportCache | None = None,
) -> frozenset[Path]:
    """`imports` of one version of `file` against one listing of the package (cached: every
    rule's script imports the same few modules)."""
    inside = file.is_relative_to(package_root)
    module = _module_name(package_root, file) if inside else "__main__"
    is_package = inside and file.name == "__init__.py"
    names = _imported_names(str(file), mtime_ns, module, is_package, cache)
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


def closure(
    script: str | Path, package_root: str | Path, cache: ImportCache | None = None
) -> list[Path]:
    """Every package source file `script` runs, transitively, sorted. `cache`: as for
    `imports`."""
    package_root = Path(package_root).resolve()
    files = package_files(package_root)
    seen: set[Path] = set()
    todo = list(imports(package_root, Path(script), files, cache))
    while todo:
        file = todo.pop()  # resolved already: a file of the listing
        if file not in seen:
            seen.add(file)
            mtime_ns = file.stat().st_mtime_ns
            todo += _resolved_imports(package_root, file, mtime_ns, files, cache)
    return sorted(seen)


def version(package_root: Path) -> str:
    """`__version__` of the package, read from its __init__.py without importing it."""
    init = package_root / "__init__.py"
    found = _assigned_version(init.read_text())
    if found is None:
        raise ValueError(f'{init}: no `__version__ = "..."` assignment')
    return found


@lru_cache(maxsize=16)
def _assigned_version(source: str) -> str | None:
    """The `__version__ = "..."` of a module's source (cached by the text: read per rule)."""
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return None


def code_version(
    script: str | Path, package_root: str | Path, cache: ImportCache | None = None
) -> str:
    """Package version + a short sha256 over (path relative to the package, bytes) of every
    package module `script` runs. `cache`: where the import statements read are kept across
    processes (the version does not depend on it)."""
    package_root = Path(package_root).resolve()
    digest = hashlib.sha256()
    for file in closure(script, package_root, cache):
        digest.update(file.relative_to(package_root).as_posix().encode())
        digest.update(file.read_bytes())
    if cache is not None:
        cache.save()
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
