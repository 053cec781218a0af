"""`depthrepro pose-ablation`: GasMono's refined poses and the raw COLMAP poses against the ground truth.

For every frame of a split (a target with its -1 and +1 sources) the trained checkpoint refines the
COLMAP coarse pose as in training; three pose sets are compared with the exact relative poses of the
synthetic world (`Training/<scene>/poses.txt`), per sequence (scene), after one least-squares scale
per sequence and pose set on the translations (`depthrepro.evaluate.relative_pose_errors`):

- `colmap`: the raw COLMAP relative poses (the coarse poses training reads);
- `aligned`: COLMAP rotation, translation `s · t_colmap + t_res` from the AlignNet;
- `refined`: `aligned` composed with the residual PoseNet pose, the motion the final warp applies.

Writes a JSON with the per-sequence and pooled errors, whether `refined` is closer to the ground truth
than `colmap`, and provenance (as `depthrepro score`).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthrepro.data.nyuv2 import NyuTrainDataset
from depthrepro.evaluate.relative_pose_errors import ERROR_NAMES, SequenceErrors, pooled_summary, sequence_errors
from depthrepro.io.atomic import atomic_write_json
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.kitti_odometry import read_poses
from depthrepro.io.nyuv2 import NyuSplitEntry, scene_poses_path
from depthrepro.methods.checkpoint_file import load_trained
from depthrepro.provenance.code_digest import code_digest
from depthrepro.provenance.repo_state import dvc_hash, git_state
from depthrepro.provenance.tracking import tracked_run

SOURCE_FRAMES = (-1, 1)
POSE_SETS: dict[str, str] = {
    "colmap": "raw COLMAP relative poses (the coarse poses training reads)",
    "aligned": "COLMAP rotation with the AlignNet's scale and residual translation",
    "refined": "aligned pose composed with the residual PoseNet pose (the motion of the final warp)",
}
"""Pose set name -> what it is; the method's `predict_refined_poses` keys are mapped in `_REFINED_KEYS`."""
_REFINED_KEYS = {"colmap": "coarse", "aligned": "aligned", "refined": "composed"}
ALIGNMENT = ("per sequence and pose set, translations multiplied by the least-squares scale "
             "s = sum(t_est . t_gt) / sum(|t_est|^2), so translation errors are in ground-truth metres; "
             "rotations and directions are scale-free")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="trained GasMono checkpoint (final.pt)")
    p.add_argument("--images", type=Path, required=True,
                   help="NYUv2 tree with Training/<scene>/*.jpg, cam.txt and the exact poses.txt")
    p.add_argument("--coarse-poses", type=Path, required=True,
                   help="coarse-pose tree of `depthrepro prepare colmap-poses`")
    p.add_argument("--split-file", type=Path, required=True, help="'<scene> <frame> l' lines to evaluate")
    p.add_argument("--train-record", type=Path, help="train.json of the checkpoint, for provenance")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--results-dir", type=Path, default=Path("results"))


def _ground_truth(images: Path, scenes: list[str]) -> dict[str, np.ndarray]:
    """Camera-to-room poses `(F, 4, 4)` per scene; their absence (real data) is an error naming the file."""
    poses = {}
    for scene in scenes:
        path = scene_poses_path(images, scene)
        if not path.is_file():
            raise SystemExit(f"{path}: no ground-truth poses (only the synthetic world has them); "
                             "the pose ablation needs them")
        poses[scene] = read_poses(path)
    return poses


