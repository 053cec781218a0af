"""`depthrepro synth`: render the synthetic world (KITTI raw, KITTI odometry, NYUv2 and EuRoC formats)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.synth.world import render_world


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="default", help="world size preset (tiny, default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="world root: <out>/{kitti_raw,kitti_odometry,nyuv2,euroc}")
    p.add_argument("--workers", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    summary = render_world(args.out, preset=args.preset, seed=args.seed, workers=args.workers)
    print(json.dumps(summary, indent=1, default=str))
    return 0
