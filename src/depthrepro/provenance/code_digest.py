"""Content digests of the project's own modules, following the import graph.

Snakemake's code trigger does not see imported modules, so each rule carries the digest of exactly the
modules its verb imports (transitively). Sources are normalised through the AST with docstrings removed,
so formatting, comments and docstring edits do not count as code changes.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGE = "depthrepro"


def _module_path(src_root: Path, module: str) -> Path | None:
    """File of `module` under `src_root` (a module file or a package `__init__.py`), or None."""
    base = src_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _parse(path: Path) -> tuple[str, frozenset[str]]:
    """Normalised source text and the project modules `path` imports."""
    return _parse_source(path.read_text(encoding="utf-8"), path)


@lru_cache(maxsize=None)
def _parse_source(source: str, path: Path) -> tuple[str, frozenset[str]]:
    tree = ast.parse(source, filename=str(path))
    package_parts = _package_of(path)
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
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
    return ast.dump(_strip_docstrings(tree), include_attributes=False), frozenset(imports)


def _package_of(path: Path) -> list[str]:
    """Dotted package parts of the package containing `path` (e.g. ['depthrepro', 'evaluate'])."""
    parts = list(path.with_suffix("").parts)
    start = len(parts) - 1 - parts[::-1].index(PACKAGE)
    package = parts[start:]
    return package if path.name == "__init__.py" else package[:-1]


def module_closure(src_root: Path, entry_modules: list[str]) -> dict[str, Path]:
    """All project modules reachable from `entry_modules`, with their parent packages."""
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
            stack.extend(_parse(path)[1])
    return seen


def code_digest(src_root: Path, entry_modules: list[str], length: int = 16) -> str:
    """Digest of the normalised sources of the import closure of `entry_modules`."""
    h = hashlib.sha256()
    for name, path in sorted(module_closure(src_root, entry_modules).items()):
        h.update(name.encode())
        h.update(_parse(path)[0].encode())
    return h.hexdigest()[:length]


def library_versions(distributions: list[str]) -> str:
    """`name=version` pairs of installed distributions, without importing them."""
    pairs = []
    for dist in distributions:
        try:
            pairs.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pairs.append(f"{dist}=absent")
    return ",".join(pairs)
