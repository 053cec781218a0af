"""What a ray hit: world point, normal, material and surface coordinates of each hit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthrepro.synth.scene import GROUND_ID, PARAMS, Geometry, Material
from depthrepro.synth.textures import cell_hash

ASPHALT_ALBEDO = np.array([0.28, 0.28, 0.29], np.float32)


@dataclass(frozen=True)
class Surface:
    """N hits, float32 unless noted. ``point``/``normal`` (N, 3) world; ``object_id``, ``material``,
    ``axis`` (N,) int (box face axis 0/1/2; 2 for ground and spheres); ``albedo`` (N, 3) object colour;
    ``params`` (N, PARAMS); ``u``, ``v`` (N,) metric face coordinates (vertical faces: along the face
    and height above the object's base); ``noise_u``, ``noise_v`` (N,) coordinates for noise textures;
    ``extent`` (N, 2) face size along u and v; ``local`` (N, 3) point in the object frame;
    ``dynamic`` (N,) bool."""

    point: np.ndarray
    normal: np.ndarray
    object_id: np.ndarray
    material: np.ndarray
    axis: np.ndarray
    albedo: np.ndarray
    params: np.ndarray
    u: np.ndarray
    v: np.ndarray
    noise_u: np.ndarray
    noise_v: np.ndarray
    extent: np.ndarray
    local: np.ndarray
    dynamic: np.ndarray


def _box_table(geometry: Geometry) -> np.ndarray:
    """(M, 20) float32 per-box attributes gathered in one go: centre 0:3, half 3:6, cos/sin yaw 6:8,
    albedo 8:11, params 11:17, material 17, noise offsets 18:20."""
    boxes = geometry.boxes
    ids = np.arange(1, boxes.count + 1)
    offset_u = 97.0 * cell_hash(ids, np.zeros_like(ids), np.ones_like(ids))
    offset_v = 89.0 * cell_hash(ids, np.ones_like(ids), np.zeros_like(ids))
    return np.concatenate([
        boxes.center, boxes.half, np.cos(boxes.yaw)[:, None], np.sin(boxes.yaw)[:, None], boxes.albedo,
        boxes.params, boxes.material[:, None], offset_u[:, None], offset_v[:, None],
    ], axis=1).astype(np.float32)


def surface_at(origin: np.ndarray, dirs: np.ndarray, t: np.ndarray, object_id: np.ndarray,
               geometry: Geometry) -> Surface:
    """Describe hits of rays ``dirs`` (N, 3) at distances ``t`` (N,) on objects ``object_id`` (N,) >= 0."""
    n = t.shape[0]
    point = origin.astype(np.float32)[None, :] + t[:, None] * dirs
    normal = np.zeros((n, 3), np.float32)
    normal[:, 2] = 1.0
    material = np.full(n, int(Material.ASPHALT), np.int32)
    axis = np.full(n, 2, np.int32)
    albedo = np.empty((n, 3), np.float32)
    albedo[:] = ASPHALT_ALBEDO
    params = np.zeros((n, PARAMS), np.float32)
    u, v = point[:, 0].copy(), point[:, 1].copy()
    noise_u, noise_v = u.copy(), v.copy()
    extent = np.full((n, 2), np.inf, np.float32)
    local = point.copy()
    dynamic = geometry.object_is_dynamic(object_id)

    boxes = geometry.boxes
    sel = np.nonzero((object_id > GROUND_ID) & (object_id <= boxes.count))[0]
    if sel.size:
        row = np.take(_box_table(geometry), object_id[sel] - 1, axis=0)
        p = np.take(point, sel, axis=0)
        rx, ry, rz = p[:, 0] - row[:, 0], p[:, 1] - row[:, 1], p[:, 2] - row[:, 2]
        hx, hy, hz = row[:, 3], row[:, 4], row[:, 5]
        c, s = row[:, 6], row[:, 7]
        lx, ly = c * rx + s * ry, c * ry - s * rx
        ax = np.argmax(np.stack([np.abs(lx) / hx, np.abs(ly) / hy, np.abs(rz) / hz], axis=1), axis=1)
        on_x, on_y, on_z = ax == 0, ax == 1, ax == 2
        sign = np.sign(np.where(on_x, lx, np.where(on_y, ly, rz)))
        nlx, nly = np.where(on_x, sign, 0.0), np.where(on_y, sign, 0.0)
        normal[sel, 0] = c * nlx - s * nly
        normal[sel, 1] = s * nlx + c * nly
        normal[sel, 2] = np.where(on_z, sign, 0.0)
        fu = np.where(on_x, ly + hy, lx + hx)
        fv = np.where(on_z, ly + hy, rz + hz)
        u[sel], v[sel] = fu, fv
        extent[sel, 0] = 2.0 * np.where(on_x, hy, hx)
        extent[sel, 1] = 2.0 * np.where(on_z, hy, hz)
        world_top = on_z & ~dynamic[sel]
        noise_u[sel] = np.where(world_top, p[:, 0], fu + row[:, 18])
        noise_v[sel] = np.where(world_top, p[:, 1], fv + row[:, 19])
        material[sel] = row[:, 17]
        axis[sel] = ax
        albedo[sel] = row[:, 8:11]
        params[sel] = row[:, 11:17]
        local[sel, 0], local[sel, 1], local[sel, 2] = lx, ly, rz

    sel = np.nonzero(object_id > boxes.count)[0]
    if sel.size:
        k = object_id[sel] - 1 - boxes.count
        spheres = geometry.spheres
        rel = point[sel] - spheres.center[k].astype(np.float32)
        normal[sel] = rel / np.linalg.norm(rel, axis=1, keepdims=True)
        p = point[sel]
        u[sel] = p[:, 0] + 0.37 * p[:, 2]
        v[sel] = p[:, 1] - 0.61 * p[:, 2]
        noise_u[sel], noise_v[sel] = u[sel], v[sel]
        material[sel] = spheres.material[k]
        albedo[sel] = spheres.albedo[k]
        local[sel] = rel
    return Surface(point, normal, object_id, material, axis, albedo, params, u, v, noise_u, noise_v, extent,
                   local, dynamic)
