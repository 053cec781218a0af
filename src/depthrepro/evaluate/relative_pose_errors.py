"""Errors of two-frame relative poses against ground truth, after one least-squares scale per sequence.

Poses are ``(N, 4, 4)`` transforms ``T_(source←target)`` of N frame pairs of one sequence. Monocular
and structure-from-motion translations have an arbitrary scale, so the estimates' translations are
first multiplied by the scale ``s = Σ t_est·t_gt / Σ |t_est|²`` that minimises ``Σ |s t_est − t_gt|²``
over the sequence (rotations are scale-free). Per pair:

- rotation error: the angle (degrees) of ``R_estᵀ R_gt``;
- translation error: ``|s t_est − t_gt|`` in ground-truth units (metres);
- direction error: the angle (degrees) between ``t_est`` and ``t_gt`` (independent of any scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ERROR_NAMES: tuple[str, ...] = ("rotation_deg", "translation", "direction_deg")
"""Per-pair error columns, in the order of ``SequenceErrors.columns``."""


def _poses(poses: np.ndarray, what: str) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or not len(poses):
        raise ValueError(f"{what}: expected (N, 4, 4) relative poses with N >= 1, got shape {poses.shape}")
    if not np.isfinite(poses).all():
        raise ValueError(f"{what}: poses contain non-finite values")
    return poses


def rotation_error_deg(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N,)`` angle in degrees of ``R_estᵀ R_gt`` for ``(N, 4, 4)`` poses (atan2 of its sine and
    cosine, accurate near zero)."""
    R = np.einsum("nji,njk->nik", est[:, :3, :3], gt[:, :3, :3])
    axis = np.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], axis=1)
    cosine = (np.trace(R, axis1=1, axis2=2) - 1.0) / 2.0
    return np.degrees(np.arctan2(np.linalg.norm(axis, axis=1) / 2.0, cosine))


def direction_error_deg(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N,)`` angle in degrees between the translations of ``(N, 4, 4)`` poses; none may be zero."""
    t_est, t_gt = est[:, :3, 3], gt[:, :3, 3]
    zero = (np.linalg.norm(t_est, axis=1) == 0) | (np.linalg.norm(t_gt, axis=1) == 0)
    if zero.any():
        raise ValueError(f"direction error: {int(zero.sum())} pairs have a zero translation")
    sine = np.linalg.norm(np.cross(t_est, t_gt), axis=1)
    return np.degrees(np.arctan2(sine, (t_est * t_gt).sum(1)))


def least_squares_scale(t_est: np.ndarray, t_gt: np.ndarray) -> float:
    """The ``s`` minimising ``Σ |s t_est − t_gt|²`` over ``(N, 3)`` translations."""
    energy = float((t_est * t_est).sum())
    if energy <= 0:
        raise ValueError("least-squares scale: every estimated translation is zero")
    return float((t_est * t_gt).sum()) / energy


@dataclass(frozen=True)
class SequenceErrors:
    """Errors of one pose set on one sequence: the applied ``scale`` and per-pair ``columns``
    ``(N, 3)`` in ``ERROR_NAMES`` order."""

    scale: float
    columns: np.ndarray

    def summary(self) -> dict[str, object]:
        """``{"pairs", "scale", <error>: {"mean", "median", "rmse"}}`` as plain floats."""
        out: dict[str, object] = {"pairs": int(len(self.columns)), "scale": self.scale}
        for k, name in enumerate(ERROR_NAMES):
            values = self.columns[:, k]
            out[name] = {"mean": float(values.mean()), "median": float(np.median(values)),
                         "rmse": float(np.sqrt((values ** 2).mean()))}
        return out


def sequence_errors(est: np.ndarray, gt: np.ndarray) -> SequenceErrors:
    """Errors of estimated relative poses ``est`` against ``gt`` (both ``(N, 4, 4)``, one sequence)."""
    est, gt = _poses(est, "estimated poses"), _poses(gt, "ground-truth poses")
    if est.shape != gt.shape:
        raise ValueError(f"{len(est)} estimated poses for {len(gt)} ground-truth poses; expected as many")
    scale = least_squares_scale(est[:, :3, 3], gt[:, :3, 3])
    translation = np.linalg.norm(scale * est[:, :3, 3] - gt[:, :3, 3], axis=1)
    columns = np.stack([rotation_error_deg(est, gt), translation, direction_error_deg(est, gt)], axis=1)
    return SequenceErrors(scale, columns)


def pooled_summary(errors: list[SequenceErrors]) -> dict[str, object]:
    """The summary of all pairs of several sequences together (each kept at its own scale)."""
    if not errors:
        raise ValueError("pooled summary: no sequence")
    pooled = SequenceErrors(float("nan"), np.concatenate([e.columns for e in errors]))
    summary = pooled.summary()
    del summary["scale"]
    return summary
