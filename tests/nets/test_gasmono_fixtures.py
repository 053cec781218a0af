"""GasMono's MPViT depth network, residual PoseNet and AlignNet against the recorded official outputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.geometry.coarse_pose import align_coarse_pose
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.nets.gasmono_decoder import GasMonoDepthDecoder
from depthrepro.nets.gasmono_pose import PoseDecoder, TransDecoder
from depthrepro.nets.mpvit import mpvit_small
from depthrepro.nets.resnet import ResnetEncoder

from fixturekit import (assert_keys_match_manifest, assert_matches, assert_pose_matches, case_params, fill,
                        manifest)

MATRIX_OUTPUTS = ("cam_T_cam", "cam_T_cam_inverted", "T_aligned", "T_aligned_inverted")


pytestmark = pytest.mark.usefixtures("one_thread")


def _compare(case: dict[str, Any], mine: dict[Any, torch.Tensor], name: str) -> None:
    meta = case["meta"]
    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        check = assert_pose_matches if key in MATRIX_OUTPUTS else assert_matches
        check(mine[key], case["outputs"][key], f"{name} {key}")


def test_mpvit_ties_position_encodings_as_the_manifest_lists() -> None:
    """Every official alias group is one shared tensor here, so checkpoints load tied."""
    encoder = mpvit_small()
    state = encoder.state_dict()
    groups = manifest("gasmono_depth")["modules"]["encoder"]["alias_groups"]
    assert len(groups) == 88
    for group in groups:
        pointers = {state[key].data_ptr() for key in group}
        assert len(pointers) == 1, f"alias group not tied: {group}"
    tied = {key for group in groups for key in group}
    untied = [k for k in state if k not in tied]
    assert len({state[k].data_ptr() for k in untied if state[k].numel()}) == len(
        [k for k in untied if state[k].numel()])


@pytest.mark.parametrize("path", case_params("gasmono_depth"))
def test_depth_network_matches_official(path: Path) -> None:
    case = torch.load(path, weights_only=True)
    meta, color = case["meta"], case["inputs"]["color"]
    assert color.shape == (meta["batch"], 3, meta["height"], meta["width"])

    encoder = mpvit_small()
    decoder = GasMonoDepthDecoder(encoder.num_ch_enc)
    assert encoder.num_ch_enc == [64, 128, 216, 288, 288]
    assert_keys_match_manifest(encoder, "gasmono_depth", "encoder")
    assert_keys_match_manifest(decoder, "gasmono_depth", "depth")
    fill(encoder)
    fill(decoder)
    filled = encoder.state_dict()
    for group in manifest("gasmono_depth")["modules"]["encoder"]["alias_groups"]:
        # every alias carries the values generated for its group's first key
        assert all(torch.equal(filled[k], filled[min(group)]) for k in group), group

    with torch.no_grad():
        features = encoder(color)
        mine: dict[Any, torch.Tensor] = dict(decoder(features))
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))
    for s in range(4):
        assert mine[("disp", s)].shape == (meta["batch"], 1, meta["height"], meta["width"])
    _compare(case, mine, path.name)


@pytest.mark.parametrize("path", case_params("gasmono_pose"))
def test_residual_pose_network_matches_official(path: Path) -> None:
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    pair = torch.cat([case["inputs"]["frame_a"], case["inputs"]["frame_b"]], 1)
    assert pair.shape == (meta["batch"], 6, meta["height"], meta["width"])

    encoder = ResnetEncoder(18, num_input_images=2)
    decoder = PoseDecoder(encoder.num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    assert_keys_match_manifest(encoder, "gasmono_pose", "pose_encoder")
    assert_keys_match_manifest(decoder, "gasmono_pose", "pose")
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        axisangle, translation, scalor = decoder([encoder(pair)])
    mine = {"axisangle": axisangle, "translation": translation, "scalor": scalor,
            "cam_T_cam": transformation_from_parameters(axisangle[:, 0], translation[:, 0]),
            "cam_T_cam_inverted": transformation_from_parameters(axisangle[:, 0], translation[:, 0],
                                                                 invert=True)}
    _compare(case, mine, path.name)


@pytest.mark.parametrize("path", case_params("gasmono_alignnet"))
def test_alignnet_matches_official(path: Path) -> None:
    case = torch.load(path, weights_only=True)
    meta, inputs = case["meta"], case["inputs"]
    pair = torch.cat([inputs["frame_a"], inputs["frame_b"]], 1)
    assert pair.shape == (meta["batch"], 6, meta["height"], meta["width"])

    encoder = ResnetEncoder(18, num_input_images=2)
    decoder = TransDecoder(encoder.num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    assert_keys_match_manifest(encoder, "gasmono_alignnet", "trans_encoder")
    assert_keys_match_manifest(decoder, "gasmono_alignnet", "trans")
    fill(encoder)
    fill(decoder)
    coarse = inputs["pose_gt"].clone()
    with torch.no_grad():
        translation, scalor = decoder([encoder(pair)])
    mine = {"translation": translation, "scalor": scalor,
            "T_aligned": align_coarse_pose(coarse, scalor[:, 0], translation[:, 0]),
            "T_aligned_inverted": align_coarse_pose(coarse, scalor[:, 0], translation[:, 0], invert=True)}
    assert torch.equal(coarse, inputs["pose_gt"]), "the coarse pose must not be modified"
    _compare(case, mine, path.name)
