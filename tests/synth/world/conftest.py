"""The tiny synthetic world (all its formats), rendered once in-process and once with two workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.synth.world import render_world

WarpError = Callable[..., tuple[float, float, float]]


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    summary = render_world(root, preset="tiny", seed=0, workers=1)
    print(f"\ntiny world rendered in-process in {summary['seconds']} s: "
          f"{ {name: s['seconds'] for name, s in summary['formats'].items()} }")
    return root


@pytest.fixture(scope="session")
def tiny_world_parallel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world_parallel")
    summary = render_world(root, preset="tiny", seed=0, workers=2)
    print(f"\ntiny world rendered with 2 workers in {summary['seconds']} s")
    return root


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float32 RGB of an image file."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"{path}: not readable"
    return bgr[..., ::-1].astype(np.float32)


def _warp_error(target: np.ndarray, source: np.ndarray, depth_target: np.ndarray, depth_source: np.ndarray,
                K: np.ndarray, T_source_from_target: np.ndarray, static_target: np.ndarray,
                static_source: np.ndarray) -> tuple[float, float, float]:
    """Source image (H, W, 3) warped into the target with the target's depth (H, W) and the pose: mean
    absolute error in grey levels, the same without warping, and the scored fraction of pixels (finite
    depth, static in both views (``static_*`` (H, W) bool), landing inside the source and visible there)."""
    height, width = depth_target.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    depth = np.where(np.isfinite(depth_target), depth_target, 1.0)
    points = np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], axis=-1)
    moved = points @ T_source_from_target[:3, :3].T + T_source_from_target[:3, 3]
    z = np.maximum(moved[..., 2], 1e-6)
    us = K[0, 0] * moved[..., 0] / z + K[0, 2]
    vs = K[1, 1] * moved[..., 1] / z + K[1, 2]
    warped = cv2.remap(source, us.astype(np.float32), vs.astype(np.float32), cv2.INTER_LINEAR)
    inside = (us > 1) & (us < width - 2) & (vs > 1) & (vs < height - 2) & (moved[..., 2] > 0.05)
    ui = np.clip(np.rint(us), 0, width - 1).astype(int)
    vi = np.clip(np.rint(vs), 0, height - 1).astype(int)
    visible = np.abs(depth_source[vi, ui] - moved[..., 2]) < 0.02 * moved[..., 2]
    valid = np.isfinite(depth_target) & static_target & static_source[vi, ui] & inside & visible
    warped_error = float(np.abs(warped - target).mean(axis=-1)[valid].mean())
    identity_error = float(np.abs(source - target).mean(axis=-1)[valid].mean())
    return warped_error, identity_error, float(valid.mean())


@pytest.fixture(scope="session")
def warp_error() -> WarpError:
    return _warp_error


@pytest.fixture(scope="session")
def rgb_reader() -> Callable[[Path], np.ndarray]:
    return read_rgb
