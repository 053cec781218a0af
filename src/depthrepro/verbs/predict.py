"""`depthrepro predict`: disparities of a test split from a checkpoint, as monodepth2 saves them.

Writes an `.npz` with `disp` (N, H, W) — the scaled disparities of `disp_to_depth`, or 1/depth for methods
that predict inverse depth directly — and, for single-frame methods, `disp_flipped` (predictions on the
mirrored images, mirrored back) for flip post-processing, plus the split lines and the checkpoint's identity.
Multi-frame methods (those with `test_frames`) get their lookup frames and intrinsics, and no flipped
prediction (their official evaluations have none). The test samples come from the method's data format,
or, with `--test-input <split>`, from another format as `test_inputs.<split>` of the protocol file says
(cross-dataset prediction, `depthrepro.data.cross_dataset`: input window and size, test-time depth range,
re-sampling onto the GT's frame); that definition is stored in the file as `test_input`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
import yaml

from depthrepro.data.cross_dataset import CrossDatasetTest, load_test_input
from depthrepro.data.formats import test_dataset, test_image_paths
from depthrepro.geometry.camera import disp_to_depth
from depthrepro.io.file_hash import file_sha256
from depthrepro.methods.checkpoint_file import load_trained
from depthrepro.methods.config import stereo_training_baseline


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True, help="image tree in the method's data format")
    p.add_argument("--split-file", type=Path, required=True)
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml (for the intrinsics)")
    p.add_argument("--datasets-file", type=Path, default=Path("params/datasets.yaml"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--test-input", metavar="SPLIT",
                   help="test split of another data format: predict it as test_inputs.SPLIT of --protocols-file says")
    p.add_argument("--protocols-file", type=Path, default=Path("params/protocols.yaml"))


def _inverse_depth(method: torch.nn.Module, x: torch.Tensor | dict,
                   depth_range: tuple[float, float] | None = None) -> np.ndarray:
    """(B, H, W) float32: the method's own inverse depth, or `disp_to_depth` of its sigmoid disparity
    over `depth_range` (default: the model's min and max depth)."""
    if hasattr(method, "predict_inverse_depth"):
        if depth_range is not None:
            raise SystemExit(f"a test-time depth range {list(depth_range)} needs a sigmoid disparity; "
                             f"{type(method).__name__} predicts inverse depth directly")
        inv = method.predict_inverse_depth(x)
    else:
        low, high = depth_range or (method.config.min_depth, method.config.max_depth)
        inv = disp_to_depth(method.predict_disparity(x), low, high)[0]
    return inv[:, 0].cpu().numpy()


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    ckpt, method = load_trained(args.checkpoint)
    cfg = ckpt["model_cfg"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    method.to(device).eval()

    lines = [line for line in args.split_file.read_text().splitlines() if line.strip()]
    intrinsics = yaml.safe_load(args.datasets_file.read_text())[args.dataset].get("intrinsics")
    frames = list(getattr(method, "test_frames", [0]))
    where = f"{args.checkpoint} data"
    cross = (CrossDatasetTest(load_test_input(args.protocols_file, args.test_input), args.images, args.split_file,
                              (cfg["height"], cfg["width"]), frames, intrinsics, where) if args.test_input else None)
    if cross:
        samples, image_paths, depth_range = cross.samples, cross.image_paths, cross.spec.depth_range
    else:
        samples = test_dataset(ckpt["data"], args.images, args.split_file, cfg["height"], cfg["width"], frames,
                               intrinsics, where)
        image_paths, depth_range = test_image_paths(ckpt["data"], args.images, args.split_file, where), None
    loader = torch.utils.data.DataLoader(samples, batch_size=args.batch_size, shuffle=False)
    arrays: dict[str, list[np.ndarray]] = {"disp": [], "disp_flipped": []}
    done = 0
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            if frames == [0]:
                color = batch[("color", 0, 0)]
                both = _inverse_depth(method, torch.cat([color, color.flip(-1)]), depth_range)
                predicted = {"disp": both[: len(color)], "disp_flipped": both[len(color):, :, ::-1]}
            else:
                predicted = {"disp": _inverse_depth(method, batch, depth_range)}
            for key, value in predicted.items():
                arrays[key].append(cross.gt_frame(value, done) if cross else value)
            done += len(predicted["disp"])
    outputs = {k: np.concatenate(v).astype(np.float32) for k, v in arrays.items() if v}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez_compressed(
        tmp, **outputs, test_frames=np.array([str(f) for f in frames]),
        entries=np.array(lines), image_paths=np.array([str(p) for p in image_paths]),
        test_input=np.array(json.dumps(cross.spec.to_dict()) if cross else ""),
        method=np.array(ckpt.get("params_name", ckpt["method"])),  # the params file: what tables and paths name
        trained_with_stereo=np.array(ckpt["trained_with_stereo"]),
        stereo_training_baseline=np.array(stereo_training_baseline(method.config)),
        checkpoint_sha256=np.array(file_sha256(args.checkpoint)), checkpoint_stage=np.array(ckpt["stage"]),
        release=np.array(ckpt.get("release", "")),
        checkpoint_path=np.array(str(args.checkpoint)))
    os.replace(tmp, args.out)
    height, width = outputs["disp"].shape[1:]
    print(f"{args.out}: {len(lines)} disparity maps at {height}x{width}"
          + (f" (test input {args.test_input})" if cross else ""))
    return 0
