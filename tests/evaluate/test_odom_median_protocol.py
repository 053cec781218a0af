"""kitti_odom_mr_median: kitti_odom_mr with per-image median scaling, the full image's ratio also applied to
the dynamic region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthrepro.evaluate.protocols import ScalingRule, load_protocol
from depthrepro.evaluate.score import score_depth

PROTOCOLS = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"
OWN_TEXT = {"name", "description", "source", "notes", "unknown"}


def test_differs_from_kitti_odom_mr_only_in_scaling() -> None:
    metric, median = (load_protocol(name, PROTOCOLS).to_dict() for name in ("kitti_odom_mr", "kitti_odom_mr_median"))
    assert median["scaling"] == {"monocular": "median", "stereo": "median"}
    assert metric["scaling"] == {"monocular": "fixed", "stereo": "fixed"}
    differing = {key for key in metric if metric[key] != median[key]}
    assert differing - OWN_TEXT == {"scaling"}
    assert load_protocol("kitti_odom_mr_median", PROTOCOLS).scaling == ScalingRule("median", "median")


def test_the_dynamic_region_takes_the_full_images_scale() -> None:
    protocol = load_protocol("kitti_odom_mr_median", PROTOCOLS)
    gt = np.full((376, 1241), 10.0, dtype=np.float32)  # dense GT: every pixel of the centre crop is valid
    mask = np.zeros((256, 512), dtype=np.float32)
    mask[100:120, 200:240] = 1  # a moving object, a small part of the image
    pred_depth = np.full((256, 512), 5.0, dtype=np.float32)  # half the scale everywhere...
    pred_depth[mask > 0] = 10.0  # ...and twice as far on the moving object, relative to the rest
    score = score_depth([1 / pred_depth], [gt], protocol, stereo_trained=False, region_masks={"dynamic": [mask]})
    assert score.median_ratios.tolist() == pytest.approx([2.0])
    full = score.mean_dict()
    assert full["abs_rel"] == pytest.approx(mask.mean(), rel=1e-3)  # only the object's pixels are wrong (by 1.0)
    dynamic = dict(zip(score.metric_names, score.regions["dynamic"].mean, strict=True))
    assert dynamic["abs_rel"] == pytest.approx(1.0)  # the object keeps its error after scaling
    assert dynamic["a1"] == 0.0
    unscaled = score_depth([1 / pred_depth], [gt], load_protocol("kitti_odom_mr", PROTOCOLS), stereo_trained=False,
                           region_masks={"dynamic": [mask]})
    assert unscaled.mean_dict()["abs_rel"] == pytest.approx(0.5, abs=0.01)  # the unknown scale, measured
