"""Pinhole camera rendering: colour image, exact z-depth, object ids and the moving-object mask."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from depthrepro.synth.raycast import Window, box_corners, cast
from depthrepro.synth.scene import Geometry
from depthrepro.synth.shading import lit_colour, sky_colour, surface_albedo
from depthrepro.synth.surface import surface_at
from depthrepro.synth.textures import TextureBank

NEAR = 0.05
FAR = 1000.0
"""Rays travelling further than this (z-depth, metres) count as sky."""
SENSOR_NOISE = 1.2
"""Standard deviation of additive (uniform) pixel noise, in 8-bit grey levels."""
OPTICS_SIGMA = 0.6
"""Gaussian blur of the lens, pixels."""

_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1])


@dataclass(frozen=True)
class CameraFrame:
    """One rendered image. ``rgb`` (H, W, 3) uint8; ``depth`` (H, W) float32 z-depth in metres, inf
    where the ray meets nothing (sky); ``object_id`` (H, W) int32 (scene ids); ``dynamic`` (H, W) bool,
    true on moving vehicles."""

    rgb: np.ndarray
    depth: np.ndarray
    object_id: np.ndarray
    dynamic: np.ndarray


def pixel_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) camera-frame rays with z = 1 through pixel centres (pixel (i, j) sits at u=j, v=i)."""
    u = (np.arange(width) - K[0, 2]) / K[0, 0]
    v = (np.arange(height) - K[1, 2]) / K[1, 1]
    rays = np.ones((height, width, 3))
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    return rays


def camera_windows(geometry: Geometry, T_world_from_cam: np.ndarray, K: np.ndarray, width: int,
                   height: int) -> list[Window]:
    """Image rectangles containing each object's projection (after clipping at the near plane)."""
    corners = box_corners(geometry)
    R, origin = T_world_from_cam[:3, :3], T_world_from_cam[:3, 3]
    cam = (corners - origin) @ R
    z = cam[..., 2]
    a, b = cam[:, _EDGES[:, 0]], cam[:, _EDGES[:, 1]]
    za, zb = a[..., 2], b[..., 2]
    crosses = (za > NEAR) != (zb > NEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = (NEAR - za) / (zb - za)
    clipped = a + alpha[..., None] * (b - a)
    points = np.concatenate([cam, clipped], axis=1)
    valid = np.concatenate([z > NEAR, crosses], axis=1)
    pz = np.where(valid, np.maximum(points[..., 2], NEAR), 1.0)
    pu = np.clip(K[0, 0] * points[..., 0] / pz + K[0, 2], -1.0, width + 1.0)
    pv = np.clip(K[1, 1] * points[..., 1] / pz + K[1, 2], -1.0, height + 1.0)
    u0, u1 = np.where(valid, pu, np.inf).min(axis=1), np.where(valid, pu, -np.inf).max(axis=1)
    v0, v1 = np.where(valid, pv, np.inf).min(axis=1), np.where(valid, pv, -np.inf).max(axis=1)
    z_min = np.where(valid, pz, np.inf).min(axis=1)
    c0 = np.clip(np.floor(u0), 0, width).astype(np.int64)
    c1 = np.clip(np.ceil(u1) + 1, 0, width).astype(np.int64)
    r0 = np.clip(np.floor(v0), 0, height).astype(np.int64)
    r1 = np.clip(np.ceil(v1) + 1, 0, height).astype(np.int64)
    visible = valid.any(axis=1) & (z_min < FAR) & (c0 < c1) & (r0 < r1)
    windows = [Window(int(i) + 1, slice(int(r0[i]), int(r1[i])), slice(int(c0[i]), int(c1[i])), float(z_min[i]))
               for i in np.nonzero(visible)[0]]
    return windows


def render_view(geometry: Geometry, sun: np.ndarray, bank: TextureBank, T_world_from_cam: np.ndarray,
                K: np.ndarray, width: int, height: int, noise_rng: np.random.Generator,
                sensor_noise: float = SENSOR_NOISE) -> CameraFrame:
    """Ray-cast one pinhole image; colours get a slight lens blur and sensor noise (standard deviation
    ``sensor_noise`` grey levels), depth stays exact."""
    R, origin = T_world_from_cam[:3, :3], T_world_from_cam[:3, 3]
    dirs = (pixel_rays(K, width, height) @ R.T).astype(np.float32)
    hits = cast(origin, dirs, geometry, camera_windows(geometry, T_world_from_cam, K, width, height), FAR)
    flat_dirs = dirs.reshape(-1, 3)
    flat_t = hits.t.reshape(-1)
    hit = np.nonzero(np.isfinite(flat_t))[0]
    sky = np.nonzero(~np.isfinite(flat_t))[0]
    order, surface = surface_at(origin, np.take(flat_dirs, hit, axis=0), flat_t[hit],
                                hits.object_id.reshape(-1)[hit], geometry)
    hit = hit[order]
    hit_dirs = np.take(flat_dirs, hit, axis=0)
    ray_length = np.sqrt(np.einsum("ij,ij->i", hit_dirs, hit_dirs))
    distance = flat_t[hit] * ray_length
    cosine = np.abs(np.einsum("ij,ij->i", surface.normal, hit_dirs)) / ray_length
    footprint = distance / np.float32(K[0, 0]) / np.sqrt(np.maximum(cosine, 0.02))
    albedo = surface_albedo(surface, footprint, bank)
    colour = np.empty((width * height, 3), np.float32)
    colour[hit] = lit_colour(albedo, surface.normal, sun, distance)
    colour[sky] = sky_colour(flat_dirs[sky], bank)
    image = cv2.GaussianBlur(colour.reshape(height, width, 3), (3, 3), OPTICS_SIGMA)
    noise = (noise_rng.random(image.shape, dtype=np.float32) - 0.5) * np.float32(sensor_noise * np.sqrt(12.0))
    image = image * 255.0 + noise
    rgb = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    dynamic = geometry.object_is_dynamic(hits.object_id)
    return CameraFrame(rgb=rgb, depth=hits.t, object_id=hits.object_id, dynamic=dynamic)
