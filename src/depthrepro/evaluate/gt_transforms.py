"""Re-sampling of ground-truth depth maps that some protocols apply before masking.

* ``window``: a fixed pixel window of a map of known size (EPCDepth's NYUv2 pre-crop).
* ``resize_nearest``: nearest-neighbour resize, sampling source index ``floor((i + 0.5) · in / out)``
  per axis, as ``skimage.transform.resize(order=0)`` does (EPCDepth resizes KITTI GT to 375x1242).
* ``centre_crop_sparse``: the MonoRec loader's treatment of annotated KITTI depth: centre crop to
  the output aspect, then every valid pixel is moved to its rounded position in the output grid;
  where several land on one output pixel the last one in row-major order wins.
"""

from __future__ import annotations

import numpy as np

from depthrepro.evaluate.protocols import GtTransform
from depthrepro.io.kitti_odometry import centre_crop_sparse


def window(gt_depth: np.ndarray, bounds: tuple[int, ...], image_size: tuple[int, ...]) -> np.ndarray:
    """Rows ``[top, bottom)`` and columns ``[left, right)`` of a ``(H, W)`` map that must be ``image_size``."""
    if tuple(gt_depth.shape) != tuple(image_size):
        raise ValueError(f"the GT window {list(bounds)} is defined on {tuple(image_size)} maps, "
                         f"got a {gt_depth.shape} map")
    top, bottom, left, right = bounds
    return gt_depth[top:bottom, left:right]


def _nearest_source(in_size: int, out_size: int) -> np.ndarray:
    return np.minimum(np.floor((np.arange(out_size) + 0.5) * in_size / out_size).astype(np.int64), in_size - 1)


def resize_nearest(gt_depth: np.ndarray, output_size: tuple[int, ...]) -> np.ndarray:
    """``(H, W)`` map resized to ``output_size`` by nearest-neighbour sampling (pixel-centre aligned)."""
    rows = _nearest_source(gt_depth.shape[0], output_size[0])
    cols = _nearest_source(gt_depth.shape[1], output_size[1])
    return gt_depth[rows][:, cols]


def transform_gt(gt_depth: np.ndarray, transform: GtTransform | None) -> np.ndarray:
    """Apply a protocol's ``gt_transform`` to one ``(H, W)`` GT map (unchanged when None)."""
    if transform is None:
        return gt_depth
    if transform.kind == "window":
        assert transform.window is not None and transform.image_size is not None
        return window(gt_depth, transform.window, transform.image_size)
    assert transform.output_size is not None
    if transform.kind == "resize_nearest":
        return resize_nearest(gt_depth, transform.output_size)
    if transform.kind == "centre_crop_sparse":
        return centre_crop_sparse(gt_depth, transform.output_size)
    raise ValueError(f"unknown GT transform kind {transform.kind!r}")
