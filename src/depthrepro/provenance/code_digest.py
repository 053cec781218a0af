"""Content digests of the project's own modules, following the import graph.

Snakemake's code trigger does not see imported modules, so each rule carries the digest of exactly the
modules its verb imports (transitively). Sources are normalised through the AST with docstrings removed,
so formatting, comments and docstring edits do not count as code changes.

Parsing is the slow part (about half a second for the whole package), and Snakemake builds its DAG, with
every rule's digest, on each call. `DigestCache` keeps the parse results and digests in a file between
calls, keyed by the files' contents, so an unchanged tree is hashed instead of parsed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from depthrepro.io.atomic import atomic_write_text

PACKAGE = "depthrepro"
# What a cached digest was computed with: the normalisation below (this file) and `ast.dump`'s format,
# which follows the Python version.
_NORMALISATION = f"python{sys.version_info[0]}.{sys.version_info[1]}:" + hashlib.sha256(
    Path(__file__).read_bytes()).hexdigest()


def _module_path(src_root: Path, module: str) -> Path | None:
    """File of `module` under `src_root` (a module file or a package `__init__.py`), or None."""
    base = os.path.join(src_root, *module.split("."))  # os.path: called for every import of every DAG build
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _parse(path: Path) -> tuple[str, frozenset[str]]:
    """Normalised source text and the project modules `path` imports."""
    return _parse_source(path.read_text(encoding="utf-8"), path)


@lru_cache(maxsize=None)
def _parse_source(source: str, path: Path) -> tuple[str, frozenset[str]]:
    """One walk over the tree: docstrings removed, project imports collected."""
    tree = ast.parse(source, filename=str(path))
    package_parts = _package_of(path)
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body and _is_docstring(node.body[0]):
                node.body = node.body[1:] or [ast.Pass()]
        elif isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package_parts[: len(package_parts) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            imports.add(base)
            imports.update(f"{base}.{alias.name}" for alias in node.names)
    return ast.dump(tree, include_attributes=False), frozenset(imports)


def _package_of(path: Path) -> list[str]:
    """Dotted package parts of the package containing `path` (e.g. ['depthrepro', 'evaluate'])."""
    parts = list(path.with_suffix("").parts)
    start = len(parts) - 1 - parts[::-1].index(PACKAGE)
    package = parts[start:]
    return package if path.name == "__init__.py" else package[:-1]


def _closure(src_root: Path, entry_modules: list[str],
             imports_of: Callable[[str, Path], Iterable[str]]) -> dict[str, Path]:
    """Modules reachable from `entry_modules` through `imports_of(name, path)`, with their parent packages."""
    seen: dict[str, Path] = {}
    stack = list(entry_modules)
    while stack:
        module = stack.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in seen:
                continue
            path = _module_path(src_root, name)
            if path is None:
                if i == len(parts) and module in entry_modules:
                    raise FileNotFoundError(f"module {module!r} not found under {src_root}")
                continue
            seen[name] = path
            stack.extend(imports_of(name, path))
    return seen


def module_closure(src_root: Path, entry_modules: list[str]) -> dict[str, Path]:
    """All project modules reachable from `entry_modules`, with their parent packages."""
    return _closure(src_root, entry_modules, lambda _name, path: _parse(path)[1])


def _digest(sources: dict[str, tuple[str, Path]]) -> str:
    """sha256 (hex) over the module names and normalised sources, in name order."""
    h = hashlib.sha256()
    for name, (source, path) in sorted(sources.items()):
        h.update(name.encode())
        h.update(_parse_source(source, path)[0].encode())
    return h.hexdigest()


def code_digest(src_root: Path, entry_modules: list[str], length: int = 16, cache: DigestCache | None = None) -> str:
    """Digest of the normalised sources of the import closure of `entry_modules` (through `cache` if given)."""
    if cache is not None:
        return cache.digest(src_root, entry_modules)[:length]
    closure = module_closure(src_root, entry_modules)
    return _digest({name: (path.read_text(encoding="utf-8"), path) for name, path in closure.items()})[:length]


class DigestCache:
    """Each file's project imports and each closure's digest, kept in a JSON file and keyed by file contents.

    Every call still reads and hashes the files of the closure (milliseconds); only parsing is skipped. A
    closure's digest is stored under the names and content hashes of all its files, so a hit returns what
    `code_digest` computes without a cache, and any edit misses. The file also records the normalisation
    (this module's source, the Python version); when that differs, the cache starts empty. Entries beyond
    `max_entries` are dropped oldest first; concurrent writers replace the file whole (the last one wins).
    """

    def __init__(self, path: Path, max_entries: int = 4096) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self._imports: dict[str, list[str]] = {}
        self._digests: dict[str, str] = {}
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("normalisation") == _NORMALISATION:
            self._imports = dict(stored.get("imports", {}))
            self._digests = dict(stored.get("digests", {}))

    def digest(self, src_root: Path, entry_modules: list[str]) -> str:
        """Full sha256 (hex) digest of the closure of `entry_modules`, as `code_digest` computes it."""
        files: dict[str, tuple[str, bytes, Path]] = {}  # name → (content sha256, bytes, path)
        added = False

        def imports_of(name: str, path: Path) -> list[str]:
            nonlocal added
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            files[name] = (sha, data, path)
            key = f"{path.relative_to(src_root).as_posix()}@{sha}"  # relative imports depend on the path
            if key not in self._imports:
                self._imports[key] = sorted(_parse_source(data.decode("utf-8"), path)[1])
                added = True
            return self._imports[key]

        closure = _closure(src_root, entry_modules, imports_of)
        key = hashlib.sha256("".join(f"{name}@{files[name][0]}\n" for name in sorted(closure)).encode()).hexdigest()
        if key not in self._digests:
            self._digests[key] = _digest({name: (files[name][1].decode("utf-8"), files[name][2]) for name in closure})
            added = True
        if added:
            self._save()
        return self._digests[key]

    def _save(self) -> None:
        for entries in (self._imports, self._digests):
            for stale in list(entries)[: max(0, len(entries) - self.max_entries)]:
                del entries[stale]
        atomic_write_text(self.path, json.dumps({"normalisation": _NORMALISATION, "imports": self._imports,
                                                 "digests": self._digests}))


def library_versions(distributions: list[str]) -> str:
    """`name=version` pairs of installed distributions, without importing them."""
    pairs = []
    for dist in distributions:
        try:
            pairs.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pairs.append(f"{dist}=absent")
    return ",".join(pairs)
