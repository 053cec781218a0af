"""Score predicted disparities against ground-truth depth maps under a named protocol.

This is monodepth2's ``evaluate`` scoring loop, step for step and in the same dtypes, so that the
numbers equal the official ones: for every image the disparity is resized to the GT size with
``cv2.resize`` (bilinear), inverted to depth, masked, scaled (per-image median ratio or a fixed
factor), clamped, and scored; the table row is the mean over images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from depthrepro.evaluate.metrics import compute_depth_errors
from depthrepro.evaluate.protocols import Protocol, ScaleAlignment, scaling_for


@dataclass(frozen=True)
class DepthScore:
    """Result of ``score_depth``.

    ``per_image`` is ``(N, M)`` float64 with columns ``metric_names`` (the protocol's metrics);
    ``mean`` is ``(M,)``; ``valid_counts`` ``(N,)`` counts the pixels left by the mask.
    ``median_ratios`` ``(N,)`` holds median(gt)/median(pred) per image for median-scaled models
    (None otherwise; the value actually applied, i.e. float32 for float32 inputs), with
    ``ratio_median`` and ``ratio_std`` = std(ratios / ratio_median) as monodepth2 prints them.
    """

    protocol: Protocol
    stereo_trained: bool
    alignment: ScaleAlignment
    metric_names: tuple[str, ...]
    per_image: np.ndarray
    mean: np.ndarray
    valid_counts: np.ndarray
    median_ratios: np.ndarray | None
    ratio_median: float | None
    ratio_std: float | None

    def mean_dict(self) -> dict[str, float]:
        """``{metric: mean over images}`` in ``metric_names`` order."""
        return {name: float(value) for name, value in zip(self.metric_names, self.mean, strict=True)}

    def to_json_dict(self) -> dict[str, Any]:
        """Everything needed to audit the number: protocol definition, scaling, per-image values."""
        return {
            "protocol": self.protocol.to_dict(),
            "stereo_trained": self.stereo_trained,
            "scaling": {"kind": self.alignment.kind, "factor": self.alignment.factor},
            "num_images": int(self.per_image.shape[0]),
            "metric_names": list(self.metric_names),
            "mean": self.mean_dict(),
            "per_image": {name: self.per_image[:, k].tolist() for k, name in enumerate(self.metric_names)},
            "valid_counts": self.valid_counts.tolist(),
            "median_ratios": None if self.median_ratios is None else self.median_ratios.tolist(),
            "ratio_median": self.ratio_median,
            "ratio_std": self.ratio_std,
        }


def crop_bounds(fractions: Sequence[float], height: int, width: int) -> np.ndarray:
    """``(top, bottom, left, right)`` pixel bounds of a fractional crop, int32-truncated ``(4,)``."""
    top, bottom, left, right = fractions
    return np.array([top * height, bottom * height, left * width, right * width]).astype(np.int32)


def evaluation_mask(gt_depth: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the GT pixels that ``protocol`` scores."""
    if protocol.mask == "range_and_crop":
        mask = np.logical_and(gt_depth > protocol.min_depth, gt_depth < protocol.max_depth)
    else:
        mask = gt_depth > 0
    if protocol.crop_fractions is not None:
        top, bottom, left, right = crop_bounds(protocol.crop_fractions, *gt_depth.shape)
        inside = np.zeros(gt_depth.shape, dtype=bool)
        inside[top:bottom, left:right] = True
        mask = np.logical_and(mask, inside)
    return mask


def _as_disparity(disp: np.ndarray) -> np.ndarray:
    """``(h, w)`` disparity in float32 or float64 as given; other dtypes become float32.

    Float64 stays float64: monodepth2 scores its flip post-processed (float64) disparities that way.
    """
    disp = np.asarray(disp)
    if disp.ndim != 2:
        raise ValueError(f"expected a (h, w) disparity map, got shape {disp.shape}")
    if disp.dtype not in (np.float32, np.float64):
        disp = disp.astype(np.float32)
    return disp


def aligned_depths(
    disp: np.ndarray, gt_depth: np.ndarray, protocol: Protocol, alignment: ScaleAlignment
) -> tuple[np.ndarray, np.ndarray, np.floating | None]:
    """The vectors one image is scored on: ``(gt (P,), pred (P,), median ratio or None)``.

    ``disp`` ``(h, w)`` is resized to the GT size ``(H, W)``, inverted, masked, scaled and clamped;
    ``gt`` holds the ``P`` GT depths that pass the protocol's mask.
    """
    gt_depth = np.asarray(gt_depth, dtype=np.float32)
    if gt_depth.ndim != 2:
        raise ValueError(f"expected a (H, W) ground-truth depth map, got shape {gt_depth.shape}")
    gt_height, gt_width = gt_depth.shape
    pred_depth = 1 / cv2.resize(_as_disparity(disp), (gt_width, gt_height))

    mask = evaluation_mask(gt_depth, protocol)
    if not mask.any():
        raise ValueError(f"no ground-truth pixel passes the mask of protocol {protocol.name!r}")
    pred = pred_depth[mask]
    gt = gt_depth[mask]

    pred *= float(alignment.factor)
    ratio = None
    if alignment.kind == "median":
        ratio = np.median(gt) / np.median(pred)
        pred *= ratio

    low, high = protocol.clamp
    pred[pred < low] = low
    pred[pred > high] = high
    return gt, pred, ratio


def score_depth(
    pred_disp: np.ndarray | Sequence[np.ndarray],
    gt_depths: Sequence[np.ndarray],
    protocol: Protocol,
    stereo_trained: bool,
) -> DepthScore:
    """Score scaled disparities ``(N, h, w)`` (or N maps) against N GT depth maps ``(H_i, W_i)``.

    ``pred_disp`` are the disparities a model outputs after ``disp_to_depth`` (and after flip
    post-processing when the protocol asks for it). ``stereo_trained`` selects the protocol's
    scaling for the model's training modality (see ``scaling_for``).
    """
    alignment = scaling_for(protocol, stereo_trained)
    if len(pred_disp) != len(gt_depths):
        raise ValueError(f"{len(pred_disp)} predictions for {len(gt_depths)} ground-truth maps")
    if len(gt_depths) == 0:
        raise ValueError("no images to score")

    rows: list[list[float]] = []
    ratios: list[np.floating] = []
    counts: list[int] = []
    for index, (disp, gt_depth) in enumerate(zip(pred_disp, gt_depths, strict=True)):
        try:
            gt, pred, ratio = aligned_depths(disp, gt_depth, protocol, alignment)
        except ValueError as error:
            raise ValueError(f"image {index}: {error}") from error
        if ratio is not None:
            ratios.append(ratio)
        counts.append(gt.size)
        errors = compute_depth_errors(gt, pred)
        rows.append([errors[name] for name in protocol.metrics])

    per_image = np.array(rows, dtype=np.float64)
    median_ratios = ratio_median = ratio_std = None
    if ratios:
        ratio_array = np.array(ratios)
        middle = np.median(ratio_array)
        median_ratios = ratio_array.astype(np.float64)
        ratio_median = float(middle)
        ratio_std = float(np.std(ratio_array / middle))
    return DepthScore(
        protocol=protocol,
        stereo_trained=stereo_trained,
        alignment=alignment,
        metric_names=protocol.metrics,
        per_image=per_image,
        mean=per_image.mean(0),
        valid_counts=np.array(counts, dtype=np.int64),
        median_ratios=median_ratios,
        ratio_median=ratio_median,
        ratio_std=ratio_std,
    )
