"""The archive catalogue (`params/downloads.yaml`): what to download, from where, and how to check it.

The file maps group names to ``{description, defaults, archives}``; ``defaults`` fill the keys an archive
leaves out. Every archive ends up with ``name``, ``url``, ``dest`` (under ``data/`` or ``resources/``),
``needed_by`` and ``source``; ``size``, ``sha256`` (full digest or a prefix of >= 8 hex digits) and
``md5`` where known, and a ``no_checksum`` reason where no hash is known. ``manual: true`` marks a link
that needs a browser (Google Drive, OneDrive pages); such an archive carries ``instructions``.
``unpack_to`` names the folder an archive unpacks into; a group's ``merge_into`` names the raw tree its
unpacked KITTI annotated depth is merged into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REQUIRED_KEYS = ("name", "url", "dest", "needed_by", "source")
OPTIONAL_KEYS = ("size", "sha256", "md5", "no_checksum", "manual", "instructions", "unpack_to")
DEST_ROOTS = ("data/", "resources/")
_HEX = re.compile(r"[0-9a-f]+")
_DRIVE = re.compile(r"(\d{4}_\d{2}_\d{2})_drive_\d{4}_sync")


@dataclass(frozen=True)
class Archive:
    """One downloadable file of the catalogue; paths are relative to the repository root."""

    name: str
    group: str
    url: str
    dest: Path
    needed_by: tuple[str, ...]
    source: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    no_checksum: str | None = None
    manual: bool = False
    instructions: str | None = None
    unpack_to: Path | None = None


@dataclass(frozen=True)
class Group:
    """A family of archives fetched together (``depthrepro download --group <name>``)."""

    name: str
    description: str
    archives: tuple[Archive, ...]
    merge_into: Path | None = None


class CatalogueError(ValueError):
    """The catalogue file breaks its contract; the message names the file, group and archive."""


def load_catalogue(path: Path) -> dict[str, Group]:
    """Read and validate the catalogue; raises ``CatalogueError`` naming what is wrong."""
    doc = yaml.safe_load(Path(path).read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), dict):
        raise CatalogueError(f"{path}: expected a top-level mapping with a 'groups' mapping")
    groups = {name: _group(path, name, body) for name, body in doc["groups"].items()}
    names = [a.name for g in groups.values() for a in g.archives]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CatalogueError(f"{path}: archive names used more than once: {', '.join(duplicates)}")
    return groups


def _group(path: Path, name: str, body: Any) -> Group:
    where = f"{path}: group {name!r}"
    if not isinstance(body, dict) or not isinstance(body.get("archives"), list) or not body["archives"]:
        raise CatalogueError(f"{where}: expected a mapping with a non-empty 'archives' list")
    unknown = set(body) - {"description", "defaults", "archives", "merge_into"}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    defaults = body.get("defaults") or {}
    archives = tuple(_archive(where, name, {**defaults, **entry}) for entry in body["archives"])
    merge_into = body.get("merge_into")
    return Group(name, str(body.get("description", "")), archives, Path(merge_into) if merge_into else None)


def _archive(where: str, group: str, entry: dict[str, Any]) -> Archive:
    label = f"{where}, archive {entry.get('name', '<unnamed>')!r}"
    missing = [k for k in REQUIRED_KEYS if entry.get(k) in (None, "", [])]
    if missing:
        raise CatalogueError(f"{label}: missing required keys {missing}")
    unknown = set(entry) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)
    if unknown:
        raise CatalogueError(f"{label}: unknown keys {sorted(unknown)}")
    for key in ("dest", "unpack_to"):
        if entry.get(key) and not str(entry[key]).startswith(DEST_ROOTS):
            raise CatalogueError(f"{label}: {key} {entry[key]!r} must lie under {' or '.join(DEST_ROOTS)}")
    url = urlsplit(str(entry["url"]))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise CatalogueError(f"{label}: url {entry['url']!r} is not an http(s) URL")
    sha256, md5 = entry.get("sha256"), entry.get("md5")
    if sha256 is not None and not (8 <= len(str(sha256)) <= 64 and _HEX.fullmatch(str(sha256))):
        raise CatalogueError(f"{label}: sha256 {sha256!r} is not 8 to 64 lowercase hex digits")
    if md5 is not None and not (len(str(md5)) == 32 and _HEX.fullmatch(str(md5))):
        raise CatalogueError(f"{label}: md5 {md5!r} is not 32 lowercase hex digits")
    if sha256 is None and md5 is None and not entry.get("no_checksum"):
        raise CatalogueError(f"{label}: no sha256 or md5; say why in 'no_checksum'")
    if entry.get("size") is not None and not (isinstance(entry["size"], int) and entry["size"] > 0):
        raise CatalogueError(f"{label}: size {entry['size']!r} is not a positive byte count")
    if entry.get("manual") and not entry.get("instructions"):
        raise CatalogueError(f"{label}: a manual archive needs 'instructions'")
    needed_by = entry["needed_by"]
    return Archive(
        name=str(entry["name"]), group=group, url=str(entry["url"]), dest=Path(entry["dest"]),
        needed_by=tuple(needed_by) if isinstance(needed_by, list) else (str(needed_by),),
        source=str(entry["source"]), size=entry.get("size"),
        sha256=str(sha256) if sha256 is not None else None, md5=str(md5) if md5 is not None else None,
        no_checksum=entry.get("no_checksum"), manual=bool(entry.get("manual", False)),
        instructions=entry.get("instructions"),
        unpack_to=Path(entry["unpack_to"]) if entry.get("unpack_to") else None,
    )


def split_drives(split_file: Path) -> set[str]:
    """Drive folder names (``2011_09_26_drive_0001_sync``) used by a monodepth2-format split file."""
    drives: set[str] = set()
    for number, line in enumerate(Path(split_file).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        drive = Path(line.split()[0]).name
        if not _DRIVE.fullmatch(drive):
            raise CatalogueError(f"{split_file}:{number}: {line.split()[0]!r} is not a KITTI raw drive "
                                 f"(<date>/<date>_drive_<id>_sync)")
        drives.add(drive)
    return drives


def select_drives(archives: tuple[Archive, ...], drives: set[str]) -> tuple[Archive, ...]:
    """The archives of ``drives`` plus the calibration archives of their dates; others are dropped.

    Raises ``CatalogueError`` when a drive has no archive in ``archives``.
    """
    names = {a.name for a in archives}
    missing = sorted(drives - names)
    if missing:
        raise CatalogueError(f"drives with no archive in the catalogue: {', '.join(missing)}")
    dates = {_DRIVE.fullmatch(d).group(1) for d in drives}  # type: ignore[union-attr]
    wanted = drives | {f"{date}_calib" for date in dates}
    return tuple(a for a in archives if a.name in wanted)
