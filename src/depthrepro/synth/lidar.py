"""A simulated 64-beam spinning LiDAR (HDL-64E-like) ray-cast from the Velodyne pose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthrepro.synth.raycast import Window, box_corners, cast
from depthrepro.synth.scene import Geometry
from depthrepro.synth.shading import LIDAR_REFLECTANCE
from depthrepro.synth.surface import surface_at


def hdl64_elevations() -> np.ndarray:
    """(64,) beam elevations in degrees, top to bottom: 32 beams +2..-8.33, 32 beams -8.83..-24.8."""
    upper = np.linspace(2.0, -8.33, 32)
    lower = np.linspace(-8.83, -24.8, 32)
    return np.concatenate([upper, lower])


@dataclass(frozen=True)
class LidarSpec:
    """Beam elevations (deg, descending), azimuth step (deg), range limits (m), range noise std (m)."""

    elevations_deg: np.ndarray
    azimuth_step_deg: float
    min_range: float = 2.0
    max_range: float = 120.0
    range_noise: float = 0.01

    def directions(self) -> np.ndarray:
        """(64, A, 3) unit rays in the Velodyne frame; azimuth runs from -180 deg counter-clockwise."""
        elevation = np.deg2rad(self.elevations_deg)[:, None]
        count = int(round(360.0 / self.azimuth_step_deg))
        azimuth = (-np.pi + np.arange(count) * 2.0 * np.pi / count)[None, :]
        return np.stack([
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.broadcast_to(np.sin(elevation), (elevation.shape[0], count)),
        ], axis=-1)


def lidar_windows(geometry: Geometry, T_world_from_velo: np.ndarray, spec: LidarSpec) -> list[Window]:
    """Beam and azimuth bands that may see each object (conservative bounds in the Velodyne frame)."""
    corners = box_corners(geometry)
    R, origin = T_world_from_velo[:3, :3], T_world_from_velo[:3, 3]
    local = (corners - origin) @ R
    centre = local.mean(axis=1)
    radial = np.hypot(local[..., 0], local[..., 1])
    circum = np.max(np.linalg.norm(local[..., :2] - centre[:, None, :2], axis=2), axis=1)
    r_min = np.maximum(np.hypot(centre[:, 0], centre[:, 1]) - circum, 1e-3)
    r_max = radial.max(axis=1)
    z_lo, z_hi = local[..., 2].min(axis=1), local[..., 2].max(axis=1)
    elev_hi = np.rad2deg(np.arctan2(z_hi, np.where(z_hi > 0, r_min, r_max)))
    elev_lo = np.rad2deg(np.arctan2(z_lo, np.where(z_lo < 0, r_min, r_max)))
    centre_az = np.arctan2(centre[:, 1], centre[:, 0])
    rel = np.angle(np.exp(1j * (np.arctan2(local[..., 1], local[..., 0]) - centre_az[:, None])))
    az_lo, az_hi = centre_az + rel.min(axis=1), centre_az + rel.max(axis=1)
    full_circle = (rel.max(axis=1) - rel.min(axis=1)) > np.pi - 0.05
    distance_min = np.maximum(np.linalg.norm(centre, axis=1) - np.max(
        np.linalg.norm(local - centre[:, None, :], axis=2), axis=1), 0.0)
    elevations = spec.elevations_deg
    count = int(round(360.0 / spec.azimuth_step_deg))
    step = 2.0 * np.pi / count
    windows = []
    for index in np.nonzero(distance_min < spec.max_range)[0]:
        rows = np.nonzero((elevations <= elev_hi[index] + 0.5) & (elevations >= elev_lo[index] - 0.5))[0]
        if rows.size == 0:
            continue
        row_slice = slice(int(rows[0]), int(rows[-1]) + 1)
        if full_circle[index]:
            spans = [(0, count)]
        else:
            c0 = int(np.floor((az_lo[index] + np.pi) / step)) - 1
            c1 = int(np.ceil((az_hi[index] + np.pi) / step)) + 2
            spans = _wrapped_spans(c0, c1, count)
        for lo, hi in spans:
            windows.append(Window(int(index) + 1, row_slice, slice(lo, hi), float(distance_min[index])))
    return windows


def _wrapped_spans(lo: int, hi: int, count: int) -> list[tuple[int, int]]:
    """Column ranges covering ``[lo, hi)`` modulo ``count``."""
    if hi - lo >= count:
        return [(0, count)]
    lo_mod = lo % count
    end = lo_mod + (hi - lo)
    if end <= count:
        return [(lo_mod, end)]
    return [(lo_mod, count), (0, end - count)]


def scan(geometry: Geometry, T_world_from_velo: np.ndarray, spec: LidarSpec, rng: np.random.Generator) -> np.ndarray:
    """(N, 4) float32 points ``x, y, z, reflectance`` in the Velodyne frame, beam by beam.

    Rays that escape, or return outside ``[min_range, max_range]``, give no point. Ranges get
    Gaussian noise; reflectance depends on material and incidence angle.
    """
    local_dirs = spec.directions()
    R, origin = T_world_from_velo[:3, :3], T_world_from_velo[:3, 3]
    dirs = (local_dirs @ R.T).astype(np.float32)
    hits = cast(origin, dirs, geometry, lidar_windows(geometry, T_world_from_velo, spec), spec.max_range)
    t = hits.t.reshape(-1)
    keep = np.nonzero(np.isfinite(t) & (t >= spec.min_range))[0]
    flat_dirs = dirs.reshape(-1, 3)[keep]
    order, surface = surface_at(origin, flat_dirs, t[keep], hits.object_id.reshape(-1)[keep], geometry)
    table = np.array([LIDAR_REFLECTANCE[m] for m in sorted(LIDAR_REFLECTANCE)], np.float32)
    cosine = np.abs(np.sum(surface.normal * flat_dirs[order], axis=1))
    reflectance = np.empty(keep.size, np.float32)
    reflectance[order] = table[surface.material] * (0.4 + 0.6 * cosine)
    ranges = t[keep].astype(np.float64) + rng.normal(0.0, spec.range_noise, size=keep.shape[0])
    points = local_dirs.reshape(-1, 3)[keep] * ranges[:, None]
    return np.concatenate([points, reflectance[:, None]], axis=1).astype(np.float32)
