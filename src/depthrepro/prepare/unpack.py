"""Unpack downloaded archives safely and resumably; merge KITTI's annotated depth into the raw tree.

An archive is checked member by member before anything is written (absolute paths, ``..`` components
and links leaving the archive are refused), extracted into a temporary folder beside the destination and
moved into place; a marker ``<dest>/.unpacked/<archive>.json`` then records it, so a rerun skips it even
after the archive itself was deleted to save space.

``merge_annotated_depth`` does by hand what monodepth2's ``eigen_benchmark`` export assumes done
(monodepth2 issue #258): KITTI's ``data_depth_annotated`` ships
``train|val/<drive>/proj_depth/groundtruth/image_0{2,3}/*.png``, the export reads
``<date>/<drive>/proj_depth/groundtruth/...`` inside the raw tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from depthrepro.io.atomic import atomic_write_json

MARKER_DIR = ".unpacked"
ANNOTATED_SPLITS = ("train", "val")
GROUNDTRUTH = Path("proj_depth") / "groundtruth"
_DRIVE = re.compile(r"(\d{4}_\d{2}_\d{2})_drive_\d{4}_sync")


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination (absolute path, ``..``, escaping link)."""


@dataclass
class MergeReport:
    """Outcome of ``merge_annotated_depth``: drives placed, files newly linked or copied, drives left out."""

    placed: list[str] = field(default_factory=list)
    files_added: int = 0
    unplaced: dict[str, str] = field(default_factory=dict)


def marker_path(archive: Path, dest_root: Path) -> Path:
    """The marker recording that ``archive`` was unpacked into ``dest_root``."""
    return Path(dest_root) / MARKER_DIR / f"{Path(archive).name}.json"


def unpack_archive(archive: Path, dest_root: Path) -> int:
    """Unpack a zip or tar(.gz/.bz2/.xz) archive into ``dest_root``; returns its member count.

    Already unpacked (marker present) → returns the recorded count without reading the archive.
    Raises ``UnsafeArchiveError`` before writing anything when a member is unsafe.
    """
    archive, dest_root = Path(archive), Path(dest_root)
    marker = marker_path(archive, dest_root)
    if marker.is_file():
        return int(json.loads(marker.read_text())["members"])
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found (and not yet unpacked into {dest_root})")
    dest_root.mkdir(parents=True, exist_ok=True)
    staging = dest_root / f".unpack-{archive.name}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        members = _extract(archive, staging)
        _move_into(staging, dest_root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    atomic_write_json(marker, {"archive": archive.name, "size": archive.stat().st_size, "members": members})
    return members


def _extract(archive: Path, staging: Path) -> int:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for name in names:
                _check_member(archive, name)
            staging.mkdir(parents=True)
            zf.extractall(staging)
        return len(names)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _check_tar_member(archive, member)
            staging.mkdir(parents=True)
            tf.extractall(staging, filter="data")
        return len(members)
    raise ValueError(f"{archive}: neither a zip nor a tar archive")


def _check_member(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"[A-Za-z]:", name) or ".." in path.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside the destination")


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    _check_member(archive, member.name)
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device or FIFO, not a file")
    if member.issym():
        target = PurePosixPath(member.name).parent / member.linkname
        if PurePosixPath(member.linkname).is_absolute() or ".." in PurePosixPath(os.path.normpath(target)).parts:
            raise UnsafeArchiveError(f"{archive}: link {member.name!r} -> {member.linkname!r} leaves the archive")
    if member.islnk():
        _check_member(archive, member.linkname)


def _move_into(src: Path, dst: Path) -> None:
    """Move the contents of ``src`` into ``dst``, merging folders that already exist there."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir():
            _move_into(entry, target)
        else:
            os.replace(entry, target)


def merge_annotated_depth(annotated_root: Path, raw_root: Path) -> MergeReport:
    """Place KITTI's annotated depth maps into the raw tree's drive folders.

    ``annotated_root`` holds ``train/`` and/or ``val/`` (the unpacked ``data_depth_annotated.zip``);
    each ``<split>/<drive>/proj_depth/groundtruth/image_0{2,3}/*.png`` goes to
    ``raw_root/<date>/<drive>/proj_depth/groundtruth/...``. Files are hard-linked where the filesystem
    allows it and copied otherwise, each under a temporary name then renamed; files already in place
    with the same size are kept, so the merge resumes. Drives whose raw folder is absent (not
    downloaded) or whose layout is not KITTI's are reported in ``unplaced`` with the reason.
    """
    annotated_root, raw_root = Path(annotated_root), Path(raw_root)
    splits = [annotated_root / s for s in ANNOTATED_SPLITS if (annotated_root / s).is_dir()]
    if not splits:
        raise FileNotFoundError(f"{annotated_root}: no 'train' or 'val' folder (unpacked data_depth_annotated "
                                f"expected)")
    report = MergeReport()
    for drive_dir in sorted(d for split in splits for d in split.iterdir() if d.is_dir()):
        drive = drive_dir.name
        match = _DRIVE.fullmatch(drive)
        source = drive_dir / GROUNDTRUTH
        if match is None:
            report.unplaced[drive] = "not a KITTI raw drive name (<date>_drive_<id>_sync)"
        elif not source.is_dir():
            report.unplaced[drive] = f"no {GROUNDTRUTH.as_posix()} folder in {drive_dir}"
        elif not (raw_root / match.group(1) / drive).is_dir():
            report.unplaced[drive] = f"raw drive folder {raw_root / match.group(1) / drive} is absent"
        else:
            report.files_added += _place_tree(source, raw_root / match.group(1) / drive / GROUNDTRUTH)
            report.placed.append(drive)
    return report


def _place_tree(src: Path, dst: Path) -> int:
    """Link or copy every file of ``src`` to the same relative path under ``dst``; returns files added."""
    added = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = dst / path.relative_to(src)
        if target.is_file() and target.stat().st_size == path.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
        os.replace(tmp, target)
        added += 1
    return added
