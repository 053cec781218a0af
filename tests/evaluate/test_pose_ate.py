"""Snippet and full-trajectory ATE on synthetic trajectories with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from depthrepro.evaluate.pose_ate import (
    chain_relative_poses,
    compute_ate,
    dump_xyz,
    full_sequence_ate,
    gt_relative_poses,
    sim3_align,
    snippet_ate,
)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def _trajectory(frames: int, seed: int) -> np.ndarray:
    """KITTI-like camera-to-world poses (frames, 3, 4): forward motion with slow yaw and jitter."""
    rng = np.random.default_rng(seed)
    poses = np.zeros((frames, 3, 4))
    position, yaw = np.zeros(3), 0.0
    for k in range(frames):
        poses[k, :, :3] = _rotation(np.array([0.0, 1.0, 0.0]), yaw)
        poses[k, :, 3] = position
        yaw += 0.05 + 0.01 * rng.standard_normal()
        position = position + poses[k, :, :3] @ np.array([0.02, 0.01 * rng.standard_normal(), 1.0])
    return poses


def test_compute_ate_is_zero_up_to_offset_and_scale() -> None:
    gt = np.array([[0.0, 0, 0], [0, 0, 1], [0.1, 0, 2]])
    assert compute_ate(gt, 0.3 * gt + 5.0) == pytest.approx(0.0, abs=1e-12)
    pred = np.array([[0.0, 0, 0], [0, 0, 1], [0, 0, 2]])
    # best scale: sum(gt·pred)/sum(pred²) = 5/5 = 1, residual (−0.1, 0, 0); ‖·‖ / 3
    assert compute_ate(gt, pred) == pytest.approx(0.1 / 3, rel=1e-12)


def test_dump_xyz_chains_by_right_multiplication() -> None:
    step = np.eye(4)
    step[:3, :3] = _rotation(np.array([0.0, 1.0, 0.0]), np.pi / 2)
    step[:3, 3] = [0.0, 0.0, 1.0]
    xyz = dump_xyz([step, step])
    np.testing.assert_allclose(xyz, [[0, 0, 0], [0, 0, 1], [1, 0, 1]], atol=1e-12)


def test_snippet_ate_with_scaled_true_motion_is_zero_and_windows_shrink_at_the_end() -> None:
    gt = _trajectory(12, seed=1)
    motion = gt_relative_poses(gt).copy()
    motion[:, :3, 3] *= 0.25
    ates = snippet_ate(gt, motion)
    assert ates.shape == (11,)
    np.testing.assert_allclose(ates, 0.0, atol=1e-12)

    noisy = motion.copy()
    noisy[-1, :3, 3] += [0.05, 0.0, 0.0]
    changed = np.flatnonzero(snippet_ate(gt, noisy) > 1e-9)
    assert changed.tolist() == [7, 8, 9, 10]  # every window that still reaches the last motion


def test_snippet_ate_rejects_wrong_counts() -> None:
    gt = _trajectory(6, seed=2)
    with pytest.raises(ValueError, match="expected 5 predicted"):
        snippet_ate(gt, np.tile(np.eye(4), (6, 1, 1)))


def test_sim3_align_recovers_a_similarity() -> None:
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((30, 3))
    rotation = _rotation(np.array([1.0, 2.0, 0.5]), 0.7)
    gt = 2.5 * pred @ rotation.T + np.array([1.0, -2.0, 0.5])
    scale, found_rotation, translation = sim3_align(pred, gt)
    assert scale == pytest.approx(2.5, rel=1e-10)
    np.testing.assert_allclose(found_rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(translation, [1.0, -2.0, 0.5], atol=1e-10)


def test_chained_true_motions_rebuild_the_trajectory() -> None:
    gt = _trajectory(15, seed=4)
    world = np.concatenate((gt, np.tile([[[0.0, 0, 0, 1]]], (15, 1, 1))), axis=1)
    expected = np.linalg.inv(world[0]) @ world
    np.testing.assert_allclose(chain_relative_poses(gt_relative_poses(gt)), expected, atol=1e-10)


def test_full_sequence_ate_ignores_scale_and_frame_but_not_drift() -> None:
    gt = _trajectory(40, seed=5)
    motion = gt_relative_poses(gt).copy()
    motion[:, :3, 3] *= 0.1
    assert full_sequence_ate(gt, motion) == pytest.approx(0.0, abs=1e-9)
    drifting = motion.copy()
    drifting[:, :3, :3] = drifting[:, :3, :3] @ _rotation(np.array([0.0, 1.0, 0.0]), 0.02)
    assert full_sequence_ate(gt, drifting) > 0.1
