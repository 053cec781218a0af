"""Ego motion: speed profile (cruise, speed changes, an optional stop) and the IMU pose per frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthrepro.synth.presets import FRAME_RATE_HZ, DriveSpec
from depthrepro.synth.rig import rigid, rotation_rpy
from depthrepro.synth.road import Road

EGO_LANE_OFFSET = -1.75
"""The ego vehicle drives in the right-hand lane, 1.75 m right of the centreline."""

STATIC_SPEED = 1.0
"""A frame is static when the ego moves slower than this (m/s) between its two neighbours."""


@dataclass(frozen=True)
class Trajectory:
    """Per-frame ego state. ``T_world_from_imu`` (F, 4, 4); ``s``, ``speed``, ``accel``, ``roll``,
    ``pitch``, ``yaw``, ``yaw_rate``, ``roll_rate``, ``pitch_rate``, ``times`` are (F,)."""

    times: np.ndarray
    s: np.ndarray
    speed: np.ndarray
    accel: np.ndarray
    roll: np.ndarray
    pitch: np.ndarray
    yaw: np.ndarray
    roll_rate: np.ndarray
    pitch_rate: np.ndarray
    yaw_rate: np.ndarray
    T_world_from_imu: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.s.shape[0])

    def static_frames(self) -> list[int]:
        """Frames whose neighbours are less than ``2 * STATIC_SPEED / FRAME_RATE_HZ`` m apart."""
        positions = self.T_world_from_imu[:, :3, 3]
        static = []
        for frame in range(self.frames):
            before, after = max(frame - 1, 0), min(frame + 1, self.frames - 1)
            span = (after - before) / FRAME_RATE_HZ
            if np.linalg.norm(positions[after] - positions[before]) < STATIC_SPEED * span:
                static.append(frame)
        return static


def speed_profile(spec: DriveSpec, rng: np.random.Generator) -> np.ndarray:
    """(F,) speed in m/s: cruise with a slow +-12 % swell, times a braking/standing/starting factor."""
    times = np.arange(spec.frames) / FRAME_RATE_HZ
    period = rng.uniform(4.0, 8.0)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    speed = spec.cruise_speed * (1.0 + 0.12 * np.sin(2.0 * np.pi * times / period + phase))
    if spec.stop_at is not None:
        factor = np.ones(spec.frames)
        ramp = spec.ramp_frames
        down = np.arange(ramp)
        factor[spec.stop_at - ramp: spec.stop_at] = 0.5 * (1.0 + np.cos(np.pi * (down + 1) / (ramp + 1)))
        factor[spec.stop_at: spec.stop_at + spec.stop_frames] = 0.0
        start = spec.stop_at + spec.stop_frames
        factor[start: start + ramp] = 0.5 * (1.0 - np.cos(np.pi * (down + 1) / (ramp + 1)))
        speed = speed * factor
    return speed


def ego_trajectory(spec: DriveSpec, road: Road, imu_height: float, rng: np.random.Generator) -> Trajectory:
    """Integrate the speed profile along the ego lane; start at ``s = 0`` at time 0.

    Roll and pitch follow small road undulations that depend on ``s`` only, so a standing vehicle has
    bit-identical poses.
    """
    speed = speed_profile(spec, rng)
    dt = 1.0 / FRAME_RATE_HZ
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * dt)])
    accel = np.gradient(speed, dt)
    x, y, yaw = road.point(s, EGO_LANE_OFFSET)
    wave = rng.uniform(0.0, 2.0 * np.pi, size=2)
    roll = np.deg2rad(0.25) * np.sin(s / 5.3 + wave[0])
    pitch = np.deg2rad(0.3) * np.sin(s / 7.9 + wave[1])
    droll_ds = np.deg2rad(0.25) / 5.3 * np.cos(s / 5.3 + wave[0])
    dpitch_ds = np.deg2rad(0.3) / 7.9 * np.cos(s / 7.9 + wave[1])
    _, _, heading_ahead = road.frame(s + 0.5)
    _, _, heading_behind = road.frame(s - 0.5)
    yaw_rate = (heading_ahead - heading_behind) * speed
    poses = np.stack([
        rigid(rotation_rpy(r, p, h), np.array([px, py, imu_height]))
        for r, p, h, px, py in zip(roll, pitch, yaw, x, y)
    ])
    return Trajectory(
        times=np.arange(spec.frames) * dt,
        s=s,
        speed=speed,
        accel=accel,
        roll=roll,
        pitch=pitch,
        yaw=yaw,
        roll_rate=droll_ds * speed,
        pitch_rate=dpitch_ds * speed,
        yaw_rate=yaw_rate,
        T_world_from_imu=poses,
    )
