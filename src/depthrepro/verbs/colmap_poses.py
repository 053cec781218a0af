"""`depthrepro prepare colmap-poses`: GasMono's coarse relative poses from COLMAP for the NYUv2 training scenes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.prepare.colmap_poses import ColmapSettings, colmap_poses

_DEFAULTS = ColmapSettings()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, required=True, help="NYUv2 root holding Training/<scene>/*.jpg + cam.txt")
    p.add_argument("--split-dir", type=Path, required=True,
                   help="folder <splits>/<split> with train_files.txt and val_files.txt")
    p.add_argument("--out", type=Path, required=True,
                   help="output root: <scene>/<frame:04d>.npy, splits/<split>/{train,val}_files.txt, manifest.json")
    p.add_argument("--threads", type=int, default=1, help="scenes reconstructed in parallel (one process each)")
    p.add_argument("--image-ext", default="jpg")
    p.add_argument("--max-num-features", type=int, default=_DEFAULTS.max_num_features)
    p.add_argument("--sequential-overlap", type=int, default=_DEFAULTS.sequential_overlap)
    p.add_argument("--init-min-tri-angle", type=float, default=_DEFAULTS.init_min_tri_angle)
    p.add_argument("--min-model-size", type=int, default=_DEFAULTS.min_model_size)
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    p.add_argument("--colmap-threads", type=int, default=_DEFAULTS.colmap_threads,
                   help="COLMAP threads per scene; more than 1 is faster but not reproducible")


def run(args: argparse.Namespace) -> int:
    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    settings = ColmapSettings(max_num_features=args.max_num_features, sequential_overlap=args.sequential_overlap,
                              init_min_tri_angle=args.init_min_tri_angle, min_model_size=args.min_model_size,
                              seed=args.seed, colmap_threads=args.colmap_threads)
    manifest = colmap_poses(args.root, args.split_dir, args.out, settings, workers=args.threads,
                            image_ext=args.image_ext)
    print(json.dumps({"version": manifest["version"], "splits": manifest["splits"],
                      "failed_scenes": manifest["failed_scenes"]}, indent=1))
    return 0