def estimated_poses(method: torch.nn.Module, dataset: NyuTrainDataset, batch_size: int
                    ) -> dict[str, np.ndarray]:
    """`{pose set: (N, 2, 4, 4)}`: for each split entry, T_(f←0) for f = -1, +1."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    for batch in loader:
        refined = method.predict_refined_poses(batch)
        for name, key in _REFINED_KEYS.items():
            out[name].append(torch.stack([refined[f][key] for f in SOURCE_FRAMES], 1).double().numpy())
    return {name: np.concatenate(arrays) for name, arrays in out.items()}


def compare(estimates: dict[str, np.ndarray], entries: list[NyuSplitEntry], gt_poses: dict[str, np.ndarray]
            ) -> dict[str, Any]:
    """Per-sequence and pooled errors of every pose set, and the refined-vs-COLMAP comparison."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, entry in enumerate(entries):
        rows[entry.scene].append(i)
    sequences: dict[str, dict[str, Any]] = {}
    per_set: dict[str, list[SequenceErrors]] = defaultdict(list)
    for scene, index in sorted(rows.items()):
        P = gt_poses[scene]
        gt = np.stack([np.stack([np.linalg.inv(P[entries[i].frame + f]) @ P[entries[i].frame]
                                 for f in SOURCE_FRAMES]) for i in index]).reshape(-1, 4, 4)
        sequences[scene] = {}
        for name, poses in estimates.items():
            errors = sequence_errors(poses[index].reshape(-1, 4, 4), gt)
            per_set[name].append(errors)
            sequences[scene][name] = errors.summary()
    overall = {name: pooled_summary(errors) for name, errors in per_set.items()}
    metrics = {metric: {"colmap": overall["colmap"][metric]["mean"], "refined": overall["refined"][metric]["mean"],
                        "refined_lower": overall["refined"][metric]["mean"] < overall["colmap"][metric]["mean"]}
               for metric in ERROR_NAMES}
    return {"sequences": sequences, "overall": overall,
            "comparison": {"by_mean_error": metrics,
                           "refined_closer": all(m["refined_lower"] for m in metrics.values())}}


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if args.batch_size < 1:
        raise SystemExit(f"--batch-size must be at least 1, got {args.batch_size}")
    ckpt, method = load_trained(args.checkpoint)
    cfg = ckpt["model_cfg"]
    if not hasattr(method, "predict_refined_poses"):
        raise SystemExit(f"{args.checkpoint}: method {ckpt['method']!r} has no refined poses to compare")
    method.eval()
    dataset = NyuTrainDataset(args.images, args.split_file, args.coarse_poses, cfg["height"], cfg["width"],
                              is_train=False, augment=None, image_ext=ckpt["data"].get("image_ext", "jpg"))
    gt_poses = _ground_truth(args.images, sorted({e.scene for e in dataset.entries}))
    result = compare(estimated_poses(method, dataset, args.batch_size), dataset.entries, gt_poses)

    train = json.loads(args.train_record.read_text()) if args.train_record else {}
    git = git_state(Path.cwd())
    src_root = Path(__file__).resolve().parents[2]
    coarse_manifest = args.coarse_poses / "manifest.json"
    tags = {"stage": "pose_ablation", "method": ckpt["method"], "weights": ckpt["stage"],
            "code.digest": code_digest(src_root, ["depthrepro.verbs.pose_ablation", type(method).__module__]),
            "git.commit": git["commit"], "git.dirty": git["dirty"], "data.md5": dvc_hash(Path("data.dvc")),
            "checkpoint.sha256": file_sha256(args.checkpoint), "split.sha256": file_sha256(args.split_file),
            "coarse_poses.manifest_sha256": file_sha256(coarse_manifest) if coarse_manifest.is_file() else "",
            "train.mlflow_run_id": train.get("mlflow_run_id", "")}
    comparison = result["comparison"]["by_mean_error"]
    with tracked_run(args.results_dir, f"pose_ablation/{ckpt['method']}/{ckpt['stage']}", tags,
                     {"alignment": "least-squares scale per sequence", "pairs": 2 * len(dataset)}) as mlrun:
        import mlflow

        mlflow.log_metrics({f"{name}.{metric}": values[name] for metric, values in comparison.items()
                            for name in ("colmap", "refined")})
        record = {"alignment": ALIGNMENT, "pose_sets": POSE_SETS, "error_names": list(ERROR_NAMES),
                  "error_units": {"rotation_deg": "degrees", "translation": "metres",
                                  "direction_deg": "degrees"},
                  "split_file": str(args.split_file), "frames": len(dataset), **result,
                  "provenance": {**tags, "mlflow_run_id": mlrun.info.run_id, "checkpoint": str(args.checkpoint),
                                 "images": str(args.images), "coarse_poses": str(args.coarse_poses),
                                 "train": train}}
    atomic_write_json(args.out, record)
    print(json.dumps({"refined_closer": result["comparison"]["refined_closer"], **comparison}))
    return 0
