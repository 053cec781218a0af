"""`depthrepro export-gt`: ground truth of a test split, as monodepth2's export_gt_depth (KITTI Eigen),
plus the KITTI odometry (MonoRec split) and NYUv2 test sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from depthrepro.prepare.gt_export import GT_KINDS, export_gt_depths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw-root", "--root", dest="raw_root", type=Path, required=True,
                   help="dataset root: KITTI raw (eigen, eigen_benchmark), KITTI odometry (odometry) or NYUv2 (nyu)")
    p.add_argument("--split-file", type=Path, required=True)
    p.add_argument("--kind", required=True, choices=list(GT_KINDS))
    p.add_argument("--out", type=Path, required=True)


def run(args: argparse.Namespace) -> int:
    n = export_gt_depths(args.raw_root, args.split_file, args.out, args.kind)
    print(f"{args.out}: {n} ground-truth maps ({args.kind})")
    return 0
