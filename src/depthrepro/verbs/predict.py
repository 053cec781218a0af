"""`depthrepro predict`: disparities of a test split from a checkpoint, as monodepth2 saves them.

Writes an `.npz` with `disp` (N, H, W) — the scaled disparities of `disp_to_depth` — and `disp_flipped`
(predictions on the mirrored images, mirrored back) for flip post-processing, plus the split entries and
the checkpoint's identity.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from depthrepro.data.kitti_raw import KittiTestImages
from depthrepro.geometry.camera import disp_to_depth
from depthrepro.io.kitti import read_split_file
from depthrepro.methods.registry import build_method
from depthrepro.provenance.repo_state import file_sha256


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True, help="prepared (JPEG) KITTI-format root")
    p.add_argument("--split-file", type=Path, required=True)
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
    images = KittiTestImages(args.images, entries, cfg["height"], cfg["width"], ckpt["image_ext"])
    loader = torch.utils.data.DataLoader(images, batch_size=args.batch_size, shuffle=False)
    disps, flipped = [], []
    with torch.no_grad():
        for color in loader:
            color = color.to(device)
            both = method.predict_disparity(torch.cat([color, color.flip(-1)]))
            scaled = disp_to_depth(both, cfg["min_depth"], cfg["max_depth"])[0][:, 0].cpu().numpy()
            disps.append(scaled[: len(color)])
            flipped.append(scaled[len(color):, :, ::-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez_compressed(
        tmp, disp=np.concatenate(disps).astype(np.float32), disp_flipped=np.concatenate(flipped).astype(np.float32),
        entries=np.array([f"{e.folder} {e.frame} {e.side}" for e in entries]),
        method=np.array(ckpt["method"]), trained_with_stereo=np.array(ckpt["trained_with_stereo"]),
        checkpoint_sha256=np.array(file_sha256(args.checkpoint)), checkpoint_stage=np.array(ckpt["stage"]),
        checkpoint_path=np.array(str(args.checkpoint)))
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(entries)} disparity maps at {cfg['height']}x{cfg['width']}")
    return 0
