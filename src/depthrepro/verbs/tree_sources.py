"""Where the companion-tree steps find the unpacked downloads: the catalogue's ``dest`` and ``unpack_to`` paths."""

from __future__ import annotations

from pathlib import Path

from depthrepro.prepare.catalogue import Archive, load_catalogue


def catalogue_archive(catalogue: Path, name: str) -> Archive:
    """The archive ``name`` of the catalogue file, with a clear error when it is not listed."""
    for group in load_catalogue(catalogue).values():
        for archive in group.archives:
            if archive.name == name:
                return archive
    raise SystemExit(f"{catalogue}: no archive named {name!r}")


def unpacked(catalogue: Path, name: str) -> Path:
    """The folder archive ``name`` unpacks into."""
    archive = catalogue_archive(catalogue, name)
    if archive.unpack_to is None:
        raise SystemExit(f"{catalogue}: archive {name!r} has no unpack_to folder")
    return archive.unpack_to


def downloaded(catalogue: Path, name: str) -> Path:
    """The file archive ``name`` is saved as."""
    return catalogue_archive(catalogue, name).dest


def require_sources(sources: dict[str, tuple[Path, str]]) -> None:
    """Stop with one message naming every missing input (``label -> (path, catalogue archive)``) and how to get it."""
    missing = [f"{label} {path} (archive {name}: `depthrepro download --name {name} --unpack`)"
               for label, (path, name) in sources.items() if not Path(path).exists()]
    if missing:
        raise SystemExit("missing input(s) of the tree:\n  " + "\n  ".join(missing))
