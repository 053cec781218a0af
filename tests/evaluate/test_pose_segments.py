"""KITTI devkit segment errors and trajectory alignment on hand-made trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from depthrepro.evaluate.pose_segments import (
    align_trajectory,
    path_distances,
    rotation_angle,
    segment_end,
    segment_errors,
    segment_metrics,
)

LENGTHS = (100, 200, 300, 400, 500, 600, 700, 800)
STEP_M = 0.3  # metres between frames: no segment end falls exactly on a nominal length


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def straight(frames: int, step: float = STEP_M) -> np.ndarray:
    """Camera-to-world poses driving forward along z."""
    poses = np.tile(np.eye(4), (frames, 1, 1))
    poses[:, 2, 3] = step * np.arange(frames)
    return poses


def actual_over_nominal(gt: np.ndarray, lengths=LENGTHS, step: int = 10) -> np.ndarray:
    """GT path length of each devkit segment over its nominal length, in the devkit's segment order."""
    distances = path_distances(gt)
    ratios = []
    for first in range(0, len(gt), step):
        for length in lengths:
            last = segment_end(distances, first, length)
            if last is not None:
                ratios.append((distances[last] - distances[first]) / length)
    return np.array(ratios)


def test_pure_scale_error_gives_its_percentage_then_zero_after_scale_alignment() -> None:
    gt = straight(3000)  # 900 m
    pred = gt.copy()
    pred[:, :3, 3] *= 0.8
    raw = segment_metrics(gt, pred, LENGTHS, 10)
    ratios = actual_over_nominal(gt)
    assert len(raw.segments) == len(ratios) > 100
    assert raw.t_err == pytest.approx(100 * 0.2 * ratios.mean(), rel=1e-9)
    assert raw.t_err == pytest.approx(20.0, rel=2e-3)  # |1 - s| * 100, up to the frame spacing
    assert raw.r_err == pytest.approx(0.0, abs=1e-9)
    aligned, fit = align_trajectory(pred, gt, "scale")
    assert fit.scale == pytest.approx(1.25, rel=1e-12)
    assert segment_metrics(gt, aligned, LENGTHS, 10).t_err == pytest.approx(0.0, abs=1e-9)


def test_constant_yaw_drift_gives_its_rate_in_degrees_per_100_m() -> None:
    gt = straight(2000)
    drift = np.radians(2.0) / 100.0  # 2 degrees of heading per 100 m driven
    pred = gt.copy()
    pred[:, :3, :3] = [rot_y(drift * d) for d in path_distances(gt)]
    result = segment_metrics(gt, pred, LENGTHS, 10)
    assert result.r_err == pytest.approx(2.0 * actual_over_nominal(gt).mean(), rel=1e-9)
    assert result.r_err == pytest.approx(2.0, rel=2e-3)
    first = result.segments[0]
    assert first.r_err == pytest.approx(drift * (path_distances(gt)[first.last]) / first.length_m, rel=1e-9)


def test_segments_start_every_step_frames_and_end_past_their_length() -> None:
    gt = straight(500, step=1.0)  # 499 m: 100-400 m segments only
    errors = segment_errors(gt, gt, LENGTHS, 10)
    assert {e.first for e in errors} == set(range(0, 400, 10))
    assert {e.length_m for e in errors} == {100.0, 200.0, 300.0, 400.0}
    assert all(e.last == e.first + int(e.length_m) + 1 for e in errors)  # strictly longer than L
    assert len([e for e in errors if e.length_m == 100.0]) == len(range(0, 399, 10))
    assert segment_end(np.array([0.0, 50.0, 100.0, 100.5]), 0, 100.0) == 3
    assert segment_end(np.array([0.0, 50.0, 100.0]), 0, 100.0) is None


def test_sequence_shorter_than_the_shortest_segment_is_missing_not_zero() -> None:
    gt = straight(40, step=0.9)  # 35.1 m, as long as the synthetic world's sequences
    result = segment_metrics(gt, gt, LENGTHS, 10)
    assert result.t_err is None and result.r_err is None and result.segments == ()
    assert "35.1 m" in result.missing_reason and "100 m" in result.missing_reason
    assert result.path_length_m == pytest.approx(35.1)


def test_rotation_error_uses_the_angle_of_the_error_rotation() -> None:
    assert rotation_angle(rot_y(0.3)) == pytest.approx(0.3)
    assert rotation_angle(np.eye(3) * (1 + 1e-12)) == 0.0  # clipped, not NaN


def test_sim3_alignment_undoes_a_similarity_and_scale_alignment_keeps_the_frame() -> None:
    rng = np.random.default_rng(0)
    gt = straight(300)
    gt[:, 0, 3] = np.sin(np.arange(300) / 30.0) * 5  # a curve, so the fit is well posed
    similarity = np.eye(4)
    similarity[:3, :3] = rot_y(0.7)
    similarity[:3, 3] = rng.normal(size=3)
    pred = similarity @ gt
    pred[:, :3, 3] *= 0.5
    aligned, fit = align_trajectory(pred, gt, "sim3")
    np.testing.assert_allclose(aligned, gt, atol=1e-9)
    assert fit.kind == "sim3" and fit.scale == pytest.approx(2.0)
    scaled, _ = align_trajectory(pred, gt, "scale")
    np.testing.assert_allclose(scaled[:, :3, :3], pred[:, :3, :3])  # rotations untouched
    with pytest.raises(ValueError, match="alignment must be one of"):
        align_trajectory(pred, gt, "first_point_and_scale")
    with pytest.raises(ValueError, match="2 predicted poses for 300 GT poses"):
        align_trajectory(pred[:2], gt, "scale")
