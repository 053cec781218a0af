"""`depthrepro prepare gt`: ground truth of a test split, as monodepth2's export_gt_depth (KITTI Eigen),
plus the KITTI odometry (MonoRec split) and NYUv2 test sets (SC-Depth's PNGs, P2Net's h5 files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from depthrepro.prepare.gt_export import GT_KINDS, export_gt_depths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw-root", "--root", dest="raw_root", type=Path, required=True,
                   help="dataset root: KITTI raw (eigen, eigen_benchmark), KITTI odometry (odometry) or NYUv2 "
                        "(nyu, nyu_h5)")
    p.add_argument("--split-file", type=Path, required=True)
    p.add_argument("--kind", required=True, choices=list(GT_KINDS))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=1, help="processes reading the maps")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    n = export_gt_depths(args.raw_root, args.split_file, args.out, args.kind, workers=args.workers,
                         progress=not args.no_progress)
    print(f"{args.out}: {n} ground-truth maps ({args.kind})")
    return 0
