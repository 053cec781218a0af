"""OXTS records (GPS/IMU) consistent with the ego trajectory, using KITTI's Mercator convention."""

from __future__ import annotations

import numpy as np

from depthrepro.synth.trajectory import Trajectory

EARTH_RADIUS = 6378137.0
GRAVITY = 9.81
STATUS = (0.1, 0.02, 4.0, 10.0, 5.0, 5.0, 6.0)
"""posacc, velacc, navstat, numsats, posmode, velmode, orimode of every record."""


def world_to_latlon(x: np.ndarray, y: np.ndarray, lat0: float, lon0: float) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude (deg) of world points (x east, y north, metres from the point (lat0, lon0)).

    Inverse of the KITTI devkit's Mercator projection with scale ``cos(lat0)``.
    """
    scale = np.cos(np.deg2rad(lat0))
    mx0 = scale * EARTH_RADIUS * np.deg2rad(lon0)
    my0 = scale * EARTH_RADIUS * np.log(np.tan(np.deg2rad(90.0 + lat0) / 2.0))
    lon = np.rad2deg((mx0 + x) / (scale * EARTH_RADIUS))
    lat = np.rad2deg(2.0 * np.arctan(np.exp((my0 + y) / (scale * EARTH_RADIUS)))) - 90.0
    return lat, lon


def oxts_records(trajectory: Trajectory, lat0: float, lon0: float, alt0: float) -> np.ndarray:
    """(F, 30) OXTS values per frame in KITTI field order (see ``depthrepro.io.kitti.OXTS_FIELDS``)."""
    position = trajectory.T_world_from_imu[:, :3, 3]
    lat, lon = world_to_latlon(position[:, 0], position[:, 1], lat0, lon0)
    v, yaw = trajectory.speed, trajectory.yaw
    zeros = np.zeros_like(v)
    lateral_accel = v * trajectory.yaw_rate
    gravity = np.full_like(v, GRAVITY)
    columns = [
        lat, lon, alt0 + position[:, 2], trajectory.roll, trajectory.pitch, yaw,
        v * np.sin(yaw), v * np.cos(yaw), v, zeros, zeros,
        trajectory.accel, lateral_accel, gravity, trajectory.accel, lateral_accel, gravity,
        trajectory.roll_rate, trajectory.pitch_rate, trajectory.yaw_rate,
        trajectory.roll_rate, trajectory.pitch_rate, trajectory.yaw_rate,
    ]
    columns += [np.full_like(v, value) for value in STATUS]
    return np.stack(columns, axis=1)
