"""Depth metrics on hand-computable vectors; legacy versus corrected sq_rel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthrepro.evaluate.metrics import ALL_METRIC_NAMES, METRIC_NAMES, compute_depth_errors

GT = np.array([1.0, 2.0, 4.0, 3.0, 1.9])
PRED = np.array([2.0, 2.0, 2.0, 2.0, 1.0])


def test_metric_order_is_the_papers_column_order() -> None:
    assert METRIC_NAMES == ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
    assert set(compute_depth_errors(GT, PRED)) == set(ALL_METRIC_NAMES)


def test_hand_computed_values() -> None:
    errors = compute_depth_errors(GT, PRED)
    # per pixel |gt - pred| = 1, 0, 2, 1, 0.9 and max(gt/pred, pred/gt) = 2, 1, 2, 1.5, 1.9
    assert errors["abs_rel"] == pytest.approx((1 + 0 + 0.5 + 1 / 3 + 0.9 / 1.9) / 5, rel=1e-12)
    assert errors["sq_rel"] == pytest.approx((1 + 0 + 1 + 1 / 3 + 0.81 / 1.9) / 5, rel=1e-12)
    assert errors["sq_rel_corrected"] == pytest.approx((1 + 0 + 0.25 + 1 / 9 + 0.81 / 3.61) / 5, rel=1e-12)
    assert errors["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4 + 1 + 0.81) / 5), rel=1e-12)
    logs = [math.log(2), 0, math.log(2), math.log(1.5), math.log(1.9)]
    assert errors["rmse_log"] == pytest.approx(math.sqrt(sum(v * v for v in logs) / 5), rel=1e-12)
    assert errors["log10"] == pytest.approx(sum(logs) / math.log(10) / 5, rel=1e-12)
    assert errors["a1"] == pytest.approx(1 / 5)  # only the exact pixel is within 1.25
    assert errors["a2"] == pytest.approx(2 / 5)  # 1.5 < 1.5625
    assert errors["a3"] == pytest.approx(3 / 5)  # 1.9 < 1.953125, 2 is not


def test_perfect_prediction_scores_zero_error() -> None:
    errors = compute_depth_errors(GT, GT.copy())
    for name in ("abs_rel", "sq_rel", "sq_rel_corrected", "rmse", "rmse_log", "log10"):
        assert errors[name] == 0.0
    assert errors["a1"] == errors["a2"] == errors["a3"] == 1.0


def test_legacy_sq_rel_has_units_of_metres_corrected_is_dimensionless() -> None:
    base = compute_depth_errors(GT, PRED)
    scaled = compute_depth_errors(10 * GT, 10 * PRED)
    assert scaled["sq_rel"] == pytest.approx(10 * base["sq_rel"], rel=1e-12)
    assert scaled["sq_rel_corrected"] == pytest.approx(base["sq_rel_corrected"], rel=1e-12)
    assert scaled["abs_rel"] == pytest.approx(base["abs_rel"], rel=1e-12)
    assert scaled["rmse"] == pytest.approx(10 * base["rmse"], rel=1e-12)


def test_float32_inputs_are_scored_in_float32() -> None:
    gt32, pred32 = GT.astype(np.float32), PRED.astype(np.float32)
    errors = compute_depth_errors(gt32, pred32)
    assert errors["rmse"] == float(np.sqrt(((gt32 - pred32) ** 2).mean()))
    assert errors["rmse"] != float(np.sqrt(((GT - PRED) ** 2).mean()))


@pytest.mark.parametrize(
    ("gt", "pred"),
    [(np.ones(3), np.ones(4)), (np.ones((2, 2)), np.ones((2, 2))), (np.zeros(0), np.zeros(0))],
)
def test_rejects_mismatched_or_empty_vectors(gt: np.ndarray, pred: np.ndarray) -> None:
    with pytest.raises(ValueError):
        compute_depth_errors(gt, pred)
