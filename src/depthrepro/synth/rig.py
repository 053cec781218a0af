"""The KITTI sensor rig: four rectified cameras, a Velodyne and an OXTS IMU, with their calibration.

Frames follow KITTI: cameras x right, y down, z forward; Velodyne and IMU x forward, y left, z up.
Camera 0 (grey left) is the reference; the colour cameras sit on the same baseline, camera 02 at
0.06 m to the left of camera 0 and camera 03 at 0.48 m to its right, so the colour stereo baseline
is 0.54 m. Images are rectified, so every ``R_rect`` is the identity and ``P_rect_xx = K [I | -c_xx]``
with ``c_xx`` the camera centre in camera-0 coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_X_POSITIONS: dict[int, float] = {0: 0.0, 1: 0.54, 2: -0.06, 3: 0.48}
"""Camera centre along camera 0's x axis, metres."""

COLOUR_BASELINE = CAMERA_X_POSITIONS[3] - CAMERA_X_POSITIONS[2]
"""Distance between camera 02 and camera 03, metres."""

KITTI_NORMALISED_K = np.array([[0.58, 0.0, 0.5], [0.0, 1.92, 0.5]])
"""Intrinsics divided by (width, height), as self-supervised KITTI code stores them."""

VELODYNE_HEIGHT = 1.73
"""Velodyne origin above the road, metres."""

_VELO_TO_CAM_AXES = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def rotation_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """``Rz(yaw) Ry(pitch) Rx(roll)`` as (3, 3), the OXTS convention."""
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx


def rigid(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Homogeneous (4, 4) transform from a (3, 3) rotation and a (3,) translation."""
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = translation
    return out


def invert_rigid(transform: np.ndarray) -> np.ndarray:
    """Inverse of a (4, 4) rigid transform."""
    rotation = transform[:3, :3]
    return rigid(rotation.T, -rotation.T @ transform[:3, 3])


@dataclass(frozen=True)
class Rig:
    """Calibration of one recording date. ``T_a_from_b`` maps points in frame b to frame a."""

    width: int
    height: int
    K: np.ndarray
    T_cam0_from_velo: np.ndarray
    T_velo_from_imu: np.ndarray

    def T_cam_from_cam0(self, camera: int) -> np.ndarray:
        """(4, 4) transform from rectified camera 0 to rectified camera ``camera`` (a pure x shift)."""
        return rigid(np.eye(3), np.array([-CAMERA_X_POSITIONS[camera], 0.0, 0.0]))

    def P_rect(self, camera: int) -> np.ndarray:
        """(3, 4) projection of camera-0 rectified points into camera ``camera``'s image."""
        return self.K @ self.T_cam_from_cam0(camera)[:3, :]

    def T_imu_from_cam(self, camera: int) -> np.ndarray:
        """(4, 4) pose of camera ``camera`` in the IMU frame."""
        T_cam_from_imu = self.T_cam_from_cam0(camera) @ self.T_cam0_from_velo @ self.T_velo_from_imu
        return invert_rigid(T_cam_from_imu)

    def T_imu_from_velo(self) -> np.ndarray:
        """(4, 4) pose of the Velodyne in the IMU frame."""
        return invert_rigid(self.T_velo_from_imu)

    @property
    def imu_height(self) -> float:
        """IMU origin above the road so that the Velodyne sits at ``VELODYNE_HEIGHT`` on a level road."""
        return VELODYNE_HEIGHT - float(self.T_imu_from_velo()[2, 3])


def kitti_rig(width: int, height: int, rng: np.random.Generator) -> Rig:
    """A KITTI-like rig for one date: nominal mounting plus millimetre / sub-degree per-date deviations.

    Velodyne: 1.73 m high, about 0.27 m behind and 0.08 m above camera 0. IMU: about 0.81 m behind,
    0.32 m left of and 0.80 m below the Velodyne.
    """
    K = np.eye(3)
    K[:2, :] = KITTI_NORMALISED_K * np.array([[width], [height]])
    tilt = np.deg2rad(rng.uniform(-0.3, 0.3, size=3))
    R_velo = rotation_rpy(*tilt)
    T_cam0_from_velo = rigid(
        _VELO_TO_CAM_AXES @ R_velo,
        np.array([-0.004, -0.08, -0.27]) + rng.uniform(-0.005, 0.005, size=3),
    )
    T_velo_from_imu = rigid(
        rotation_rpy(*np.deg2rad(rng.uniform(-0.2, 0.2, size=3))),
        np.array([-0.81, 0.32, -0.80]) + rng.uniform(-0.01, 0.01, size=3),
    )
    return Rig(width=width, height=height, K=K, T_cam0_from_velo=T_cam0_from_velo, T_velo_from_imu=T_velo_from_imu)
