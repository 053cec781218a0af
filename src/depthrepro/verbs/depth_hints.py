"""`depthrepro prepare depth-hints`: depth-hints' SGBM hints for every stereo pair of a split, as EPCDepth reads them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.io.atomic import atomic_write_json
from depthrepro.prepare.depth_hints import compute_hints_for_split


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, required=True, help="KITTI-raw-format tree holding image_02/03")
    p.add_argument("--split-file", type=Path, required=True, help="'<folder> <frame> l|r' lines")
    p.add_argument("--out", type=Path, required=True, help="root of the hint tree (<folder>/image_0x/*.npy)")
    p.add_argument("--workers", type=int, default=1, help="processes, one pair each at a time")
    p.add_argument("--height", type=int, default=320)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--image-ext", default="jpg")
    p.add_argument("--overwrite", action="store_true", help="recompute hints that already exist")


def run(args: argparse.Namespace) -> int:
    summary = compute_hints_for_split(args.root, args.split_file, args.out, height=args.height, width=args.width,
                                      workers=args.workers, image_ext=args.image_ext, overwrite=args.overwrite)
    summary.update(root=str(args.root), split_file=str(args.split_file))
    atomic_write_json(args.out / "manifest.json", summary)
    print(json.dumps(summary, indent=1))
    return 0
