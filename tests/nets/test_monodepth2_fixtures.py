"""Monodepth2 depth and pose networks against the official outputs recorded in the fixtures."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.geometry.camera import disp_to_depth
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.nets.depth_decoder import DepthDecoder
from depthrepro.nets.pose_decoder import PoseDecoder
from depthrepro.nets.resnet import ResnetEncoder

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("DEPTHREPRO_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
MATRIX_OUTPUTS = ("cam_T_cam", "cam_T_cam_inverted")


def case_params(folder: str) -> list[Any]:
    """One pytest param per `case_*.pt`, or one loudly skipped param if the folder is absent."""
    cases = sorted((FIXTURES / folder).glob("case_*.pt"))
    if not cases:
        reason = (f"FIXTURES MISSING: no case_*.pt in {FIXTURES / folder} "
                  f"(set DEPTHREPRO_FIXTURES); monodepth2 equivalence NOT checked")
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id=f"{folder}-missing")]
    return [pytest.param(path, id=f"{folder}-{path.stem}") for path in cases]


def fill(module: torch.nn.Module) -> None:
    """Load the fixtures' deterministic weights into one official module (own key index)."""
    sys.path.insert(0, str(FIXTURES))
    try:
        from weights import fill_state_dict
    finally:
        sys.path.remove(str(FIXTURES))
    module.load_state_dict(fill_state_dict(module.state_dict()))
    module.eval()


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    """The fixtures README's tolerance rule."""
    atol = max(1e-5 * expected.abs().max().item(), 1e-9)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=atol, msg=lambda m: f"{name}: {m}")


def assert_keys_match_manifest(module: torch.nn.Module, folder: str, name: str) -> None:
    manifest = json.loads((FIXTURES / folder / "manifest.json").read_text())
    expected = manifest["modules"][name]["state_dict"]
    state = module.state_dict()
    assert list(state) == list(expected), f"{folder}/manifest.json modules.{name}: key mismatch"
    for key, spec in expected.items():
        assert list(state[key].shape) == spec["shape"], f"{folder} {name}.{key}: shape"
    num_params = sum(p.numel() for p in module.parameters())
    assert num_params == manifest["modules"][name]["num_params"]


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
        assert_matches(mine[key], expected, f"{path.name} {key}")
        if key in MATRIX_OUTPUTS:
            eye = torch.eye(4).expand_as(expected)
            assert_matches(mine[key] - eye, expected - eye, f"{path.name} {key} - I")
