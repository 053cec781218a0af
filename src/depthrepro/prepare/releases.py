"""Official evaluations (`params/releases.yaml`): which released checkpoint fills an *Official weights* row,
and how the model that loads it is configured.

An entry names a catalogue archive (`params/downloads.yaml`), the params file whose method loads it, the
profile of that file whose resolution and model keys match the release, optional `model` overrides (e.g.
which output of a multi-output network is scored) and, for a zip whose contents hold several files, the
one `file` to read, and `load` (keyword arguments of the method's `load_checkpoint_state`, e.g. that the
pose networks a depth evaluation does not use may be absent). A release counts as downloaded when its unpacked folder (or, for a plain file, the
file itself) exists. Nothing here imports torch: the workflow reads it when it builds the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from depthrepro.prepare.catalogue import Archive, load_catalogue

ENTRY_KEYS = {"archive", "params", "profile"}
OPTIONAL_ENTRY_KEYS = {"model", "file", "load", "note"}


class ReleaseError(ValueError):
    """`params/releases.yaml` breaks its contract; the message names the file and entry."""


@dataclass(frozen=True)
class Release:
    """One official evaluation: the archive it reads and the model that loads it."""

    name: str
    archive: Archive
    params: str
    profile: str
    model: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    load: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def root(self) -> Path:
        """Where the release lies once downloaded: its unpacked folder, or the file itself."""
        return self.archive.unpack_to or self.archive.dest

    def downloaded(self, repo: Path = Path(".")) -> bool:
        path = repo / self.root
        return path.is_file() or (path.is_dir() and any(path.iterdir()))

    def download_hint(self) -> str:
        if self.archive.manual:
            return f"place it by hand: `depthrepro download --name {self.archive.name}` prints how"
        return f"`depthrepro download --name {self.archive.name}{' --unpack' if self.archive.unpack_to else ''}`"


def load_releases(path: Path, catalogue_path: Path) -> dict[str, Release]:
    """Every entry of `path`, checked against the catalogue and the params files next to it."""
    doc = yaml.safe_load(Path(path).read_text())
    if not isinstance(doc, dict) or not doc:
        raise ReleaseError(f"{path}: expected a mapping of official-evaluation names to entries")
    archives = {a.name: a for group in load_catalogue(catalogue_path).values() for a in group.archives}
    methods_dir = Path(path).parent / "methods"
    releases = {}
    for name, entry in doc.items():
        where = f"{path}: {name}"
        if not isinstance(entry, dict) or not ENTRY_KEYS <= set(entry) or set(entry) - ENTRY_KEYS - OPTIONAL_ENTRY_KEYS:
            raise ReleaseError(f"{where}: needs keys {sorted(ENTRY_KEYS)}, optional {sorted(OPTIONAL_ENTRY_KEYS)}; "
                               f"got {entry!r}")
        if entry["archive"] not in archives:
            raise ReleaseError(f"{where}: archive {entry['archive']!r} is not in {catalogue_path}")
        params_file = methods_dir / f"{entry['params']}.yaml"
        if not params_file.is_file():
            raise ReleaseError(f"{where}: no params file {params_file}")
        profiles = (yaml.safe_load(params_file.read_text()) or {}).get("profiles", {})
        if entry["profile"] not in profiles:
            raise ReleaseError(f"{where}: {params_file} has no profile {entry['profile']!r}")
        model, load = entry.get("model") or {}, entry.get("load") or {}
        if not isinstance(model, dict) or not isinstance(load, dict):
            raise ReleaseError(f"{where}: 'model' and 'load' must be mappings")
        releases[name] = Release(name, archives[entry["archive"]], str(entry["params"]), str(entry["profile"]),
                                 dict(model), entry.get("file"), dict(load),
                                 " ".join(str(entry.get("note", "")).split()))
    return releases
