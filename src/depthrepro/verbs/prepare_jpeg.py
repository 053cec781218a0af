"""`depthrepro prepare jpeg`: monodepth2's JPEG conversion of a KITTI-raw tree."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.io.atomic import atomic_write_json
from depthrepro.prepare.jpeg import JpegSettings, convert_tree


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw-root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="root of the JPEG tree (same layout)")
    p.add_argument("--quality", type=int, default=92)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--remove-png", action="store_true", help="delete the PNGs after conversion")


def run(args: argparse.Namespace) -> int:
    summary = convert_tree(args.raw_root, args.out, JpegSettings(quality=args.quality), workers=args.workers,
                           keep_png=not args.remove_png)
    summary["raw_root"] = str(args.raw_root)
    atomic_write_json(args.out / "manifest.json", summary)
    print(json.dumps(summary, indent=1))
    return 0
