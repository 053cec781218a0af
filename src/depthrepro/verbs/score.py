"""`depthrepro score`: metrics of a predictions file under a named protocol, with provenance."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from depthrepro.evaluate.post_process import batch_post_process_disparity
from depthrepro.evaluate.protocols import load_protocol
from depthrepro.evaluate.score import score_depth
from depthrepro.geometry.stereo import STANDARD_STEREO_BASELINE
from depthrepro.io.atomic import atomic_write_json
from depthrepro.io.file_hash import file_sha256
from depthrepro.prepare.gt_export import load_gt_depths, load_region_masks
from depthrepro.provenance.code_digest import code_digest
from depthrepro.provenance.repo_state import dvc_hash, git_state
from depthrepro.provenance.tracking import tracked_run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", type=Path, required=True, help=".npz from `depthrepro predict`")
    p.add_argument("--gt", type=Path, required=True, help="ground truth from `depthrepro prepare gt`")
    p.add_argument("--protocol", required=True, help="name in params/protocols.yaml")
    p.add_argument("--protocols-file", type=Path, default=Path("params/protocols.yaml"))
    p.add_argument("--train-record", type=Path,
                   help="train.json of the checkpoint (or the record of an imported release), for provenance")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--results-dir", type=Path, default=Path("results"))


def run(args: argparse.Namespace) -> int:
    protocol = load_protocol(args.protocol, args.protocols_file)
    with np.load(args.predictions) as pred:
        disp = pred["disp"]
        already = bool(pred["post_processed"]) if "post_processed" in pred else False
        if already and not protocol.post_process:
            raise SystemExit(f"{args.predictions}: the disparities are already flip post-processed; protocol "
                             f"{protocol.name!r} scores raw predictions (choose its post-processing variant)")
        if protocol.post_process and not already:
            if "disp_flipped" not in pred:
                raise SystemExit(f"{args.predictions}: protocol {protocol.name!r} needs flip post-processing, "
                                 f"but these predictions (a multi-frame method) have no flipped disparities")
            disp = batch_post_process_disparity(disp, pred["disp_flipped"])
        stereo = bool(pred["trained_with_stereo"])
        baseline = float(pred["stereo_training_baseline"]) if "stereo_training_baseline" in pred \
            else STANDARD_STEREO_BASELINE
        method, stage = str(pred["method"]), str(pred["checkpoint_stage"])
        checkpoint_sha, checkpoint_path = str(pred["checkpoint_sha256"]), str(pred["checkpoint_path"])
        release = str(pred["release"]) if "release" in pred else ""
    gt = load_gt_depths(args.gt)
    regions = {name: masks for name, masks in load_region_masks(args.gt).items() if name in protocol.regions}
    score = score_depth(disp, gt, protocol, stereo_trained=stereo, region_masks=regions,
                        stereo_training_baseline=baseline)

    train = json.loads(args.train_record.read_text()) if args.train_record else {}
    git = git_state(Path.cwd())
    src_root = Path(__file__).resolve().parents[2]
    tags = {"stage": "score", "method": method, "weights": stage, "protocol": protocol.name,
            "code.digest": code_digest(src_root, ["depthrepro.verbs.score"]), "git.commit": git["commit"],
            "git.dirty": git["dirty"], "data.md5": dvc_hash(Path("data.dvc")),
            "predictions.sha256": file_sha256(args.predictions), "gt.sha256": file_sha256(args.gt),
            "checkpoint.sha256": checkpoint_sha, "train.mlflow_run_id": train.get("mlflow_run_id", ""),
            **({"release": release} if release else {})}
    with tracked_run(args.results_dir, f"score/{method}/{stage}/{protocol.name}", tags,
                     {"protocol": protocol.name, "stereo_trained": stereo}) as mlrun:
        import mlflow

        mlflow.log_metrics(score.mean_dict())
        record = {**score.to_json_dict(), "provenance": {**tags, "mlflow_run_id": mlrun.info.run_id,
                                                         "predictions": str(args.predictions),
                                                         "checkpoint": checkpoint_path,
                                                         "gt": str(args.gt), "train": train}}
    atomic_write_json(args.out, record)
    print(json.dumps(score.mean_dict()))
    return 0
