"""Monodepth2 depth and pose networks against the official outputs recorded in the fixtures."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.geometry.camera import disp_to_depth
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.nets.depth_decoder import DepthDecoder
from depthrepro.nets.pose_decoder import PoseDecoder
from depthrepro.nets.resnet import ResnetEncoder

from fixturekit import assert_keys_match_manifest, assert_matches, assert_pose_matches, case_params, fill

MATRIX_OUTPUTS = ("cam_T_cam", "cam_T_cam_inverted")


@pytest.mark.parametrize("path", case_params("monodepth2_depth"))
def test_depth_network_matches_official(path: Path) -> None:
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    color = case["inputs"]["color"]
    assert color.shape == (meta["batch"], 3, meta["height"], meta["width"])

    encoder = ResnetEncoder(18)
    decoder = DepthDecoder(encoder.num_ch_enc, range(4))
    assert_keys_match_manifest(encoder, "monodepth2_depth", "encoder")
    assert_keys_match_manifest(decoder, "monodepth2_depth", "depth")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        features = encoder(color)
        mine: dict[Any, torch.Tensor] = dict(decoder(features))
    mine[("depth", 0)] = disp_to_depth(mine[("disp", 0)], 0.1, 100.0)[1]
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))

    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        assert_matches(mine[key], case["outputs"][key], f"{path.name} {key}")


@pytest.mark.parametrize("path", case_params("monodepth2_pose"))
def test_pose_network_matches_official(path: Path) -> None:
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    pair = torch.cat([case["inputs"]["frame_a"], case["inputs"]["frame_b"]], 1)
    assert pair.shape == (meta["batch"], 6, meta["height"], meta["width"])

    encoder = ResnetEncoder(18, num_input_images=2)
    decoder = PoseDecoder(encoder.num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    assert_keys_match_manifest(encoder, "monodepth2_pose", "pose_encoder")
    assert_keys_match_manifest(decoder, "monodepth2_pose", "pose")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        features = encoder(pair)
        axisangle, translation = decoder([features])
    mine: dict[Any, torch.Tensor] = {
        "axisangle": axisangle,
        "translation": translation,
        "cam_T_cam": transformation_from_parameters(axisangle[:, 0], translation[:, 0]),
        "cam_T_cam_inverted": transformation_from_parameters(
            axisangle[:, 0], translation[:, 0], invert=True),
    }
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))

    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        expected = case["outputs"][key]
        check = assert_pose_matches if key in MATRIX_OUTPUTS else assert_matches
        check(mine[key], expected, f"{path.name} {key}")
