"""`depthrepro predict`: disparities of a test split from a checkpoint, as monodepth2 saves them.

Writes an `.npz` with `disp` (N, H, W) — the scaled disparities of `disp_to_depth` — and, for single-frame
methods, `disp_flipped` (predictions on the mirrored images, mirrored back) for flip post-processing, plus
the split entries and the checkpoint's identity. Multi-frame methods (those with `test_frames`) get their
lookup frames and intrinsics, and no flipped prediction (their official evaluations have none).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
import yaml

from depthrepro.data.kitti_raw import KittiTestSamples
from depthrepro.geometry.camera import disp_to_depth
from depthrepro.io.kitti import read_split_file
from depthrepro.methods.registry import build_method
from depthrepro.provenance.repo_state import file_sha256


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True, help="prepared (JPEG) KITTI-format root")
    p.add_argument("--split-file", type=Path, required=True)
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml (for the intrinsics)")
    p.add_argument("--datasets-file", type=Path, default=Path("params/datasets.yaml"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    cfg = ckpt["model_cfg"]
    method = build_method(ckpt["method"], cfg)
    method.load_checkpoint_state(ckpt["state"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    method.to(device).eval()

    entries = read_split_file(args.split_file)
    intrinsics = np.array(yaml.safe_load(args.datasets_file.read_text())[args.dataset]["intrinsics"])
    frames = list(getattr(method, "test_frames", [0]))
    samples = KittiTestSamples(args.images, entries, cfg["height"], cfg["width"], intrinsics, frames,
                               ckpt["image_ext"])
    loader = torch.utils.data.DataLoader(samples, batch_size=args.batch_size, shuffle=False)
    min_depth, max_depth = method.config.min_depth, method.config.max_depth
    arrays: dict[str, list[np.ndarray]] = {"disp": [], "disp_flipped": []}
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            if frames == [0]:
                color = batch[("color", 0, 0)]
                both = method.predict_disparity(torch.cat([color, color.flip(-1)]))
                scaled = disp_to_depth(both, min_depth, max_depth)[0][:, 0].cpu().numpy()
                arrays["disp"].append(scaled[: len(color)])
                arrays["disp_flipped"].append(scaled[len(color):, :, ::-1])
            else:
                disp = method.predict_disparity(batch)
                arrays["disp"].append(disp_to_depth(disp, min_depth, max_depth)[0][:, 0].cpu().numpy())
    outputs = {k: np.concatenate(v).astype(np.float32) for k, v in arrays.items() if v}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez_compressed(
        tmp, **outputs, test_frames=np.array([str(f) for f in frames]),
        entries=np.array([f"{e.folder} {e.frame} {e.side}" for e in entries]),
        method=np.array(ckpt["method"]), trained_with_stereo=np.array(ckpt["trained_with_stereo"]),
        checkpoint_sha256=np.array(file_sha256(args.checkpoint)), checkpoint_stage=np.array(ckpt["stage"]),
        checkpoint_path=np.array(str(args.checkpoint)))
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(entries)} disparity maps at {cfg['height']}x{cfg['width']}")
    return 0
