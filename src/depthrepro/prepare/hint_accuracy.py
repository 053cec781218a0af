"""Depth hints against exact depth, apples to apples: the fused hint and each single SGBM matcher on one pixel set.

Every hint map covers different pixels: a matcher with 160 disparities answers nothing in the first 160
columns (seen from the base camera) or wherever its uniqueness and speckle checks reject the match, a
matcher with 64 disparities answers there but cannot reach disparities above 64 (near objects); the
fused hint takes, per pixel, whichever of the 12 the photometric error prefers, so it answers wherever
any matcher does. Each map's abs_rel over its own valid pixels therefore measures different pixels for
each map: maps that abstain where matching is hard look better. The comparison that decides which map is
more accurate is on the ``common`` pixels, where the ground truth and all 13 maps are valid; the own-pixel
abs_rel and the coverage are reported beside it.

All depths are in the hints' units (``fx · 0.1 / disparity``); the caller converts the ground truth
(exact depth in metres × ``0.1 / baseline``, on the hints' pixel grid) and chooses the depth cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from depthrepro.prepare.depth_hints import HINT_BASELINE, MATCHER_PARAMS, hint_focal_length

FUSED = "fused"
MATCHER_NAMES: tuple[str, ...] = tuple(f"block {p['blockSize']}, {p['numDisparities']} disparities"
                                       for p in MATCHER_PARAMS)
"""Names of the single matchers, in ``MATCHER_PARAMS`` order."""


def depth_in_hint_units(depth_m: np.ndarray, fx_grid: float, width: int, baseline_m: float) -> np.ndarray:
    """Exact depth (metres) on the hints' ``width``-wide pixel grid, whose true focal length is ``fx_grid``
    pixels, in the units of hints computed with focal ``hint_focal_length(width)`` and ``HINT_BASELINE``
    from a rig of baseline ``baseline_m``."""
    return depth_m * (hint_focal_length(width) / fx_grid) * (HINT_BASELINE / baseline_m)


@dataclass
class HintAccuracy:
    """Running sums of |hint - gt| / gt over the images added; ``summary()`` gives the means.

    ``max_depth`` (hint units) caps the ground truth, as evaluation protocols cap it (80 m on KITTI).
    """

    max_depth: float = np.inf
    images: int = 0
    gt_pixels: int = 0
    common_pixels: int = 0
    own_error: np.ndarray = field(default_factory=lambda: np.zeros(1 + len(MATCHER_PARAMS)))
    own_pixels: np.ndarray = field(default_factory=lambda: np.zeros(1 + len(MATCHER_PARAMS), np.int64))
    common_error: np.ndarray = field(default_factory=lambda: np.zeros(1 + len(MATCHER_PARAMS)))

    def add(self, fused: np.ndarray, candidates: np.ndarray, gt: np.ndarray) -> None:
        """One hint: ``fused`` (H, W), the 12 matchers' ``candidates`` (12, H, W), ``gt`` (H, W); 0 = no depth."""
        maps = np.concatenate([np.asarray(fused, np.float64)[None], np.asarray(candidates, np.float64)])
        gt = np.asarray(gt, np.float64)
        if maps.shape != (1 + len(MATCHER_PARAMS), *gt.shape):
            raise ValueError(f"expected a fused hint and {len(MATCHER_PARAMS)} candidates of the ground truth's "
                             f"shape {gt.shape}, got fused {np.shape(fused)} and candidates {np.shape(candidates)}")
        truth = np.isfinite(gt) & (gt > 0) & (gt <= self.max_depth)
        valid = (maps > 0) & truth
        common = valid.all(axis=0)
        error = np.abs(maps - gt) / np.where(truth, gt, 1.0)
        self.images += 1
        self.gt_pixels += int(truth.sum())
        self.common_pixels += int(common.sum())
        self.own_pixels += valid.sum(axis=(1, 2))
        self.own_error += np.where(valid, error, 0.0).sum(axis=(1, 2))
        self.common_error += np.where(common, error, 0.0).sum(axis=(1, 2))

    def summary(self) -> dict:
        """Per map: abs_rel on the common pixels, on its own valid pixels, and coverage of the ground truth;
        the best single matcher by each abs_rel, and whether the fused hint is below it."""
        if self.common_pixels == 0:
            raise ValueError(f"no pixel where the ground truth and all {1 + len(MATCHER_PARAMS)} hint maps are "
                             f"valid, over {self.images} images")
        rows = {}
        for index, name in enumerate((FUSED, *MATCHER_NAMES)):
            own = self.own_error[index] / self.own_pixels[index] if self.own_pixels[index] else float("nan")
            rows[name] = {"abs_rel_common": float(self.common_error[index] / self.common_pixels),
                          "abs_rel_own": float(own),
                          "coverage": float(self.own_pixels[index] / self.gt_pixels)}
        singles = {name: rows[name] for name in MATCHER_NAMES}
        best_common = min(singles, key=lambda n: singles[n]["abs_rel_common"])
        best_own = min(singles, key=lambda n: singles[n]["abs_rel_own"])
        return {
            "images": self.images,
            "gt_pixels": self.gt_pixels,
            "common_pixels": self.common_pixels,
            "max_depth_hint_units": float(self.max_depth),
            "maps": rows,
            "best_single_common": best_common,
            "best_single_own": best_own,
            "fused_below_best_single_common": rows[FUSED]["abs_rel_common"] < singles[best_common]["abs_rel_common"],
            "fused_below_best_single_own": rows[FUSED]["abs_rel_own"] < singles[best_own]["abs_rel_own"],
        }


def format_summary(summary: dict) -> str:
    """The table ``summary()`` describes, as plain text lines."""
    lines = [f"{'map':28s} {'abs_rel common':>15s} {'abs_rel own':>12s} {'coverage':>9s}"]
    for name, row in summary["maps"].items():
        marks = [m for m, key in (("best common", "best_single_common"), ("best own", "best_single_own"))
                 if summary[key] == name]
        lines.append(f"{name:28s} {row['abs_rel_common']:15.4f} {row['abs_rel_own']:12.4f} "
                     f"{row['coverage']:9.3f}  {', '.join(marks)}".rstrip())
    lines.append(f"{summary['images']} hints, {summary['common_pixels']} common of {summary['gt_pixels']} "
                 f"ground-truth pixels; fused below the best single matcher: common pixels "
                 f"{summary['fused_below_best_single_common']}, own pixels {summary['fused_below_best_single_own']}")
    return "\n".join(lines)
