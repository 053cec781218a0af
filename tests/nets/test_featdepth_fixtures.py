"""FeatDepth depth, pose and FeatureNet networks against the official outputs recorded in the fixtures."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.nets.feature_net import FeatureEncoder, ReconstructionDecoder
from depthrepro.nets.featdepth_depth import CRPDepthDecoder
from depthrepro.nets.featdepth_pose import SinglePoseDecoder
from depthrepro.nets.resnet import ResnetEncoder

from fixturekit import assert_keys_match_manifest, assert_matches, case_params, fill, load_case


def check_outputs(mine: dict[Any, torch.Tensor], case: dict[str, Any], path: Path) -> None:
    meta = case["meta"]
    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        assert_matches(mine[key], case["outputs"][key], f"{path.name} {key}")


@pytest.mark.parametrize("path", case_params("featdepth_depth"))
def test_depth_network_matches_official(path: Path) -> None:
    case = load_case(path)
    meta = case["meta"]
    color = case["inputs"]["color"]
    assert color.shape == (meta["batch"], 3, meta["height"], meta["width"])

    encoder = ResnetEncoder(50)
    decoder = CRPDepthDecoder(encoder.num_ch_enc)
    assert_keys_match_manifest(encoder, "featdepth_depth", "DepthEncoder")
    assert_keys_match_manifest(decoder, "featdepth_depth", "DepthDecoder")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        features = encoder(color)
        mine: dict[Any, torch.Tensor] = dict(decoder(features))
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))
    assert mine[("disp", 0, 0)].shape[-2:] == (meta["height"] // 2, meta["width"] // 2)
    check_outputs(mine, case, path)


@pytest.mark.parametrize("path", case_params("featdepth_pose"))
def test_pose_network_matches_official(path: Path) -> None:
    case = load_case(path)
    meta = case["meta"]
    pair = torch.cat([case["inputs"]["frame_a"], case["inputs"]["frame_b"]], 1)
    assert pair.shape == (meta["batch"], 6, meta["height"], meta["width"])

    encoder = ResnetEncoder(18, num_input_images=2)
    decoder = SinglePoseDecoder(encoder.num_ch_enc)
    assert_keys_match_manifest(encoder, "featdepth_pose", "PoseEncoder")
    assert_keys_match_manifest(decoder, "featdepth_pose", "PoseDecoder")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        features = encoder(pair)
        axisangle, translation = decoder(features)
    mine: dict[Any, torch.Tensor] = {"axisangle": axisangle, "translation": translation}
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))
    check_outputs(mine, case, path)


@pytest.mark.parametrize("path", case_params("featdepth_autoencoder"))
def test_feature_net_matches_official(path: Path) -> None:
    case = load_case(path)
    meta = case["meta"]
    color = case["inputs"]["color"]
    assert color.shape == (meta["batch"], 3, meta["height"], meta["width"])

    encoder = FeatureEncoder(50)
    decoder = ReconstructionDecoder(encoder.num_ch_enc)
    assert_keys_match_manifest(encoder, "featdepth_autoencoder", "Encoder")
    assert_keys_match_manifest(decoder, "featdepth_autoencoder", "Decoder")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        features = encoder(color)
        recon = decoder(features)
    mine: dict[Any, torch.Tensor] = {("disp", 0, s): image for s, image in recon.items()}
    mine["feature0_first8ch"] = features[0][:, :8]
    for i, feature in enumerate(features):
        mine[("feat_chanmean", i)] = feature.mean(dim=(2, 3))
    check_outputs(mine, case, path)
