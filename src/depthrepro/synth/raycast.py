"""Vectorised ray casting against the ground plane, upright boxes and spheres.

Rays come as a grid ``dirs`` (R, C, 3) sharing one origin. Each object is tested only inside a
window of that grid known to contain its image (a projected bounding rectangle for cameras, an
azimuth/elevation band for the LiDAR), nearest objects first, and skipped when every ray of its
window already hit something nearer than the object can be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthrepro.synth.scene import GROUND_ID, SKY_ID, Geometry


@dataclass(frozen=True)
class Window:
    """Rays ``dirs[rows, cols]`` may hit object ``object_id``, never at ``t < t_min``."""

    object_id: int
    rows: slice
    cols: slice
    t_min: float


@dataclass(frozen=True)
class Hits:
    """Nearest hit per ray: ``t`` (R, C) float32 ray parameter (inf: none), ``object_id`` (R, C) int32."""

    t: np.ndarray
    object_id: np.ndarray


def box_corners(geometry: Geometry) -> np.ndarray:
    """(M + S, 8, 3) world corners of every box, then of every sphere's bounding cube."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    boxes = geometry.boxes
    local = signs[None] * boxes.half[:, None, :]
    c, s = np.cos(boxes.yaw)[:, None], np.sin(boxes.yaw)[:, None]
    box = np.stack([
        boxes.center[:, None, 0] + c * local[..., 0] - s * local[..., 1],
        boxes.center[:, None, 1] + s * local[..., 0] + c * local[..., 1],
        boxes.center[:, None, 2] + local[..., 2],
    ], axis=-1)
    spheres = geometry.spheres
    cube = spheres.center[:, None, :] + signs[None] * spheres.radius[:, None, None]
    return np.concatenate([box, cube.reshape(-1, 8, 3)], axis=0)


def cast(origin: np.ndarray, dirs: np.ndarray, geometry: Geometry, windows: list[Window], t_max: float) -> Hits:
    """Nearest intersections of rays ``origin + t * dirs`` (t in (0, t_max]) with the scene."""
    rows, cols = dirs.shape[:2]
    dx = np.ascontiguousarray(dirs[..., 0], dtype=np.float32)
    dy = np.ascontiguousarray(dirs[..., 1], dtype=np.float32)
    dz = np.ascontiguousarray(dirs[..., 2], dtype=np.float32)
    t = np.full((rows, cols), np.inf, np.float32)
    object_id = np.full((rows, cols), SKY_ID, np.int32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ground = np.float32(-origin[2]) / dz
        on_ground = (ground > 0) & (ground <= t_max)
        t[on_ground] = ground[on_ground]
        object_id[on_ground] = GROUND_ID
        inv_z = np.float32(1.0) / dz
        norm2 = dx * dx + dy * dy + dz * dz
        n_boxes = geometry.boxes.count
        for window in sorted(windows, key=lambda w: w.t_min):
            tw = t[window.rows, window.cols]
            if tw.size == 0 or float(tw.max()) < window.t_min:
                continue
            index = window.object_id - 1
            if index < n_boxes:
                candidate = _box_hit(origin, geometry, index, dx, dy, inv_z, window)
            else:
                candidate = _sphere_hit(origin, geometry, index - n_boxes, dx, dy, dz, norm2, window)
            hit = candidate < tw
            if t_max < np.inf:
                hit &= candidate <= t_max
            np.copyto(tw, candidate, where=hit)
            np.copyto(object_id[window.rows, window.cols], np.int32(window.object_id), where=hit)
    return Hits(t=t, object_id=object_id)


def _box_hit(origin: np.ndarray, geometry: Geometry, index: int, dx: np.ndarray, dy: np.ndarray,
             inv_z: np.ndarray, window: Window) -> np.ndarray:
    """Slab test in the box frame; returns the entry distance, inf where the ray misses."""
    boxes = geometry.boxes
    cos, sin = np.cos(boxes.yaw[index]), np.sin(boxes.yaw[index])
    hx, hy, hz = (np.float32(v) for v in boxes.half[index])
    ox, oy, oz = origin - boxes.center[index]
    olx, oly, oz = np.float32(cos * ox + sin * oy), np.float32(cos * oy - sin * ox), np.float32(oz)
    c, s = np.float32(cos), np.float32(sin)
    wx = dx[window.rows, window.cols]
    wy = dy[window.rows, window.cols]
    lx = c * wx + s * wy
    ly = c * wy - s * wx
    a = (-hx - olx) / lx
    b = (hx - olx) / lx
    near = np.minimum(a, b)
    far = np.maximum(a, b)
    a = (-hy - oly) / ly
    b = (hy - oly) / ly
    np.maximum(near, np.minimum(a, b), out=near)
    np.minimum(far, np.maximum(a, b), out=far)
    iz = inv_z[window.rows, window.cols]
    a = (-hz - oz) * iz
    b = (hz - oz) * iz
    np.maximum(near, np.minimum(a, b), out=near)
    np.minimum(far, np.maximum(a, b), out=far)
    miss = ~((near <= far) & (near > 0))
    near[miss] = np.inf
    return near


def _sphere_hit(origin: np.ndarray, geometry: Geometry, index: int, dx: np.ndarray, dy: np.ndarray,
                dz: np.ndarray, norm2: np.ndarray, window: Window) -> np.ndarray:
    """Nearer root of ``|o + t d - c|^2 = r^2``; inf where the ray misses or starts inside."""
    spheres = geometry.spheres
    ox, oy, oz = (np.float32(v) for v in origin - spheres.center[index])
    radius = float(spheres.radius[index])
    c_term = np.float32(ox * ox + oy * oy + oz * oz - radius * radius)
    b = dx[window.rows, window.cols] * ox + dy[window.rows, window.cols] * oy + dz[window.rows, window.cols] * oz
    a = norm2[window.rows, window.cols]
    disc = b * b - a * c_term
    root = (-b - np.sqrt(np.maximum(disc, 0))) / a
    miss = ~((disc > 0) & (root > 0) & (c_term > 0))
    root[miss] = np.inf
    return root
