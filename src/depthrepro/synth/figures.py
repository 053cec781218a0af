"""A contact sheet of rendered frames next to their exact depth, for a person to look at."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes
from depthrepro.synth.camera import CameraFrame

MAX_SHEET_WIDTH = 1400


def depth_to_colour(depth: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR magma rendering of inverse depth (near bright, sky black)."""
    finite = np.isfinite(depth) & (depth > 0)
    inverse = np.zeros(depth.shape, np.float32)
    inverse[finite] = 1.0 / depth[finite]
    top = float(np.percentile(inverse[finite], 99)) if finite.any() else 1.0
    scaled = np.clip(255.0 * inverse / max(top, 1e-6), 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(scaled, cv2.COLORMAP_MAGMA)
    colour[~finite] = 0
    return colour


def figure_sheet(frames: list[tuple[str, CameraFrame]]) -> np.ndarray:
    """(H, W, 3) uint8 BGR sheet: one row per (label, frame) with the image left and depth right."""
    rows = []
    for label, frame in frames:
        bgr = np.ascontiguousarray(frame.rgb[..., ::-1])
        row = np.concatenate([bgr, depth_to_colour(frame.depth)], axis=1)
        if row.shape[1] > MAX_SHEET_WIDTH:
            scale = MAX_SHEET_WIDTH / row.shape[1]
            row = cv2.resize(row, (MAX_SHEET_WIDTH, round(row.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        banner = np.full((22, row.shape[1], 3), 255, np.uint8)
        cv2.putText(banner, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([banner, row], axis=0))
    return np.concatenate(rows, axis=0)


def write_figure_sheet(path: Path, frames: list[tuple[str, CameraFrame]]) -> None:
    """``figure_sheet(frames)`` as a PNG at ``path`` (atomic write)."""
    ok, sheet = cv2.imencode(".png", figure_sheet(frames))
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, sheet.tobytes())
