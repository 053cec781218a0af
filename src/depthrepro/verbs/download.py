"""`depthrepro download`: fetch, verify and optionally unpack the archives of `params/downloads.yaml`."""

from __future__ import annotations

import argparse
import json
import logging
import tarfile
import zipfile
from pathlib import Path

from depthrepro.io.atomic import atomic_write_json
from depthrepro.prepare.catalogue import (Archive, CatalogueError, Group, load_catalogue, select_drives,
                                          split_drives)
from depthrepro.prepare.download import DownloadError, download, partial_path
from depthrepro.prepare.unpack import merge_annotated_depth, unpack_archive

RAW_GROUP = "kitti_raw"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalogue", type=Path, default=Path("params/downloads.yaml"))
    p.add_argument("--root", type=Path, default=Path("."), help="folder the catalogue's dest paths start from")
    p.add_argument("--group", action="append", default=[], help="catalogue group (repeatable)")
    p.add_argument("--name", action="append", default=[], help="single archive by name (repeatable)")
    p.add_argument("--only-split-drives", type=Path, action="append", default=[], metavar="SPLITFILE",
                   help="of KITTI raw, only the drives (and their dates' calibration) a split file uses")
    p.add_argument("--unpack", action="store_true", help="unpack archives into their unpack_to folders")
    p.add_argument("--dry-run", action="store_true", help="list what would be fetched; no request is made")
    p.add_argument("--manifest", type=Path, help="write a JSON summary of the archives here")
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per socket operation")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    catalogue = load_catalogue(args.catalogue)
    archives = _select(catalogue, args)
    summary: dict[str, dict[str, object]] = {}
    for archive in archives:
        summary[archive.name] = _handle(archive, args)
        print(f"{summary[archive.name]['status']:<8} {archive.name}: {summary[archive.name]['detail']}")
    if args.unpack and not args.dry_run:
        for group in dict.fromkeys(a.group for a in archives):
            _merge(catalogue[group], args.root, summary)
    if args.manifest:
        atomic_write_json(args.manifest, summary)
    failed = {name: s for name, s in summary.items() if s["status"] in ("failed", "manual")}
    if failed:
        print(f"{len(failed)} of {len(summary)} archives not in place:")
        print(json.dumps(failed, indent=1))
    return 1 if failed else 0


def _select(catalogue: dict[str, Group], args: argparse.Namespace) -> list[Archive]:
    unknown = [g for g in args.group if g not in catalogue]
    if unknown:
        raise SystemExit(f"{args.catalogue}: no group {', '.join(unknown)} (known: {', '.join(catalogue)})")
    groups = args.group or ([RAW_GROUP] if args.only_split_drives else [])
    if not groups and not args.name and not args.dry_run:
        raise SystemExit(f"name a --group (known: {', '.join(catalogue)}) or a --name; "
                         f"--dry-run alone lists the whole catalogue")
    everything = [a for g in catalogue.values() for a in g.archives]
    by_name = {a.name: a for a in everything}
    missing = [n for n in args.name if n not in by_name]
    if missing:
        raise SystemExit(f"{args.catalogue}: no archive named {', '.join(missing)}")
    chosen = [a for a in everything if a.group in groups or a.name in args.name]
    if not groups and not args.name:
        chosen = everything
    if args.only_split_drives:
        drives = set().union(*(split_drives(f) for f in args.only_split_drives))
        raw = tuple(a for a in chosen if a.group == RAW_GROUP)
        try:
            kept = set(select_drives(raw, drives))
        except CatalogueError as err:
            raise SystemExit(f"{args.catalogue}: {err}") from err
        chosen = [a for a in chosen if a.group != RAW_GROUP or a in kept]
    return chosen


def _handle(archive: Archive, args: argparse.Namespace) -> dict[str, object]:
    """Download (or, for a manual archive, verify) one archive and unpack it when asked."""
    dest = args.root / archive.dest
    if args.dry_run:
        state = "present" if dest.exists() else ("partial" if partial_path(dest).exists() else "missing")
        size = f", {archive.size} bytes" if archive.size else ""
        how = "manual" if archive.manual else "download"
        return {"status": "dry-run", "detail": f"{state} ({how}{size}) {archive.url} -> {archive.dest}"}
    if archive.manual and not dest.exists():
        return {"status": "manual", "detail": f"{archive.instructions} ({archive.url})"}
    try:
        download(archive.url, dest, sha256=archive.sha256, md5=archive.md5, size=archive.size,
                 retries=args.retries, timeout=args.timeout, progress=not args.no_progress)
    except DownloadError as err:
        return {"status": "failed", "detail": str(err)}
    if args.unpack and archive.unpack_to is not None:
        try:
            members = unpack_archive(dest, args.root / archive.unpack_to)
        except (ValueError, zipfile.BadZipFile, tarfile.TarError) as err:
            return {"status": "failed", "detail": f"{archive.dest}: cannot unpack: {err}"}
        return {"status": "ok", "detail": f"{archive.dest} unpacked into {archive.unpack_to} ({members} members)"}
    return {"status": "ok", "detail": str(archive.dest)}


def _merge(group: Group, root: Path, summary: dict[str, dict[str, object]]) -> None:
    """Merge an unpacked annotated-depth group into its raw tree (the group's ``merge_into``)."""
    if group.merge_into is None:
        return
    for archive in group.archives:
        if summary.get(archive.name, {}).get("status") != "ok" or archive.unpack_to is None:
            continue
        report = merge_annotated_depth(root / archive.unpack_to, root / group.merge_into)
        print(f"merged {archive.name} into {group.merge_into}: {len(report.placed)} drives, "
              f"{report.files_added} files added, {len(report.unplaced)} drives not placed")
        for drive, reason in sorted(report.unplaced.items()):
            print(f"  not placed {drive}: {reason}")
        summary[archive.name]["merge"] = {"placed": report.placed, "files_added": report.files_added,
                                          "unplaced": report.unplaced}
