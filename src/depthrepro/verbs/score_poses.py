"""`depthrepro score-poses`: metrics of predicted odometry under a named pose protocol, with provenance.

    depthrepro score-poses --poses 09=results/poses/.../odom_00.npz --gt-root data/synthetic/kitti_odometry \\
        --protocol kitti_odom_segments_featdepth --dataset synthetic_kitti --train-record .../train.json --out m.json

Each `--poses SS=FILE` scores protocol sequence SS on the pose predictions of `depthrepro predict-poses`;
its ground truth is `<gt-root>/poses/<sequence of the file>.txt` (a dataset may stand one of its sequences
in for a protocol's, see `companions.kitti_odometry.pose_sequences` in params/datasets.yaml). Protocol
sequences without predictions are recorded as missing, with the reason. The record has the shape of
`depthrepro score`'s (`protocol`, `scaling`, `num_images`, `mean` keyed `seq<SS>_<metric>`, `provenance`)
plus `missing` and the per-sequence details.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from depthrepro.evaluate.pose_protocols import load_pose_protocol
from depthrepro.evaluate.pose_score import PoseScore, score_pose_sequence
from depthrepro.io.atomic import atomic_write_json
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.kitti_odometry import poses_path, read_poses
from depthrepro.provenance.code_digest import code_digest
from depthrepro.provenance.repo_state import dvc_hash, git_state
from depthrepro.provenance.tracking import tracked_run

IDENTITY_KEYS = ("method", "params_name", "checkpoint_sha256", "checkpoint_stage", "checkpoint_path",
                 "trained_with_stereo")
"""What every pose predictions file of one score must agree on: the checkpoint that made it."""


def _sequence_file(text: str) -> tuple[str, Path]:
    sequence, sep, path = text.partition("=")
    if not sep or not sequence or not path:
        raise argparse.ArgumentTypeError(f"expected SS=FILE (a protocol sequence and a predictions file), got {text!r}")
    return sequence, Path(path)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--poses", type=_sequence_file, action="append", default=[], metavar="SS=FILE",
                   help="pose predictions (`depthrepro predict-poses`) scored as protocol sequence SS")
    p.add_argument("--gt-root", type=Path, required=True, help="KITTI odometry tree holding poses/<SS>.txt")
    p.add_argument("--protocol", required=True, help="name under pose_protocols: in params/protocols.yaml")
    p.add_argument("--protocols-file", type=Path, default=Path("params/protocols.yaml"))
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml (why sequences are absent)")
    p.add_argument("--datasets-file", type=Path, default=Path("params/datasets.yaml"))
    p.add_argument("--train-record", type=Path, help="train.json of the checkpoint, for provenance")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--results-dir", type=Path, default=Path("results"))


def _read_predictions(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise SystemExit(f"{path}: pose predictions file not found")
    with np.load(path) as archive:
        missing = [k for k in ("relative_poses", "sequence", *IDENTITY_KEYS) if k not in archive.files]
        if missing:
            raise SystemExit(f"{path}: pose predictions file lacks {missing}; rerun `depthrepro predict-poses`")
        return {k: archive[k] for k in archive.files}


def _absent_reason(sequence: str, args: argparse.Namespace) -> str:
    """Why a protocol sequence has no predictions, from the dataset's sequence stand-ins."""
    datasets = yaml.safe_load(args.datasets_file.read_text())
    tree = (datasets.get(args.dataset) or {}).get("companions", {}).get("kitti_odometry", {})
    if "pose_sequences" in tree:
        return (f"dataset {args.dataset} has no sequence standing in for sequence {sequence} "
                f"({args.datasets_file}: companions.kitti_odometry.pose_sequences)")
    return f"no pose predictions were given for sequence {sequence}"


def run(args: argparse.Namespace) -> int:
    protocol = load_pose_protocol(args.protocol, args.protocols_file)
    given = dict(args.poses)
    if len(given) != len(args.poses) or not set(given) <= set(protocol.sequences):
        raise SystemExit(f"--poses: protocol {protocol.name!r} scores sequences {list(protocol.sequences)}, each "
                         f"at most once; got {[s for s, _ in args.poses]}")
    if not given:
        raise SystemExit("--poses: no pose predictions given")
    predictions = {s: _read_predictions(path) for s, path in given.items()}
    identities = {s: tuple(str(p[k]) for k in IDENTITY_KEYS) for s, p in predictions.items()}
    if len(set(identities.values())) > 1:
        raise SystemExit(f"--poses: the files come from different checkpoints: {identities}")
    identity = dict(zip(IDENTITY_KEYS, next(iter(identities.values())), strict=True))
    stereo = identity["trained_with_stereo"] == "True"

    gt_files: dict[str, Path] = {}
    scores = {}
    for sequence, pred in predictions.items():
        dataset_sequence = str(pred["sequence"])
        gt_files[sequence] = poses_path(args.gt_root, int(dataset_sequence))
        if not gt_files[sequence].is_file():
            raise SystemExit(f"{gt_files[sequence]}: ground-truth poses of sequence {dataset_sequence} not found")
        scores[sequence] = score_pose_sequence(read_poses(gt_files[sequence]), pred["relative_poses"], protocol,
                                               sequence, dataset_sequence)
    absent = {s: _absent_reason(s, args) for s in protocol.sequences if s not in scores}
    score = PoseScore(protocol, stereo, scores, absent)

    train = json.loads(args.train_record.read_text()) if args.train_record else {}
    git = git_state(Path.cwd())
    src_root = Path(__file__).resolve().parents[2]
    method, stage = identity["params_name"], identity["checkpoint_stage"]  # the params file, as tables name it
    tags = {"stage": "score_poses", "method": method, "weights": stage, "protocol": protocol.name,
            "code.digest": code_digest(src_root, ["depthrepro.verbs.score_poses"]), "git.commit": git["commit"],
            "git.dirty": git["dirty"], "data.md5": dvc_hash(Path("data.dvc")),
            "checkpoint.sha256": identity["checkpoint_sha256"], "train.mlflow_run_id": train.get("mlflow_run_id", ""),
            **{f"poses.{s}.sha256": file_sha256(given[s]) for s in sorted(given)},
            **{f"gt.{s}.sha256": file_sha256(gt_files[s]) for s in sorted(gt_files)}}
    mean = score.mean_dict()
    with tracked_run(args.results_dir, f"score_poses/{method}/{stage}/{protocol.name}", tags,
                     {"protocol": protocol.name, "params_name": identity["params_name"],
                      "stereo_trained": stereo}) as mlrun:
        import mlflow

        mlflow.log_metrics({k: v for k, v in mean.items() if v is not None})
        record = {**score.to_json_dict(), "provenance": {
            **tags, "mlflow_run_id": mlrun.info.run_id, "params_name": identity["params_name"],
            "poses": {s: str(path) for s, path in given.items()}, "gt_poses": {s: str(p) for s, p in gt_files.items()},
            "checkpoint": identity["checkpoint_path"], "gt": str(args.gt_root), "train": train}}
    atomic_write_json(args.out, record)
    print(json.dumps({"mean": mean, "missing": score.missing_dict()}))
    return 0
