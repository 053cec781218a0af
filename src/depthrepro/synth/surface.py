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
               geometry: Geometry) -> tuple[np.ndarray, Surface]:
    """Describe hits of rays ``dirs`` (N, 3) at distances ``t`` (N,) on objects ``object_id`` (N,) >= 0.

    Returns ``order`` (N,), a permutation of the hits (boxes, then ground, then spheres), and the
    ``Surface`` of hits ``order[0], order[1], ...``.
    """
    boxes, spheres = geometry.boxes, geometry.spheres
    on_box = np.nonzero((object_id > GROUND_ID) & (object_id <= boxes.count))[0]
    on_ground = np.nonzero(object_id == GROUND_ID)[0]
    on_sphere = np.nonzero(object_id > boxes.count)[0]
    order = np.concatenate([on_box, on_ground, on_sphere])
    origin32 = origin.astype(np.float32)

    p = origin32 + t[on_box, None] * np.take(dirs, on_box, axis=0)
    row = np.take(_box_table(geometry), object_id[on_box] - 1, axis=0)
    rx, ry, rz = p[:, 0] - row[:, 0], p[:, 1] - row[:, 1], p[:, 2] - row[:, 2]
    hx, hy, hz = row[:, 3], row[:, 4], row[:, 5]
    c, s = row[:, 6], row[:, 7]
    lx, ly = c * rx + s * ry, c * ry - s * rx
    ratio_x, ratio_y, ratio_z = np.abs(lx) / hx, np.abs(ly) / hy, np.abs(rz) / hz
    on_x = (ratio_x >= ratio_y) & (ratio_x >= ratio_z)
    on_y = ~on_x & (ratio_y >= ratio_z)
    on_z = ~on_x & ~on_y
    sign = np.sign(np.where(on_x, lx, np.where(on_y, ly, rz)))
    nlx, nly = np.where(on_x, sign, 0.0), np.where(on_y, sign, 0.0)
    box_normal = np.stack([c * nlx - s * nly, s * nlx + c * nly, np.where(on_z, sign, 0.0)], axis=1)
    fu = np.where(on_x, ly + hy, lx + hx)
    fv = np.where(on_z, ly + hy, rz + hz)
    world_top = on_z & ~geometry.dynamic[object_id[on_box] - 1]

    g = origin32 + t[on_ground, None] * np.take(dirs, on_ground, axis=0)
    n_ground = on_ground.size

    q = origin32 + t[on_sphere, None] * np.take(dirs, on_sphere, axis=0)
    k = object_id[on_sphere] - 1 - boxes.count
    rel = q - spheres.center[k].astype(np.float32)
    qu, qv = q[:, 0] + 0.37 * q[:, 2], q[:, 1] - 0.61 * q[:, 2]

    point = np.concatenate([p, g, q])
    u = np.concatenate([fu, g[:, 0], qu])
    v = np.concatenate([fv, g[:, 1], qv])
    return order, Surface(
        point=point,
        normal=np.concatenate([box_normal, np.tile(np.float32([0, 0, 1]), (n_ground, 1)),
                               rel / np.linalg.norm(rel, axis=1, keepdims=True)]),
        object_id=object_id[order],
        material=np.concatenate([row[:, 17].astype(np.int32), np.full(n_ground, int(Material.ASPHALT), np.int32),
                                 spheres.material[k]]),
        axis=np.concatenate([np.where(on_x, 0, np.where(on_y, 1, 2)), np.full(n_ground + k.size, 2)]).astype(np.int32),
        albedo=np.concatenate([row[:, 8:11], np.tile(ASPHALT_ALBEDO, (n_ground, 1)),
                               spheres.albedo[k].astype(np.float32)]),
        params=np.concatenate([row[:, 11:17], np.zeros((n_ground + k.size, PARAMS), np.float32)]),
        u=u,
        v=v,
        noise_u=np.concatenate([np.where(world_top, p[:, 0], fu + row[:, 18]), g[:, 0], qu]),
        noise_v=np.concatenate([np.where(world_top, p[:, 1], fv + row[:, 19]), g[:, 1], qv]),
        extent=np.concatenate([np.stack([2.0 * np.where(on_x, hy, hx), 2.0 * np.where(on_z, hy, hz)], axis=1),
                               np.full((n_ground + k.size, 2), np.inf, np.float32)]),
        local=np.concatenate([np.stack([lx, ly, rz], axis=1), g, rel]),
        dynamic=geometry.object_is_dynamic(object_id[order]),
    )
