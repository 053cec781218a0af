"""Score predicted disparities against ground-truth depth maps under a named protocol.

For the KITTI protocols this is monodepth2's ``evaluate`` scoring loop, step for step and in the
same dtypes, so that the numbers equal the official ones: for every image the disparity is resized
to the GT size with ``cv2.resize`` (bilinear), inverted to depth, masked, scaled (per-image median
ratio or a fixed factor), clamped, and scored; the table row is the mean over images. Other
protocols re-sample the GT first (``gt_transform``), resize the depth instead of the disparity
(``resize: depth``), score extra image regions (``regions``) or drop images without a valid pixel
(``empty_images: drop``), as their reference evaluations do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from depthrepro.evaluate.gt_transforms import transform_gt
from depthrepro.evaluate.metrics import compute_depth_errors
from depthrepro.evaluate.protocols import FULL_REGION, Protocol, ScaleAlignment, scaling_for
from depthrepro.geometry.stereo import STANDARD_STEREO_BASELINE

REGION_MASK_THRESHOLD = 0.5
"""A pixel belongs to a region where its mask value is above this (the reference reads ``mvobj_mask > 0.5``)."""


class EmptyMaskError(ValueError):
    """No ground-truth pixel of an image passes the protocol's mask."""


@dataclass(frozen=True)
class RegionScore:
    """Scores restricted to one region (e.g. moving objects) of the images that have pixels in it.

    ``image_indices`` ``(K,)`` are the scored images (indices into the inputs), ``per_image`` is
    ``(K, M)``, ``mean`` ``(M,)`` and ``valid_counts`` ``(K,)`` the pixels of each image in the region.
    """

    region: str
    image_indices: np.ndarray
    per_image: np.ndarray
    mean: np.ndarray
    valid_counts: np.ndarray

    def to_json_dict(self, metric_names: Sequence[str]) -> dict[str, Any]:
        """Means, per-image values and the indices of the images scored in this region."""
        return {
            "num_images": int(self.per_image.shape[0]),
            "image_indices": self.image_indices.tolist(),
            "mean": {name: float(value) if np.isfinite(value) else None
                     for name, value in zip(metric_names, self.mean, strict=True)},
            "per_image": {name: self.per_image[:, k].tolist() for k, name in enumerate(metric_names)},
            "valid_counts": self.valid_counts.tolist(),
        }


@dataclass(frozen=True)
class DepthScore:
    """Result of ``score_depth``.

    ``per_image`` is ``(N, M)`` float64 with columns ``metric_names`` (the protocol's metrics);
    ``mean`` is ``(M,)``; ``valid_counts`` ``(N,)`` counts the pixels left by the mask.
    ``median_ratios`` ``(N,)`` holds median(gt)/median(pred) per image for median-scaled models
    (None otherwise; the value actually applied, i.e. float32 for float32 inputs), with
    ``ratio_median`` and ``ratio_std`` = std(ratios / ratio_median) as monodepth2 prints them.
    N counts the scored images: ``dropped_images`` lists the inputs without a valid pixel, which
    protocols with ``empty_images: drop`` leave out. ``regions`` holds the scores of every region
    besides the full image that the protocol names.
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
    dropped_images: tuple[int, ...] = ()
    regions: dict[str, RegionScore] = field(default_factory=dict)

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
            "dropped_images": list(self.dropped_images),
            "regions": {name: region.to_json_dict(self.metric_names) for name, region in self.regions.items()},
        }


def crop_bounds(fractions: Sequence[float], height: int, width: int) -> np.ndarray:
    """``(top, bottom, left, right)`` pixel bounds of a fractional crop, int32-truncated ``(4,)``."""
    top, bottom, left, right = fractions
    return np.array([top * height, bottom * height, left * width, right * width]).astype(np.int32)


def _crop_window(shape: tuple[int, ...], protocol: Protocol) -> tuple[int, ...] | None:
    """Pixel bounds of the protocol's crop on a GT map of ``shape``, or None without a crop."""
    if protocol.crop_fractions is not None:
        return tuple(int(v) for v in crop_bounds(protocol.crop_fractions, *shape))
    if protocol.crop_pixels is not None:
        if tuple(shape) != tuple(protocol.crop_image_size or ()):
            raise ValueError(f"protocol {protocol.name!r}: crop {protocol.crop!r} is defined in pixels of "
                             f"{protocol.crop_image_size} GT maps, got a {tuple(shape)} map")
        return protocol.crop_pixels
    return None


