"""KITTI odometry devkit segment errors and the trajectory alignments of the pose protocols.

Segment errors (the KITTI odometry benchmark's devkit, also FeatDepth's ``kitti_evaluation_toolkit``):
from every ``step``-th frame and for every length L, a segment ends at the first frame whose GT path
length from its start exceeds L. With ``ΔG = G_first⁻¹ · G_last`` (ground truth) and ``ΔP`` the same of
the prediction, the segment's error transform is ``E = ΔP⁻¹ · ΔG``; its translational error is ``|t(E)| / L``
and its rotational error ``angle(R(E)) / L``. A sequence scores the mean over all its segments (of every
length). Tables print the translational error in % and the rotational one in deg/100 m (the devkit
prints deg/m). Path lengths come from the GT positions.

Trajectories are camera-to-world poses ``(N, 4, 4)``; predictions are aligned to the ground truth
first: ``scale`` multiplies every predicted position by the scale of the Umeyama similarity fit of
the positions (FeatDepth's ``align_trajectory(..., correct_only_scale=True)`` keeps only that scale);
``sim3`` applies the whole similarity (scale, rotation and translation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depthrepro.evaluate.pose_ate import sim3_align

TRAJECTORY_ALIGNMENTS: tuple[str, ...] = ("scale", "sim3")
"""Alignments of a whole predicted trajectory to the ground truth (``alignment.trajectory`` of a protocol)."""


@dataclass(frozen=True)
class TrajectoryAlignment:
    """What an alignment applied: ``scale``, and for ``sim3`` also ``rotation`` (3, 3) and ``translation`` (3,)."""

    kind: str
    scale: float
    rotation: np.ndarray
    translation: np.ndarray


def _poses(poses: np.ndarray, what: str) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f"{what}: expected (N, 4, 4) camera-to-world poses, got shape {poses.shape}")
    return poses


def align_trajectory(pred_poses: np.ndarray, gt_poses: np.ndarray, kind: str
                     ) -> tuple[np.ndarray, TrajectoryAlignment]:
    """Predicted poses ``(N, 4, 4)`` aligned to ``gt_poses`` by ``kind`` (``scale`` or ``sim3``)."""
    pred, gt = _poses(pred_poses, "pred_poses"), _poses(gt_poses, "gt_poses")
    if pred.shape != gt.shape:
        raise ValueError(f"{len(pred)} predicted poses for {len(gt)} GT poses; expected as many")
    if kind not in TRAJECTORY_ALIGNMENTS:
        raise ValueError(f"trajectory alignment must be one of {TRAJECTORY_ALIGNMENTS}, got {kind!r}")
    scale, rotation, translation = sim3_align(pred[:, :3, 3], gt[:, :3, 3])
    aligned = pred.copy()
    if kind == "scale":
        aligned[:, :3, 3] *= scale
        return aligned, TrajectoryAlignment(kind, scale, np.eye(3), np.zeros(3))
    aligned[:, :3, :3] = rotation @ pred[:, :3, :3]
    aligned[:, :3, 3] = scale * pred[:, :3, 3] @ rotation.T + translation
    return aligned, TrajectoryAlignment(kind, scale, rotation, translation)


def path_distances(poses: np.ndarray) -> np.ndarray:
    """``(N,)`` length of the path through the positions of ``poses`` ``(N, 4, 4)`` up to each frame (m)."""
    positions = _poses(poses, "poses")[:, :3, 3]
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    return np.concatenate(([0.0], np.cumsum(steps)))


def segment_end(distances: np.ndarray, first: int, length: float) -> int | None:
    """The first frame after ``first`` whose path length from it exceeds ``length``; None when none does."""
    beyond = np.nonzero(distances[first:] > distances[first] + length)[0]
    return int(first + beyond[0]) if len(beyond) else None


def rotation_angle(rotation: np.ndarray) -> float:
    """Angle (rad) of a rotation matrix ``(3, 3)``, from its trace (clipped against rounding)."""
    return float(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))


@dataclass(frozen=True)
class SegmentError:
    """One segment: frames ``first``..``last``, nominal ``length_m``, errors per metre of that length
    (``t_err`` m/m, ``r_err`` rad/m)."""

    first: int
    last: int
    length_m: float
    t_err: float
    r_err: float


def segment_errors(gt_poses: np.ndarray, pred_poses: np.ndarray, lengths_m: Sequence[float],
                   step_frames: int) -> list[SegmentError]:
    """Every segment of the devkit: start frames ``0, step, 2·step, …``, each of ``lengths_m``."""
    gt, pred = _poses(gt_poses, "gt_poses"), _poses(pred_poses, "pred_poses")
    if pred.shape != gt.shape:
        raise ValueError(f"{len(pred)} predicted poses for {len(gt)} GT poses; expected as many")
    if step_frames < 1:
        raise ValueError(f"step_frames must be positive, got {step_frames}")
    distances = path_distances(gt)
    errors = []
    for first in range(0, len(gt), step_frames):
        for length in lengths_m:
            last = segment_end(distances, first, length)
            if last is None:
                continue
            gt_delta = np.linalg.inv(gt[first]) @ gt[last]
            pred_delta = np.linalg.inv(pred[first]) @ pred[last]
            error = np.linalg.inv(pred_delta) @ gt_delta
            errors.append(SegmentError(first, last, float(length), float(np.linalg.norm(error[:3, 3])) / length,
                                       rotation_angle(error[:3, :3]) / length))
    return errors


@dataclass(frozen=True)
class SegmentMetrics:
    """A sequence's devkit numbers: ``t_err`` (%) and ``r_err`` (deg/100 m), None with ``missing_reason``
    when the sequence has no segment."""

    t_err: float | None
    r_err: float | None
    segments: tuple[SegmentError, ...]
    path_length_m: float
    missing_reason: str = ""


def segment_metrics(gt_poses: np.ndarray, pred_poses: np.ndarray, lengths_m: Sequence[float],
                    step_frames: int) -> SegmentMetrics:
    """Mean segment errors of an (already aligned) predicted trajectory, in the tables' units."""
    if not lengths_m:
        raise ValueError("lengths_m must name at least one segment length")
    segments = tuple(segment_errors(gt_poses, pred_poses, lengths_m, step_frames))
    path_length = float(path_distances(gt_poses)[-1])
    if not segments:
        return SegmentMetrics(None, None, (), path_length,
                              f"the GT path is {path_length:.1f} m long, not longer than the shortest segment "
                              f"({min(lengths_m):g} m), so the sequence has no segment to score")
    t_err = 100.0 * float(np.mean([s.t_err for s in segments]))
    r_err = 100.0 * float(np.degrees(np.mean([s.r_err for s in segments])))
    return SegmentMetrics(t_err, r_err, segments, path_length)
