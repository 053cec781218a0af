"""`depthrepro predict-poses`: relative camera motion over an odometry test sequence from a checkpoint.

Reads the test list `test_files_<SS>.txt` of monodepth2's `odom` split (`<seq> <frame> l|r`, consecutive
frames of one sequence) and, for every line k, runs the method's `predict_relative_pose` on frames
(k, k+1) of the odometry tree at the checkpoint's training size. Writes an `.npz` with `relative_poses`
(N-1, 4, 4) float64, the motions `T_{k+1<-k}` mapping camera-k points into camera k+1
(`depthrepro.evaluate.pose_ate`'s convention), the `sequence` (two digits), the split lines and first-frame
images, and the checkpoint's identity as `depthrepro predict` records it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
import yaml

from depthrepro.data.kitti_odometry import KittiOdometryTestSamples, frame_path
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.kitti_odometry import read_odom_split
from depthrepro.methods.checkpoint_file import load_trained

IMAGE_EXT = "png"
"""KITTI odometry ships PNG frames; the odometry tree is read as it is (no JPEG conversion)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True, help="KITTI odometry tree (sequences/<SS>/image_2 ...)")
    p.add_argument("--split-file", type=Path, required=True, help="test_files_<SS>.txt of the odom split")
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml (for the intrinsics)")
    p.add_argument("--datasets-file", type=Path, default=Path("params/datasets.yaml"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)


def sequence_of(split_file: Path) -> str:
    """The one sequence of a pose test list, checked to hold consecutive frames in order."""
    entries = read_odom_split(split_file)
    if not entries:
        raise SystemExit(f"{split_file}: no test lines")
    sequences = sorted({e.sequence for e in entries})
    if len(sequences) != 1:
        raise SystemExit(f"{split_file}: a pose test list holds one sequence, got {sequences}")
    first = entries[0].frame
    for number, entry in enumerate(entries):
        if entry.frame != first + number:
            raise SystemExit(f"{split_file}:{number + 1}: frame {entry.frame} breaks the run of consecutive "
                             f"frames from {first}; relative poses chain only over consecutive frames")
    return f"{sequences[0]:02d}"


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    sequence = sequence_of(args.split_file)
    ckpt, method = load_trained(args.checkpoint)
    cfg = ckpt["model_cfg"]
    if not hasattr(method, "predict_relative_pose"):
        raise SystemExit(f"{args.checkpoint}: method {ckpt['method']!r} predicts no relative poses")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    method.to(device).eval()

    entries = read_odom_split(args.split_file)
    datasets = yaml.safe_load(args.datasets_file.read_text())
    if args.dataset not in datasets:
        raise SystemExit(f"{args.datasets_file}: no dataset {args.dataset!r}")
    samples = KittiOdometryTestSamples(args.images, entries, cfg["height"], cfg["width"],
                                       np.asarray(datasets[args.dataset]["intrinsics"]), [0, 1], IMAGE_EXT)
    missing = samples.missing_frames()
    if missing:
        raise SystemExit(f"{args.split_file}: {len(missing)} frame(s) of its pairs are missing, e.g. {missing[0]}")
    loader = torch.utils.data.DataLoader(samples, batch_size=args.batch_size, shuffle=False)
    motions = []
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            T = method.predict_relative_pose(batch[("color", 0, 0)], batch[("color", 1, 0)], batch[("K", 0)])
            motions.append(T.double().cpu().numpy())
    relative = np.concatenate(motions)
    if relative.shape != (len(entries), 4, 4) or not np.isfinite(relative).all():
        raise SystemExit(f"{args.checkpoint}: expected {len(entries)} finite (4, 4) poses, got shape "
                         f"{relative.shape} (finite: {bool(np.isfinite(relative).all())})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez_compressed(
        tmp, relative_poses=relative, sequence=np.array(sequence),
        entries=np.array([line for line in args.split_file.read_text().splitlines() if line.strip()]),
        image_paths=np.array([str(frame_path(args.images, e, 0, IMAGE_EXT)) for e in entries]),
        image_size=np.array([cfg["height"], cfg["width"]]),
        method=np.array(ckpt["method"]), params_name=np.array(ckpt.get("params_name", ckpt["method"])),
        trained_with_stereo=np.array(ckpt["trained_with_stereo"]),
        checkpoint_sha256=np.array(file_sha256(args.checkpoint)), checkpoint_stage=np.array(ckpt["stage"]),
        checkpoint_path=np.array(str(args.checkpoint)))
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(relative)} relative poses of sequence {sequence} at {cfg['height']}x{cfg['width']}")
    return 0
