"""Protocol loading and validation, scale selection by training modality, masks and score output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from depthrepro.evaluate.metrics import METRIC_NAMES
from depthrepro.evaluate.protocols import (
    Protocol,
    ProtocolError,
    ScaleAlignment,
    list_protocols,
    load_protocol,
    scaling_for,
)
from depthrepro.evaluate.score import crop_bounds, evaluation_mask, score_depth

PROTOCOLS_YAML = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"


def _protocol(name: str) -> Protocol:
    return load_protocol(name, PROTOCOLS_YAML)


def test_every_shipped_protocol_loads_with_official_metric_order_first() -> None:
    names = list_protocols(PROTOCOLS_YAML)
    assert {"kitti_eigen", "kitti_eigen_benchmark", "kitti_eigen_benchmark_capped"} <= set(names)
    for name in names:
        protocol = _protocol(name)
        assert protocol.metrics[:7] == METRIC_NAMES
        assert protocol.source and protocol.notes
        assert json.loads(json.dumps(protocol.to_dict()))["name"] == name


def test_the_three_kitti_variants_differ_where_the_anchors_differ() -> None:
    names = ("kitti_eigen", "kitti_eigen_benchmark", "kitti_eigen_benchmark_capped")
    eigen, benchmark, capped = (_protocol(name) for name in names)
    assert (eigen.gt_source, eigen.crop, eigen.mask) == ("velodyne", "garg", "range_and_crop")
    assert (benchmark.gt_source, benchmark.crop, benchmark.mask) == ("annotated", "none", "gt_positive")
    assert benchmark.crop_fractions is None
    assert (capped.gt_source, capped.crop, capped.mask) == ("annotated", "garg", "range_and_crop")
    assert (eigen.expected_images, benchmark.expected_images) == (697, 652)
    assert _protocol("kitti_eigen_pp").post_process and not eigen.post_process


def test_garg_crop_bounds_truncate_like_monodepth2() -> None:
    fractions = _protocol("kitti_eigen").crop_fractions
    assert crop_bounds(fractions, 375, 1242).tolist() == [153, 371, 44, 1197]
    assert crop_bounds(fractions, 370, 1226).tolist() == [151, 366, 44, 1181]


def test_scaling_follows_training_modality() -> None:
    protocol = _protocol("kitti_eigen")
    assert scaling_for(protocol, trained_with_stereo=True) == ScaleAlignment("fixed", 5.4)
    assert scaling_for(protocol, trained_with_stereo=False) == ScaleAlignment("median", 1.0)
    with pytest.raises(TypeError):
        scaling_for(protocol, "stereo")  # type: ignore[arg-type]


def test_masks_on_a_small_map() -> None:
    gt = np.zeros((20, 30), dtype=np.float32)
    gt[0, 0] = 5.0  # outside the crop
    gt[15, 15] = 90.0  # beyond max_depth
    gt[16, 16] = 10.0
    assert evaluation_mask(gt, _protocol("kitti_eigen_benchmark")).sum() == 3
    capped = evaluation_mask(gt, _protocol("kitti_eigen_benchmark_capped"))
    assert np.argwhere(capped).tolist() == [[16, 16]]


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _document() -> dict:
    return yaml.safe_load(PROTOCOLS_YAML.read_text())


def test_unknown_name_names_file_and_choices() -> None:
    with pytest.raises(ProtocolError, match=r"protocols\.yaml.*'kitti_eigne'.*kitti_eigen"):
        _protocol("kitti_eigne")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.pop("crop"), r"protocols\.kitti_eigen: missing key\(s\) \['crop'\]"),
        (lambda e: e.update(max_dpeth=80), r"unknown key\(s\) \['max_dpeth'\]"),
        (lambda e: e.update(mask="crop_only"), r"'mask' must be one of"),
        (lambda e: e.update(scaling={"monocular": "median"}), r"'scaling' must be a mapping"),
        (lambda e: e.update(metrics=["abs_rel", "silog"]), r"'metrics' must be"),
        (lambda e: e.update(crop="eigen"), r"crop 'eigen' is neither"),
        (lambda e: e.update(post_process="yes"), r"'post_process' must be true or false"),
    ],
)
def test_invalid_entries_are_rejected_with_the_key(
    tmp_path: Path, edit: Callable[[dict], object], message: str
) -> None:
    document = _document()
    edit(document["protocols"]["kitti_eigen"])
    with pytest.raises(ProtocolError, match=message):
        load_protocol("kitti_eigen", _write(tmp_path, document))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="nowhere.yaml"):
        load_protocol("kitti_eigen", tmp_path / "nowhere.yaml")


def test_score_depth_json_carries_protocol_and_scaling() -> None:
    rng = np.random.default_rng(0)
    gt = np.where(rng.random((40, 120)) < 0.3, rng.uniform(2, 60, (40, 120)), 0).astype(np.float32)
    disp = rng.uniform(0.05, 0.5, (2, 16, 48)).astype(np.float32)
    protocol = _protocol("kitti_eigen")
    mono = score_depth(disp, [gt, gt], protocol, stereo_trained=False)
    stereo = score_depth(disp, [gt, gt], protocol, stereo_trained=True)
    assert mono.per_image.shape == (2, len(protocol.metrics))
    assert mono.median_ratios is not None and stereo.median_ratios is None
    assert not np.allclose(mono.mean, stereo.mean)
    record = json.loads(json.dumps(stereo.to_json_dict()))
    assert record["protocol"]["name"] == "kitti_eigen"
    assert record["scaling"] == {"kind": "fixed", "factor": 5.4}
    assert record["mean"]["abs_rel"] == pytest.approx(stereo.mean_dict()["abs_rel"])
    assert record["valid_counts"] == stereo.valid_counts.tolist()


def test_score_depth_rejects_count_mismatch_and_empty_masks() -> None:
    protocol = _protocol("kitti_eigen")
    disp = np.full((1, 8, 8), 0.1, dtype=np.float32)
    with pytest.raises(ValueError, match="1 predictions for 2"):
        score_depth(disp, [np.ones((20, 30))] * 2, protocol, stereo_trained=False)
    with pytest.raises(ValueError, match="image 0: no ground-truth pixel"):
        score_depth(disp, [np.zeros((20, 30))], protocol, stereo_trained=False)


def test_stereo_scale_follows_the_models_training_baseline() -> None:
    """0.54 m rig: ×5.4 for the standard 0.1 baseline, ×36 for FeatDepth's 0.015; monocular unaffected."""
    protocol = load_protocol("kitti_eigen", PROTOCOLS_YAML)
    assert scaling_for(protocol, True).factor == pytest.approx(5.4)
    assert scaling_for(protocol, True, 0.015).factor == pytest.approx(36.0)
    assert scaling_for(protocol, False, 0.015).factor == 1.0
    with pytest.raises(ValueError, match="training_baseline must be positive"):
        scaling_for(protocol, True, 0.0)
