"""`depthrepro import-predictions`: disparities predicted elsewhere, as a predictions file `score` takes.

The seed repositories save an `(N, H, W)` array of the test split's disparities (monodepth2's
`--save_pred_disps`, EPCDepth's `disparities.npy`, ...), scaled as `disp_to_depth` leaves them. This verb
checks the array against the split file (one map per line, finite, positive) and writes an `.npz` with the
fields `depthrepro predict` writes: the split lines, the stereo modality and training baseline that decide
the protocol's scaling, and the source file's hash in place of a checkpoint's. Disparities that were
already flip post-processed are marked so, and `score` does not blend them again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from depthrepro.geometry.stereo import STANDARD_STEREO_BASELINE
from depthrepro.io.file_hash import file_sha256

EXTERNAL_STAGE = "external"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--disparities", type=Path, required=True, help=".npy (N, H, W), or .npz with --key")
    p.add_argument("--key", help="array name inside an .npz (default: its only array)")
    p.add_argument("--split-file", type=Path, required=True, help="the test list the maps follow, in order")
    p.add_argument("--method", required=True, help="label of the model that made them (shown in tables)")
    p.add_argument("--trained-with-stereo", action="store_true",
                   help="stereo-trained model: fixed stereo scaling instead of the monocular rule")
    p.add_argument("--stereo-training-baseline", type=float, default=STANDARD_STEREO_BASELINE,
                   help=f"the model's training stereo baseline (default {STANDARD_STEREO_BASELINE})")
    p.add_argument("--post-processed", action="store_true",
                   help="the maps are already flip post-processed (EPCDepth's released disparities are)")
    p.add_argument("--out", type=Path, required=True)


def read_disparities(path: Path, key: str | None) -> np.ndarray:
    """The `(N, H, W)` float32 array of a `.npy`, or of one array of an `.npz`; errors name the file."""
    if not path.is_file():
        raise SystemExit(f"{path}: disparities file not found")
    if path.suffix == ".npz":
        with np.load(path) as archive:
            names = list(archive.files)
            if key is None and len(names) != 1:
                raise SystemExit(f"{path}: holds {names}; name the disparities with --key")
            name = key or names[0]
            if name not in names:
                raise SystemExit(f"{path}: no array {name!r}; it holds {names}")
            disp = archive[name]
    else:
        disp = np.load(path, allow_pickle=False)
    if disp.ndim == 4 and disp.shape[1] == 1:
        disp = disp[:, 0]
    if disp.ndim != 3:
        raise SystemExit(f"{path}: expected disparities of shape (N, H, W), got {disp.shape}")
    if not np.isfinite(disp).all() or (disp <= 0).any():
        raise SystemExit(f"{path}: disparities must be finite and positive")
    return disp.astype(np.float32)


def run(args: argparse.Namespace) -> int:
    disp = read_disparities(args.disparities, args.key)
    lines = [line for line in args.split_file.read_text().splitlines() if line.strip()]
    if len(lines) != len(disp):
        raise SystemExit(f"{args.disparities}: {len(disp)} disparity maps for {len(lines)} lines of {args.split_file}")
    if not args.stereo_training_baseline > 0:
        raise SystemExit(f"--stereo-training-baseline must be positive, got {args.stereo_training_baseline}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez_compressed(
        tmp, disp=disp, entries=np.array(lines), test_frames=np.array(["0"]), method=np.array(args.method),
        trained_with_stereo=np.array(args.trained_with_stereo),
        stereo_training_baseline=np.array(args.stereo_training_baseline),
        post_processed=np.array(args.post_processed),
        checkpoint_sha256=np.array(file_sha256(args.disparities)), checkpoint_stage=np.array(EXTERNAL_STAGE),
        checkpoint_path=np.array(str(args.disparities)))
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(disp)} disparity maps at {disp.shape[1]}x{disp.shape[2]} from {args.disparities}")
    return 0
