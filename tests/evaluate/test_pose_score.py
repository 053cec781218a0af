"""Per-sequence pose scores under the pose protocols: conventions, missing metrics, the record layout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from depthrepro.evaluate.pose_ate import full_sequence_ate, gt_relative_poses, snippet_ate
from depthrepro.evaluate.pose_protocols import load_pose_protocol
from depthrepro.evaluate.pose_score import PoseScore, metric_key, score_pose_sequence

PROTOCOLS = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"
SEGMENTS = load_pose_protocol("kitti_odom_segments_featdepth", PROTOCOLS)
ATE = load_pose_protocol("kitti_odom_pose", PROTOCOLS)


def curved_drive(frames: int, step: float = 1.0) -> np.ndarray:
    """Camera-to-world poses (N, 4, 4) of a car turning slowly while driving along its z axis."""
    poses = np.tile(np.eye(4), (frames, 1, 1))
    position, heading = np.zeros(3), 0.0
    for k in range(frames):
        c, s = np.cos(heading), np.sin(heading)
        poses[k, :3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        poses[k, :3, 3] = position
        position = position + poses[k, :3, :3] @ np.array([0.0, 0.0, step])
        heading += 0.004
    return poses


def test_exact_motions_score_zero_and_inverted_motions_do_not() -> None:
    gt = curved_drive(400)  # 399 m: 100-300 m segments
    motions = gt_relative_poses(gt)  # T_{k+1<-k}, the pose networks' convention
    exact = score_pose_sequence(gt, motions, SEGMENTS, "09", "00")
    assert exact.metrics["t_err"] == pytest.approx(0.0, abs=1e-8)
    assert exact.metrics["r_err"] == pytest.approx(0.0, abs=1e-4)  # arccos near 1 amplifies rounding
    assert exact.scale == pytest.approx(1.0) and exact.num_frames == 400 and not exact.missing
    inverted = score_pose_sequence(gt, np.linalg.inv(motions), SEGMENTS, "09", "00")
    assert inverted.metrics["t_err"] > 50.0  # driving backwards: the direction convention matters


def test_scale_of_monocular_motion_is_aligned_away() -> None:
    gt = curved_drive(300)
    motions = gt_relative_poses(gt)
    motions[:, :3, 3] *= 0.03  # a monocular network's unknown scale
    score = score_pose_sequence(gt, motions, SEGMENTS, "09", "00")
    assert score.scale == pytest.approx(1 / 0.03, rel=1e-9)
    assert score.metrics["t_err"] == pytest.approx(0.0, abs=1e-8)
    assert score.to_json_dict()["alignment"] == {"kind": "scale", "scale": score.scale}


def test_ate_protocol_matches_the_ate_functions() -> None:
    rng = np.random.default_rng(0)
    gt = curved_drive(60)
    motions = gt_relative_poses(gt)
    motions[:, :3, 3] += rng.normal(scale=0.05, size=(59, 3))
    score = score_pose_sequence(gt, motions, ATE, "10", "10")
    ates = snippet_ate(gt, motions, ATE.snippet_length)
    assert score.metrics == pytest.approx({"ate_snippet_mean": ates.mean(), "ate_snippet_std": ates.std(),
                                           "ate_full": full_sequence_ate(gt, motions)})


def test_short_and_absent_sequences_are_missing_with_reasons() -> None:
    gt = curved_drive(40, step=0.9)
    short = score_pose_sequence(gt, gt_relative_poses(gt), SEGMENTS, "09", "00")
    assert short.metrics == {"t_err": None, "r_err": None}
    assert "shortest segment (100 m)" in short.missing["t_err"]
    score = PoseScore(SEGMENTS, True, {"09": short}, {"10": "the dataset has no sequence for 10"})
    record = score.to_json_dict()
    assert record["metric_names"] == [metric_key(s, m) for s in ("09", "10") for m in ("t_err", "r_err")]
    assert record["mean"] == {"seq09_t_err": None, "seq09_r_err": None, "seq10_t_err": None, "seq10_r_err": None}
    assert record["missing"]["seq10_r_err"] == "the dataset has no sequence for 10"
    assert "shortest segment" in record["missing"]["seq09_t_err"]
    assert record["num_images"] == 40 and record["scaling"]["factor"] == {"09": short.scale}
    assert record["protocol"]["kind"] == "pose" and record["sequences"]["09"]["dataset_sequence"] == "00"
    with pytest.raises(ValueError, match="scores sequences"):
        PoseScore(SEGMENTS, True, {"09": short}, {})


def test_motion_count_and_protocol_settings_are_checked() -> None:
    gt = curved_drive(10)
    with pytest.raises(ValueError, match="8 predicted motions for 10 GT poses"):
        score_pose_sequence(gt, gt_relative_poses(gt)[:8], SEGMENTS, "09", "00")
    no_lengths = dataclasses.replace(SEGMENTS, segment_lengths_m=None)
    with pytest.raises(ValueError, match="'segment_lengths_m'"):
        score_pose_sequence(gt, gt_relative_poses(gt), no_lengths, "09", "00")
