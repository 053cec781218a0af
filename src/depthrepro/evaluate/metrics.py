"""Depth error metrics between valid ground-truth and predicted depths.

The formulas are those of monodepth2's evaluation, computed in the dtype of the inputs (float32 for
KITTI maps) so that the numbers equal the official ones bit for bit.

``sq_rel`` is the legacy formula every paper table uses, ``mean((gt - pred)^2 / gt)``: the squared
error is divided by the depth, not by the depth squared, so the "relative" error still has units of
metres. ``sq_rel_corrected`` is the dimensionless ``mean((gt - pred)^2 / gt^2)``; it is reported
alongside, never in place of, the legacy value.
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
"""The seven metrics of the papers' tables, in the official column order."""

EXTRA_METRIC_NAMES: tuple[str, ...] = ("sq_rel_corrected", "log10")
"""Further metrics computed by ``compute_depth_errors``; not part of the official row."""

ALL_METRIC_NAMES: tuple[str, ...] = METRIC_NAMES + EXTRA_METRIC_NAMES

DELTA_BASE = 1.25
"""Threshold accuracy ``a_k`` counts pixels with ``max(gt/pred, pred/gt) < 1.25**k``."""


def compute_depth_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Metrics over matching 1-D vectors of valid depths ``(P,)``; both must be positive.

    Returns ``{name: value}`` for every name in ``ALL_METRIC_NAMES``.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.ndim != 1 or gt.shape != pred.shape:
        raise ValueError(f"expected two 1-D vectors of equal length, got gt {gt.shape} and pred {pred.shape}")
    if gt.size == 0:
        raise ValueError("no valid pixels: cannot compute depth errors over an empty vector")

    thresh = np.maximum(gt / pred, pred / gt)
    squared = (gt - pred) ** 2
    return {
        "abs_rel": float(np.mean(np.abs(gt - pred) / gt)),
        "sq_rel": float(np.mean(squared / gt)),
        "rmse": float(np.sqrt(squared.mean())),
        "rmse_log": float(np.sqrt(((np.log(gt) - np.log(pred)) ** 2).mean())),
        "a1": float((thresh < DELTA_BASE).mean()),
        "a2": float((thresh < DELTA_BASE**2).mean()),
        "a3": float((thresh < DELTA_BASE**3).mean()),
        "sq_rel_corrected": float(np.mean(squared / gt**2)),
        "log10": float(np.mean(np.abs(np.log10(gt) - np.log10(pred)))),
    }