def evaluation_mask(gt_depth: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the GT pixels that ``protocol`` scores.

    ``range_and_crop``: min_depth < gt < max_depth; ``gt_positive``: gt > 0;
    ``positive_capped``: 0 < gt <= max_depth. Each inside the crop, if the protocol has one.
    """
    if protocol.mask == "range_and_crop":
        mask = np.logical_and(gt_depth > protocol.min_depth, gt_depth < protocol.max_depth)
    elif protocol.mask == "positive_capped":
        mask = np.logical_and(gt_depth > 0, gt_depth <= protocol.max_depth)
    else:
        mask = gt_depth > 0
    window = _crop_window(gt_depth.shape, protocol)
    if window is not None:
        top, bottom, left, right = window
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


def _prepared_gt(gt_depth: np.ndarray, protocol: Protocol) -> np.ndarray:
    gt_depth = np.asarray(gt_depth, dtype=np.float32)
    if gt_depth.ndim != 2:
        raise ValueError(f"expected a (H, W) ground-truth depth map, got shape {gt_depth.shape}")
    return transform_gt(gt_depth, protocol.gt_transform)


def _predicted_depth(disp: np.ndarray, height: int, width: int, protocol: Protocol) -> np.ndarray:
    """``(H, W)`` depth: the disparity resized then inverted, or inverted then resized (``resize: depth``)."""
    disp = _as_disparity(disp)
    if protocol.resize == "depth":
        return cv2.resize(1 / disp, (width, height))
    return 1 / cv2.resize(disp, (width, height))


def _aligned_with_mask(
    disp: np.ndarray, gt_depth: np.ndarray, protocol: Protocol, alignment: ScaleAlignment
) -> tuple[np.ndarray, np.ndarray, np.floating | None, np.ndarray]:
    """``aligned_depths`` plus the ``(H, W)`` mask the vectors were taken from (on the prepared GT)."""
    gt_depth = _prepared_gt(gt_depth, protocol)
    gt_height, gt_width = gt_depth.shape
    pred_depth = _predicted_depth(disp, gt_height, gt_width, protocol)

    mask = evaluation_mask(gt_depth, protocol)
    if not mask.any():
        raise EmptyMaskError(f"no ground-truth pixel passes the mask of protocol {protocol.name!r}")
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
    return gt, pred, ratio, mask


def aligned_depths(
    disp: np.ndarray, gt_depth: np.ndarray, protocol: Protocol, alignment: ScaleAlignment
) -> tuple[np.ndarray, np.ndarray, np.floating | None]:
    """The vectors one image is scored on: ``(gt (P,), pred (P,), median ratio or None)``.

    The GT map is re-sampled by the protocol's ``gt_transform`` (if any) to ``(H, W)``; ``disp``
    ``(h, w)`` is resized to that size, inverted, masked, scaled and clamped; ``gt`` holds the
    ``P`` GT depths that pass the protocol's mask.
    """
    gt, pred, ratio, _ = _aligned_with_mask(disp, gt_depth, protocol, alignment)
    return gt, pred, ratio


def _checked_region_masks(
    protocol: Protocol, region_masks: Mapping[str, Sequence[np.ndarray]] | None, count: int
) -> dict[str, Sequence[np.ndarray]]:
    wanted = [region for region in protocol.regions if region != FULL_REGION]
    given = dict(region_masks or {})
    if sorted(given) != sorted(wanted):
        raise ValueError(f"protocol {protocol.name!r} scores regions {wanted} besides the full image; "
                         f"got masks for {sorted(given)}")
    for region, masks in given.items():
        if len(masks) != count:
            raise ValueError(f"{len(masks)} {region!r} masks for {count} images")
    return given


@dataclass
class _RegionRows:
    indices: list[int] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def score(self, region: str, metric_count: int) -> RegionScore:
        per_image = np.array(self.rows, dtype=np.float64).reshape(len(self.rows), metric_count)
        mean = per_image.mean(0) if len(self.rows) else np.full(metric_count, np.nan)
        return RegionScore(region, np.array(self.indices, dtype=np.int64), per_image, mean,
                           np.array(self.counts, dtype=np.int64))


def score_depth(
    pred_disp: np.ndarray | Sequence[np.ndarray],
    gt_depths: Sequence[np.ndarray],
    protocol: Protocol,
    stereo_trained: bool,
    region_masks: Mapping[str, Sequence[np.ndarray]] | None = None,
    stereo_training_baseline: float = STANDARD_STEREO_BASELINE,
) -> DepthScore:
    """Score scaled disparities ``(N, h, w)`` (or N maps) against N GT depth maps ``(H_i, W_i)``.

    ``pred_disp`` are the disparities a model outputs after ``disp_to_depth`` (and after flip
    post-processing when the protocol asks for it). ``stereo_trained`` selects the protocol's
    scaling for the model's training modality, and ``stereo_training_baseline`` its stereo factor
    (see ``scaling_for``). ``region_masks`` maps each
    region the protocol names besides ``full`` to N masks at the prepared GT size (after
    ``gt_transform``); a pixel is in the region where its mask exceeds ``REGION_MASK_THRESHOLD``.
    Images with no valid pixel in a region are left out of that region's mean.
    """
    alignment = scaling_for(protocol, stereo_trained, stereo_training_baseline)
    if len(pred_disp) != len(gt_depths):
        raise ValueError(f"{len(pred_disp)} predictions for {len(gt_depths)} ground-truth maps")
    if len(gt_depths) == 0:
        raise ValueError("no images to score")
    masks_by_region = _checked_region_masks(protocol, region_masks, len(gt_depths))

    rows: list[list[float]] = []
    ratios: list[np.floating] = []
    counts: list[int] = []
    dropped: list[int] = []
    region_rows = {region: _RegionRows() for region in masks_by_region}
    for index, (disp, gt_depth) in enumerate(zip(pred_disp, gt_depths, strict=True)):
        try:
            gt, pred, ratio, mask = _aligned_with_mask(disp, gt_depth, protocol, alignment)
        except EmptyMaskError as error:
            if protocol.empty_images == "drop":
                dropped.append(index)
                continue
            raise EmptyMaskError(f"image {index}: {error}") from error
        except ValueError as error:
            raise ValueError(f"image {index}: {error}") from error
        if ratio is not None:
            ratios.append(ratio)
        counts.append(gt.size)
        errors = compute_depth_errors(gt, pred)
        rows.append([errors[name] for name in protocol.metrics])
        for region, masks in masks_by_region.items():
            region_mask = np.asarray(masks[index])
            if region_mask.shape != mask.shape:
                raise ValueError(f"image {index}: {region!r} mask has shape {region_mask.shape}, "
                                 f"the prepared GT map {mask.shape}")
            inside = region_mask[mask] > REGION_MASK_THRESHOLD
            if inside.any():
                region_errors = compute_depth_errors(gt[inside], pred[inside])
                region_rows[region].indices.append(index)
                region_rows[region].rows.append([region_errors[name] for name in protocol.metrics])
                region_rows[region].counts.append(int(inside.sum()))
    if not rows:
        raise ValueError(f"no image has a ground-truth pixel that passes the mask of protocol {protocol.name!r}")

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
        dropped_images=tuple(dropped),
        regions={region: collected.score(region, len(protocol.metrics)) for region, collected in region_rows.items()},
    )
