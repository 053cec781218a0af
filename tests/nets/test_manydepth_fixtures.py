"""ManyDepth's multi-frame depth network and pose network against the recorded official outputs."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.nets.depth_decoder import DepthDecoder
from depthrepro.nets.pose_decoder import PoseDecoder
from depthrepro.nets.resnet import ResnetEncoder
from depthrepro.nets.resnet_matching import ResnetEncoderMatching

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("DEPTHREPRO_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
MATRIX_OUTPUTS = ("relative_pose_0_to_m1",)


def case_params(folder: str) -> list[Any]:
    """One pytest param per `case_*.pt`, or one loudly skipped param if the folder is absent."""
    cases = sorted((FIXTURES / folder).glob("case_*.pt"))
    if not cases:
        reason = (f"FIXTURES MISSING: no case_*.pt in {FIXTURES / folder} "
                  f"(set DEPTHREPRO_FIXTURES); manydepth equivalence NOT checked")
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id=f"{folder}-missing")]
    return [pytest.param(path, id=f"{folder}-{path.stem}") for path in cases]


def manifest(folder: str) -> dict[str, Any]:
    return json.loads((FIXTURES / folder / "manifest.json").read_text())


def fill(module: torch.nn.Module, skip_keys: list[str] | None = None) -> None:
    """Load the fixtures' deterministic weights into one official module (own key index)."""
    sys.path.insert(0, str(FIXTURES))
    try:
        from weights import fill_state_dict
    finally:
        sys.path.remove(str(FIXTURES))
    module.load_state_dict(fill_state_dict(module.state_dict(), skip_keys=skip_keys or ()))
    module.eval()


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    """The fixtures README's tolerance rule."""
    atol = max(1e-5 * expected.abs().max().item(), 1e-9)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=atol, msg=lambda m: f"{name}: {m}")


def assert_keys_match_manifest(module: torch.nn.Module, folder: str, name: str) -> None:
    spec = manifest(folder)["modules"][name]
    expected = spec["state_dict"]
    state = module.state_dict()
    assert list(state) == list(expected), f"{folder}/manifest.json modules.{name}: key mismatch"
    for key, entry in expected.items():
        assert list(state[key].shape) == entry["shape"], f"{folder} {name}.{key}: shape"
    assert sum(p.numel() for p in module.parameters()) == spec["num_params"], f"{name}: num_params"


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
            assert mine[key].shape == expected.shape, f"{path.name} {key}: shape"
            atol = max(1e-5 * expected.abs().max().item(), 1e-9)
            close = torch.isclose(mine[key], expected, rtol=1e-4, atol=atol)
            mismatch = 1 - close.float().mean().item()
            assert mismatch <= 1e-3, f"{path.name} {key}: {mismatch:.2%} of elements differ"
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
        assert_matches(mine[key], expected, f"{path.name} {key}")
        if key in MATRIX_OUTPUTS:
            eye = torch.eye(4).expand_as(expected)
            assert_matches(mine[key] - eye, expected - eye, f"{path.name} {key} - I")
