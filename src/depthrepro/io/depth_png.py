"""uint16 depth PNGs with a fixed scale (KITTI: metres × 256; NYU/SC-Depth: metres × 5000); 0 = no depth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes

UINT16_MAX = np.iinfo(np.uint16).max


def read_scaled_depth_png(path: Path, scale: float) -> np.ndarray:
    """`(H, W)` float32 metres = value / scale; errors name the file."""
    path = Path(path)
    raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
    if raw is None:
        raise ValueError(f"{path}: not a readable PNG")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel uint16 depth PNG, got {raw.dtype} {raw.shape}")
    return raw.astype(np.float32) / np.float32(scale)


def write_scaled_depth_png(path: Path, depth: np.ndarray, scale: float, clip: bool) -> None:
    """Write `round(depth * scale)` as uint16; non-finite or <= 0 → 0. Values beyond the uint16 range are
    clipped when `clip`, else raise ValueError naming the file."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"{path}: expected a (H, W) depth map, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    scaled = np.where(valid, np.rint(depth * scale), 0.0)
    if not clip and scaled.max(initial=0.0) > UINT16_MAX:
        raise ValueError(f"{path}: depth up to {depth[valid].max():.3f} m exceeds the PNG range "
                         f"({UINT16_MAX / scale:.3f} m)")
    ok, buffer = cv2.imencode(".png", np.clip(scaled, 0, UINT16_MAX).astype(np.uint16))
    if not ok:
        raise ValueError(f"{path}: PNG encoding failed")
    atomic_write_bytes(Path(path), buffer.tobytes())
