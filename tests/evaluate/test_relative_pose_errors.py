"""Relative-pose errors after a per-sequence least-squares scale: hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from depthrepro.evaluate.relative_pose_errors import (
    least_squares_scale,
    pooled_summary,
    sequence_errors,
)


def _pose(angle_deg: float, axis: int, t: tuple[float, float, float]) -> np.ndarray:
    a = np.radians(angle_deg)
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    T = np.eye(4)
    T[i, i], T[i, j], T[j, i], T[j, j] = c, -s, s, c
    T[:3, 3] = t
    return T


def test_scaled_exact_poses_have_no_error_and_the_inverse_scale() -> None:
    gt = np.stack([_pose(3.0, 1, (0.05, 0.0, 0.01)), _pose(-2.0, 0, (-0.02, 0.01, 0.04))])
    est = gt.copy()
    est[:, :3, 3] *= 4.0  # structure-from-motion units: four times the metres
    errors = sequence_errors(est, gt)
    assert errors.scale == pytest.approx(0.25)
    np.testing.assert_allclose(errors.columns, 0.0, atol=1e-6)


def test_errors_by_hand() -> None:
    gt = np.stack([_pose(0.0, 2, (1.0, 0.0, 0.0)), _pose(0.0, 2, (0.0, 1.0, 0.0))])
    est = np.stack([_pose(10.0, 2, (1.0, 0.0, 0.0)), _pose(0.0, 2, (1.0, 1.0, 0.0))])
    # s = (1 + 1) / (1 + 2) = 2/3; residuals (-1/3, 0, 0) and (2/3, -1/3, 0)
    assert least_squares_scale(est[:, :3, 3], gt[:, :3, 3]) == pytest.approx(2 / 3)
    errors = sequence_errors(est, gt)
    np.testing.assert_allclose(errors.columns[:, 0], [10.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(errors.columns[:, 1], [1 / 3, np.sqrt(5) / 3])
    np.testing.assert_allclose(errors.columns[:, 2], [0.0, 45.0], atol=1e-6)
    summary = errors.summary()
    assert summary["pairs"] == 2
    assert summary["rotation_deg"] == pytest.approx({"mean": 5.0, "median": 5.0, "rmse": np.sqrt(50.0)})
    pooled = pooled_summary([errors, sequence_errors(gt, gt)])
    assert pooled["pairs"] == 4 and "scale" not in pooled
    assert pooled["direction_deg"]["mean"] == pytest.approx(45.0 / 4, abs=1e-6)


def test_bad_input_is_named() -> None:
    gt = np.stack([np.eye(4)] * 2)
    with pytest.raises(ValueError, match="every estimated translation is zero"):
        sequence_errors(gt, gt)
    with pytest.raises(ValueError, match="expected as many"):
        sequence_errors(gt[:1], gt)
    with pytest.raises(ValueError, match=r"estimated poses: expected \(N, 4, 4\)"):
        sequence_errors(np.zeros((2, 3, 4)), gt)
