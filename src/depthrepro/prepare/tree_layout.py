"""Shared steps of laying out a companion dataset tree from unpacked downloads.

A tree is made of links into the unpacked archives (never copies of the large data), small files written
atomically, and a ``manifest.json`` written last: its presence marks the tree complete. The manifest
records the ``inputs`` it was built from, so a rerun with the same inputs returns at once, and a rerun
after an interrupted build redoes the (idempotent) linking and writes the manifest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthrepro.io.atomic import atomic_write_text

MANIFEST = "manifest.json"
SHOWN_PROBLEMS = 10
"""Problems quoted in a layout error; the rest are counted."""


class LayoutError(ValueError):
    """The unpacked downloads do not hold what a tree needs; the message names each file and what is wrong."""


def raise_problems(problems: list[str], what: str) -> None:
    """Raise one ``LayoutError`` listing the first problems (each naming its file) and counting the rest."""
    if not problems:
        return
    shown = "\n  ".join(problems[:SHOWN_PROBLEMS])
    more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    raise LayoutError(f"{what}: {len(problems)} problem(s)\n  {shown}{more}")


def numbered_files(folder: Path, suffix: str) -> dict[int, Path]:
    """``{index: path}`` of the files ``<digits><suffix>`` in ``folder`` (empty when it does not exist).

    Two names of one index (``7.png`` and ``0007.png``) raise ``LayoutError``; other names are ignored.
    """
    folder = Path(folder)
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    for entry in os.scandir(folder):
        stem, _, ext = entry.name.rpartition(".")
        if f".{ext}" != suffix or not stem.isdigit():
            continue
        index = int(stem)
        if index in found:
            raise LayoutError(f"{folder}: {found[index].name} and {entry.name} both name frame {index}")
        found[index] = folder / entry.name
    return found


def count_lines(path: Path) -> int:
    """Non-blank lines of a text file."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _relative_target(src: Path, dst: Path) -> str:
    return os.path.relpath(os.path.abspath(src), os.path.abspath(dst.parent))


def _replace_with_link(dst: Path, make: Callable[[Path], None]) -> None:
    """Create a link at a temporary sibling with ``make(tmp)``, then rename it over ``dst``."""
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    make(tmp)
    os.replace(tmp, dst)


def symlink(src: Path, dst: Path) -> bool:
    """Make ``dst`` a relative symbolic link to ``src`` (file or folder); returns whether anything changed.

    Nothing is done when ``dst`` is ``src`` itself (a tree laid out in place) or already links to it; a link
    elsewhere is replaced; a real file or folder at ``dst`` raises ``LayoutError`` (it is never overwritten).
    """
    src, dst = Path(src), Path(dst)
    if os.path.abspath(src) == os.path.abspath(dst):
        return False
    target = _relative_target(src, dst)
    if dst.is_symlink():
        if os.readlink(dst) == target:
            return False
    elif dst.exists():
        raise LayoutError(f"{dst}: exists and is not a link (expected a link to {src})")
    dst.parent.mkdir(parents=True, exist_ok=True)
    _replace_with_link(dst, lambda tmp: os.symlink(target, tmp))
    return True


def hard_link(src: Path, dst: Path) -> bool:
    """Make ``dst`` a hard link of the file ``src`` (a relative symbolic link where the file system refuses,
    e.g. across devices); returns whether anything changed. ``dst`` already the same file is kept."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and os.path.samefile(src, dst):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        _replace_with_link(dst, lambda tmp: os.link(src, tmp))
    except OSError:
        _replace_with_link(dst, lambda tmp: os.symlink(_relative_target(src, dst), tmp))
    return True


def completed_manifest(out: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The tree's manifest when it exists and was built from ``inputs``; None otherwise."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    return manifest if manifest.get("inputs") == inputs else None


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically (sorted keys, as the synthetic trees' manifests)."""
    atomic_write_text(Path(out) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
