"""ManyDepth's multi-frame depth network and pose network against the recorded official outputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.nets.depth_decoder import DepthDecoder
from depthrepro.nets.pose_decoder import PoseDecoder
from depthrepro.nets.resnet import ResnetEncoder
from depthrepro.nets.resnet_matching import ResnetEncoderMatching

from fixturekit import (assert_discrete_matches, assert_keys_match_manifest, assert_matches,
                        assert_pose_matches, case_params, fill, manifest)

MATRIX_OUTPUTS = ("relative_pose_0_to_m1",)


@pytest.mark.parametrize("path", case_params("manydepth_depth"))
def test_multiframe_depth_network_matches_official(path: Path) -> None:
    """Discrete outputs (argmin, 0/1 mask) are compared by their fraction of mismatches."""
    case = torch.load(path, weights_only=True)
    meta, inputs = case["meta"], case["inputs"]
    height, width, batch = meta["height"], meta["width"], meta["batch"]
    assert inputs["current_image"].shape == (batch, 3, height, width)

    # The 96x320 manifest lists the grid shapes of case_a; other resolutions only share the keys.
    encoder = ResnetEncoderMatching(18, False, height, width, adaptive_bins=True,
                                    min_depth_bin=0.1, max_depth_bin=20.0,
                                    depth_binning="linear", num_depth_bins=96)
    decoder = DepthDecoder(encoder.num_ch_enc, range(4))
    spec = manifest("manydepth_depth")
    if (height, width) == (spec["cases"]["case_a"]["height"], spec["cases"]["case_a"]["width"]):
        assert_keys_match_manifest(encoder, "manydepth_depth", "encoder")
    else:
        assert list(encoder.state_dict()) == list(spec["modules"]["encoder"]["state_dict"])
    assert_keys_match_manifest(decoder, "manydepth_depth", "depth")
    grids = {k: v.clone() for k, v in encoder.state_dict().items() if k.startswith("backprojector")}
    fill(encoder, spec["modules"]["encoder"]["fill_skip_keys"])
    fill(decoder)
    for key, grid in grids.items():
        assert torch.equal(encoder.state_dict()[key], grid), f"{key}: must keep its built value"

    with torch.no_grad():
        features, lowest_cost, confidence_mask = encoder(
            inputs["current_image"], inputs["lookup_images"], inputs["poses"], inputs["K"],
            inputs["invK"], inputs["min_depth_bin"].item(), inputs["max_depth_bin"].item())
        mine: dict[Any, torch.Tensor] = dict(decoder(features))
    mine["lowest_cost"] = lowest_cost
    mine["confidence_mask"] = confidence_mask
    mine["depth_bins"] = encoder.depth_bins
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))

    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        expected = case["outputs"][key]
        if key in meta["discrete_outputs"]:
            assert_discrete_matches(mine[key], expected, f"{path.name} {key}")
        else:
            assert_matches(mine[key], expected, f"{path.name} {key}")


@pytest.mark.parametrize("path", case_params("manydepth_pose"))
def test_pose_network_matches_official(path: Path) -> None:
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    pair = torch.cat([case["inputs"]["frame_m1"], case["inputs"]["frame_0"]], 1)
    assert pair.shape == (meta["batch"], 6, meta["height"], meta["width"])

    encoder = ResnetEncoder(18, num_input_images=2)
    decoder = PoseDecoder(encoder.num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    assert_keys_match_manifest(encoder, "manydepth_pose", "pose_encoder")
    assert_keys_match_manifest(decoder, "manydepth_pose", "pose")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        axisangle, translation = decoder([encoder(pair)])
    mine = {"axisangle": axisangle, "translation": translation,
            "relative_pose_0_to_m1": transformation_from_parameters(
                axisangle[:, 0], translation[:, 0], invert=True)}

    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        expected = case["outputs"][key]
        check = assert_pose_matches if key in MATRIX_OUTPUTS else assert_matches
        check(mine[key], expected, f"{path.name} {key}")
