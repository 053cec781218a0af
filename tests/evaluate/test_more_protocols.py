"""NYUv2, EPCDepth, KITTI-odometry and pose protocols on hand-made arrays: crops, GT re-sampling,
masks, no scaling, dynamic regions with images dropped, stubs that refuse to score."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from depthrepro.evaluate.gt_transforms import resize_nearest, window
from depthrepro.io.kitti_odometry import centre_crop_sparse
from depthrepro.evaluate.pose_ate import SNIPPET_TRACK_LENGTH
from depthrepro.evaluate.pose_protocols import COMPUTED_POSE_METRICS, list_pose_protocols, load_pose_protocol
from depthrepro.evaluate.protocols import (
    Protocol,
    ProtocolError,
    ScaleAlignment,
    ScalingRule,
    list_protocol_stubs,
    list_protocols,
    load_protocol,
)
from depthrepro.evaluate.score import EmptyMaskError, aligned_depths, evaluation_mask, score_depth

PROTOCOLS_YAML = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"
NEW_PROTOCOLS = ("kitti_eigen_epcdepth", "nyuv2", "nyuv2_gasmono_released", "nyuv2_epcdepth", "kitti_odom_mr")
UNSCALED = ScaleAlignment("fixed", 1.0)


def _protocol(name: str) -> Protocol:
    return load_protocol(name, PROTOCOLS_YAML)


def test_new_protocols_are_defined() -> None:
    assert set(NEW_PROTOCOLS) <= set(list_protocols(PROTOCOLS_YAML))
    nyu, released, epc = _protocol("nyuv2"), _protocol("nyuv2_gasmono_released"), _protocol("nyuv2_epcdepth")
    assert nyu.expected_images == released.expected_images == epc.expected_images == 654
    assert (nyu.crop_pixels, nyu.crop_image_size, nyu.crop_fractions) == ((45, 471, 41, 601), (480, 640), None)
    assert (released.crop, released.mask) == ("none", "gt_positive")
    assert epc.gt_transform is not None and epc.gt_transform.window == (44, 471, 40, 601)
    assert (epc.resize, epc.post_process, epc.clamp) == ("depth", True, (0.1, 10.0))
    for protocol in (nyu, released, epc):
        assert protocol.scaling == ScalingRule("median", "median") and "log10" in protocol.metrics
    odom = _protocol("kitti_odom_mr")
    assert (odom.regions, odom.empty_images) == (("full", "dynamic"), "drop")
    assert odom.scaling == ScalingRule("fixed", "fixed")
    assert odom.stereo_scale == 1.0 and odom.max_depth == 80.0
    assert json.loads(json.dumps(odom.to_dict()))["gt_transform"]["output_size"] == [256, 512]


def test_nyu_eigen_crop_keeps_exact_pixel_bounds() -> None:
    protocol = _protocol("nyuv2")
    gt = np.full((480, 640), 5.0, dtype=np.float32)
    mask = evaluation_mask(gt, protocol)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (45, 471, 41, 601)
    gt[100, 100], gt[101, 101], gt[102, 102], gt[103, 103] = 10.0, 9.99, 0.1, 0.11  # 0.1 < gt < 10, strict
    mask = evaluation_mask(gt, protocol)
    assert not mask[100, 100] and mask[101, 101] and not mask[102, 102] and mask[103, 103]
    with pytest.raises(ValueError, match=r"pixels of \(480, 640\)"):
        evaluation_mask(np.ones((240, 320), dtype=np.float32), protocol)


def test_gasmono_released_scores_every_positive_pixel_without_cap() -> None:
    protocol = _protocol("nyuv2_gasmono_released")
    gt = np.zeros((480, 640), dtype=np.float32)
    gt[0, 0], gt[479, 639], gt[200, 300] = 2.0, 50.0, 4.0  # corners are outside the Eigen crop; 50 m is uncapped
    assert evaluation_mask(gt, protocol).sum() == 3
    disp = np.full((240, 320), 1.0, dtype=np.float32)  # depth 1 m everywhere
    gt_vec, pred, ratio = aligned_depths(disp, gt, protocol, ScaleAlignment("median", 1.0))
    assert ratio == pytest.approx(4.0)
    np.testing.assert_allclose(pred, [4.0, 4.0, 4.0])  # median-scaled, inside the [0.1, 10] clamp
    _, pred, _ = aligned_depths(disp * 0.01, gt, protocol, UNSCALED)
    np.testing.assert_allclose(pred, [10.0, 10.0, 10.0])  # 100 m clamped to 10


def test_epcdepth_nyu_windows_gt_and_resizes_depth_not_disparity() -> None:
    protocol = dataclasses.replace(_protocol("nyuv2_epcdepth"), scaling=ScalingRule("fixed", "fixed"))
    gt = np.zeros((480, 640), dtype=np.float32)
    gt[44, 40], gt[470, 600], gt[43, 40], gt[44, 39], gt[471, 600] = 1.0, 2.0, 3.0, 4.0, 5.0
    gt[44 + 200, 40 + 333] = 6.0
    np.testing.assert_array_equal(window(gt, (44, 471, 40, 601), (480, 640))[[0, -1], [0, -1]], [1.0, 2.0])
    disp = np.tile(np.geomspace(0.1, 2.0, 96, dtype=np.float32), (72, 1))
    gt_vec, pred, ratio = aligned_depths(disp, gt, protocol, UNSCALED)
    assert ratio is None and gt_vec.tolist() == [1.0, 6.0, 2.0]  # only the pixels inside the window
    expected_depth = cv2.resize(1 / disp, (561, 427))
    rows, cols = [0, 200, 426], [0, 333, 560]
    np.testing.assert_allclose(pred, np.clip(expected_depth[rows, cols], 0.1, 10.0), rtol=1e-6)
    as_disparity = 1 / cv2.resize(disp, (561, 427))
    assert not np.isclose(expected_depth[200, 333], as_disparity[200, 333], rtol=1e-4)  # the orders differ here


def test_resize_nearest_samples_pixel_centres() -> None:
    source = np.arange(3, dtype=np.float32)[:, None] * 10 + np.arange(4, dtype=np.float32)[None, :]
    out = resize_nearest(source, (5, 6))
    # rows floor((i + 0.5) * 3 / 5) = 0, 0, 1, 2, 2; columns floor((j + 0.5) * 4 / 6) = 0, 1, 1, 2, 3, 3
    np.testing.assert_array_equal(out[:, 0], [0, 0, 10, 20, 20])
    np.testing.assert_array_equal(out[0], [0, 1, 1, 2, 3, 3])
    np.testing.assert_array_equal(resize_nearest(source, (3, 4)), source)


def test_epcdepth_kitti_protocol_resizes_gt_before_the_garg_crop() -> None:
    protocol = _protocol("kitti_eigen_epcdepth")
    assert protocol.gt_transform is not None and protocol.gt_transform.output_size == (375, 1242)
    gt = np.zeros((370, 1226), dtype=np.float32)
    gt[300, 600] = 20.0
    gt_vec, pred, _ = aligned_depths(np.full((192, 640), 0.1, dtype=np.float32), gt, protocol,
                                     ScaleAlignment("fixed", 5.4))
    # one source pixel covers one or two output rows/columns after nearest up-sampling to 375x1242
    assert 1 <= gt_vec.size <= 4 and set(gt_vec.tolist()) == {20.0}
    np.testing.assert_allclose(pred, 54.0, rtol=1e-6)


def test_centre_crop_sparse_moves_valid_pixels_like_the_monorec_loader() -> None:
    gt = np.zeros((376, 1241), dtype=np.float32)
    gt[0, 244], gt[375, 996], gt[188, 620] = 5.0, 7.0, 9.0  # crop box columns [244, 997) for 1241x376
    gt[10, 243], gt[10, 997] = 3.0, 4.0  # just outside the crop
    out = centre_crop_sparse(gt, (256, 512))
    assert out.shape == (256, 512) and np.count_nonzero(out) == 3
    assert out[0, 0] == 5.0
    assert out[255, 511] == 7.0  # round(375/376*256)=255, round(752/753*512)=511
    assert out[round(188 / 376 * 256), round((620 - 244) / 753 * 512)] == 9.0


def _odom_protocol() -> Protocol:
    """kitti_odom_mr on maps already at the scoring size (the GT transform is tested separately)."""
    return dataclasses.replace(_protocol("kitti_odom_mr"), gt_transform=None)


def test_kitti_odom_mr_has_no_scaling_and_caps_at_80m_inclusive() -> None:
    protocol = _odom_protocol()
    gt = np.zeros((8, 16), dtype=np.float32)
    gt[0, 0], gt[0, 1], gt[0, 2], gt[0, 3] = 80.0, 80.5, 10.0, 2.0
    disp = np.full((8, 16), 1 / 4.0, dtype=np.float32)
    disp[0, 2] = 1 / 200.0  # predicted 200 m is clipped to 80
    disp[0, 3] = 1 / 0.5  # predicted 0.5 m: no lower clamp
    score = score_depth(disp[None], [gt], protocol, stereo_trained=False,
                        region_masks={"dynamic": [np.zeros((8, 16), dtype=np.float32)]})
    assert score.alignment == ScaleAlignment("fixed", 1.0) and score.median_ratios is None
    assert score.valid_counts.tolist() == [3]  # 80 kept, 80.5 dropped
    gt_vec, pred, _ = aligned_depths(disp, gt, protocol, score.alignment)
    np.testing.assert_allclose(gt_vec, [80.0, 10.0, 2.0])
    np.testing.assert_allclose(pred, [4.0, 80.0, 0.5])


def test_dynamic_region_drops_images_without_moving_pixels_and_empty_images_are_dropped() -> None:
    protocol = _odom_protocol()
    rng = np.random.default_rng(0)
    gts = [np.where(rng.random((8, 16)) < 0.5, rng.uniform(2, 60, (8, 16)), 0).astype(np.float32) for _ in range(3)]
    gts.append(np.zeros((8, 16), dtype=np.float32))  # no valid GT: dropped from everything
    disp = rng.uniform(0.02, 0.4, (4, 8, 16)).astype(np.float32)
    moving = [np.zeros((8, 16), dtype=np.float32) for _ in range(4)]
    moving[0][:, :8] = 1.0
    moving[2][2:6, 4:12] = 0.6  # above the 0.5 threshold
    moving[1][:, :] = 0.5  # not above it: no dynamic pixel in image 1
    score = score_depth(disp, gts, protocol, stereo_trained=False, region_masks={"dynamic": moving})
    assert score.dropped_images == (3,) and score.per_image.shape[0] == 3
    dynamic = score.regions["dynamic"]
    assert dynamic.image_indices.tolist() == [0, 2]
    expected_counts = [int(np.count_nonzero((gts[i] > 0) & (moving[i] > 0.5))) for i in (0, 2)]
    assert dynamic.valid_counts.tolist() == expected_counts
    only_dynamic = [np.where(moving[i] > 0.5, gts[i], 0) for i in (0, 2)]
    direct = score_depth(disp[[0, 2]], only_dynamic, protocol, stereo_trained=False,
                         region_masks={"dynamic": [np.zeros((8, 16))] * 2})
    np.testing.assert_allclose(dynamic.mean, direct.mean, rtol=1e-12)
    assert not np.allclose(dynamic.mean, score.mean)
    record = json.loads(json.dumps(score.to_json_dict()))
    assert record["dropped_images"] == [3] and record["regions"]["dynamic"]["image_indices"] == [0, 2]
    assert record["num_images"] == 3


def test_region_masks_must_match_the_protocol() -> None:
    gt = np.full((8, 16), 5.0, dtype=np.float32)
    disp = np.full((1, 8, 16), 0.2, dtype=np.float32)
    with pytest.raises(ValueError, match="scores regions \\['dynamic'\\]"):
        score_depth(disp, [gt], _odom_protocol(), stereo_trained=False)
    with pytest.raises(ValueError, match="got masks for \\['dynamic'\\]"):
        score_depth(disp, [np.ones((20, 30))], _protocol("kitti_eigen_benchmark"), stereo_trained=False,
                    region_masks={"dynamic": [np.ones((20, 30))]})
    with pytest.raises(ValueError, match="mask has shape"):
        score_depth(disp, [gt], _odom_protocol(), stereo_trained=False, region_masks={"dynamic": [np.ones((4, 4))]})


def test_protocols_that_do_not_drop_empty_images_still_fail() -> None:
    with pytest.raises(EmptyMaskError, match="image 0: no ground-truth pixel"):
        score_depth(np.full((1, 8, 8), 0.1, dtype=np.float32), [np.zeros((20, 30))], _protocol("kitti_eigen"),
                    stereo_trained=False)


def test_stubs_refuse_to_score_and_say_what_is_unknown() -> None:
    stubs = list_protocol_stubs(PROTOCOLS_YAML)
    assert {"scannet_p2net", "sevenscenes_gasmono"} <= set(stubs)
    assert not set(stubs) & set(list_protocols(PROTOCOLS_YAML))
    for name, entry in stubs.items():
        assert entry["unknown"] and entry["source"]
        with pytest.raises(ProtocolError, match=f"protocol_stubs.{name} cannot score.*unknown"):
            load_protocol(name, PROTOCOLS_YAML)


def test_pose_protocols() -> None:
    names = list_pose_protocols(PROTOCOLS_YAML)
    assert {"kitti_odom_pose", "kitti_odom_segments_featdepth"} <= set(names)
    pose = load_pose_protocol("kitti_odom_pose", PROTOCOLS_YAML)
    assert pose.snippet_length == SNIPPET_TRACK_LENGTH
    assert pose.alignment == {"snippet": "first_point_and_scale", "trajectory": "sim3"}
    assert set(pose.metrics) <= set(COMPUTED_POSE_METRICS) and pose.sequences == ("09", "10")
    segments = load_pose_protocol("kitti_odom_segments_featdepth", PROTOCOLS_YAML)
    assert segments.metrics == ("t_err", "r_err") and segments.unknown
    assert segments.segment_lengths_m == (100, 200, 300, 400, 500, 600, 700, 800)
    with pytest.raises(ProtocolError, match="unknown pose protocol 'kitti_eigen'"):
        load_pose_protocol("kitti_eigen", PROTOCOLS_YAML)


def _edited(tmp_path: Path, name: str, **changes: object) -> Path:
    document = yaml.safe_load(PROTOCOLS_YAML.read_text())
    document["protocols"][name].update(changes)
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("nyuv2_epcdepth", {"gt_transform": {"kind": "window", "window": [44, 471, 40, 601]}},
         r"gt_transform: kind 'window' takes exactly the keys"),
        ("nyuv2_epcdepth", {"gt_transform": {"kind": "window", "window": [44, 481, 40, 601], "image_size": [480, 640]}},
         r"top < bottom <= H"),
        ("kitti_odom_mr", {"regions": ["dynamic", "full"]}, r"'regions' must be a list starting with 'full'"),
        ("kitti_odom_mr", {"empty_images": "skip"}, r"'empty_images' must be one of"),
        ("nyuv2_epcdepth", {"resize": "nearest"}, r"'resize' must be one of"),
        ("nyuv2", {"unknown": "everything"}, r"'unknown' must be a list"),
    ],
)
def test_invalid_new_keys_are_rejected(tmp_path: Path, name: str, changes: dict, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        load_protocol(name, _edited(tmp_path, name, **changes))


def test_pixel_crop_outside_its_image_is_rejected(tmp_path: Path) -> None:
    document = yaml.safe_load(PROTOCOLS_YAML.read_text())
    document["crops"]["nyu_eigen"]["pixels"] = [45, 471, 41, 641]
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ProtocolError, match=r"crops.nyu_eigen.*left < right <= W"):
        load_protocol("nyuv2", path)
