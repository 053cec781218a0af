"""Absolute trajectory error (ATE) of predicted camera motion on KITTI odometry.

Two protocols:

* ``snippet_ate``: monodepth2's ``evaluate_pose`` (inherited from SfMLearner). For every frame i a
  snippet of up to ``track_length`` frames is rebuilt from the relative poses starting at i, the
  first positions are made to coincide, one least-squares scale is fitted, and the error is
  ``||aligned - gt||_F / K`` (K = snippet length; not a root mean square). Snippets near the end of
  the sequence are shorter, as in the official loop. Tables report the mean and std over snippets.
* ``full_sequence_ate``: the whole chained trajectory, Sim(3)-aligned to the GT positions
  (Umeyama with scale, as the evo package's ``--align --correct_scale``), RMSE of the position error.

Relative poses follow the monodepth2 pose network on frames (k, k+1): ``T_{k+1<-k}`` (4, 4) maps
points from camera k to camera k+1. GT poses are KITTI odometry camera-to-world matrices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SNIPPET_TRACK_LENGTH = 5
"""Frames per snippet in monodepth2's pose evaluation (4 relative poses)."""


def dump_xyz(relative_poses: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Positions ``(K+1, 3)`` obtained by right-multiplying K ``(4, 4)`` transforms onto the identity.

    This is the snippet convention of the official evaluation: the chained matrix is
    ``T_0 · T_1 · …``, and its translation column is read after each step.
    """
    chained = np.eye(4)
    positions = [chained[:3, 3]]
    for transform in relative_poses:
        chained = np.dot(chained, transform)
        positions.append(chained[:3, 3])
    return np.array(positions)


def compute_ate(gt_xyz: np.ndarray, pred_xyz: np.ndarray) -> float:
    """Snippet ATE between positions ``(K, 3)``: shift to a common first point, fit one scale."""
    if gt_xyz.shape != pred_xyz.shape or gt_xyz.ndim != 2 or gt_xyz.shape[1] != 3:
        raise ValueError(f"expected two (K, 3) position arrays, got {gt_xyz.shape} and {pred_xyz.shape}")
    shifted = pred_xyz + (gt_xyz[0] - pred_xyz[0])[None, :]
    scale = np.sum(gt_xyz * shifted) / np.sum(shifted**2)
    residual = shifted * scale - gt_xyz
    return float(np.sqrt(np.sum(residual**2)) / gt_xyz.shape[0])


def _homogeneous(poses: np.ndarray, what: str) -> np.ndarray:
    """``(N, 3, 4)`` or ``(N, 4, 4)`` poses as ``(N, 4, 4)`` float64."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] not in ((3, 4), (4, 4)):
        raise ValueError(f"{what}: expected (N, 3, 4) or (N, 4, 4) poses, got shape {poses.shape}")
    if poses.shape[1] == 4:
        return poses
    bottom = np.zeros((poses.shape[0], 1, 4))
    bottom[:, 0, 3] = 1
    return np.concatenate((poses, bottom), axis=1)


def gt_relative_poses(gt_global_poses: np.ndarray) -> np.ndarray:
    """``(N-1, 4, 4)`` GT motions ``T_{k+1<-k} = inv(inv(G_k) · G_{k+1})`` from camera-to-world ``G``."""
    world = _homogeneous(gt_global_poses, "gt_global_poses")
    return np.array(
        [np.linalg.inv(np.dot(np.linalg.inv(world[k - 1]), world[k])) for k in range(1, len(world))]
    )


def snippet_ate(
    gt_global_poses: np.ndarray,
    pred_relative_poses: np.ndarray,
    track_length: int = SNIPPET_TRACK_LENGTH,
) -> np.ndarray:
    """Per-snippet ATE ``(N-1,)`` from N GT poses ``(N, 3|4, 4)`` and N-1 predicted motions ``(N-1, 4, 4)``.

    Snippet i uses motions ``i .. i+track_length-2``; the last ``track_length-2`` snippets are shorter.
    """
    gt_motion = gt_relative_poses(gt_global_poses)
    pred = np.asarray(pred_relative_poses)
    if pred.shape != gt_motion.shape:
        raise ValueError(
            f"expected {gt_motion.shape[0]} predicted (4, 4) motions for {gt_motion.shape[0] + 1} GT poses, "
            f"got shape {pred.shape}"
        )
    if track_length < 2:
        raise ValueError(f"track_length must be at least 2, got {track_length}")
    steps = track_length - 1
    return np.array(
        [
            compute_ate(dump_xyz(gt_motion[i : i + steps]), dump_xyz(pred[i : i + steps]))
            for i in range(len(gt_motion))
        ]
    )


def chain_relative_poses(relative_poses: np.ndarray) -> np.ndarray:
    """Camera-to-world trajectory ``(N, 4, 4)`` (first camera = identity) from N-1 motions ``T_{k+1<-k}``."""
    relative = np.asarray(relative_poses, dtype=np.float64)
    if relative.ndim != 3 or relative.shape[1:] != (4, 4):
        raise ValueError(f"expected (N-1, 4, 4) relative poses, got shape {relative.shape}")
    trajectory = [np.eye(4)]
    for motion in relative:
        trajectory.append(trajectory[-1] @ np.linalg.inv(motion))
    return np.array(trajectory)


def sim3_align(pred: np.ndarray, gt: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama similarity ``(scale, R (3, 3), t (3,))`` minimising ``||gt - (scale · R · pred + t)||``.

    ``pred`` and ``gt`` are matching positions ``(K, 3)`` with K >= 3 not all collinear.
    """
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3 or pred.shape[0] < 3:
        raise ValueError(f"expected two (K, 3) position arrays with K >= 3, got {pred.shape} and {gt.shape}")
    pred_mean = pred.mean(axis=0)
    gt_mean = gt.mean(axis=0)
    pred_centred = pred - pred_mean
    gt_centred = gt - gt_mean
    covariance = gt_centred.T @ pred_centred / pred.shape[0]
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflection[2] = -1.0
    rotation = u @ np.diag(reflection) @ vt
    pred_variance = np.mean(np.sum(pred_centred**2, axis=1))
    if pred_variance == 0:
        raise ValueError("predicted positions are all identical: the scale is undefined")
    scale = float(np.sum(singular * reflection) / pred_variance)
    translation = gt_mean - scale * rotation @ pred_mean
    return scale, rotation, translation


def full_sequence_ate(gt_global_poses: np.ndarray, pred_relative_poses: np.ndarray) -> float:
    """RMSE (metres) of the Sim(3)-aligned chained trajectory against N GT camera-to-world poses."""
    gt_xyz = _homogeneous(gt_global_poses, "gt_global_poses")[:, :3, 3]
    pred_xyz = chain_relative_poses(pred_relative_poses)[:, :3, 3]
    if pred_xyz.shape != gt_xyz.shape:
        raise ValueError(f"{len(pred_xyz) - 1} predicted motions for {len(gt_xyz)} GT poses; expected N-1")
    scale, rotation, translation = sim3_align(pred_xyz, gt_xyz)
    aligned = scale * pred_xyz @ rotation.T + translation
    return float(np.sqrt(np.mean(np.sum((aligned - gt_xyz) ** 2, axis=1))))
