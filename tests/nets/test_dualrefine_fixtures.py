"""DualRefine's `DEQDepthPose` against the recorded official outputs (eval mode, frames 0 and -1).

The fixtures were recorded on PyTorch 2.x, where the official Anderson step calls the removed
`torch.solve`, raises, and falls back to plain iteration every time; the network is therefore
compared with `solver="fixed_point"`. The Anderson mixing itself is tested in
test_dualrefine_parts.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.nets.dualrefine import DEQDepthPose, RefinementOptions

from fixturekit import (assert_keys_match_manifest, assert_matches, assert_pose_matches,
                        case_params, fill)

FOLDER = "dualrefine"
POSE_OUTPUTS = ("poses_0", "poses_star")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_state_dict_keys_and_parameter_count_match_official() -> None:
    assert_keys_match_manifest(DEQDepthPose(), FOLDER, "depth_pose")


@pytest.mark.parametrize("path", case_params(FOLDER))
def test_deq_depth_pose_matches_official(path: Path) -> None:
    """All compared outputs, including the refined depth and the argmin-selected refined pose
    (a flip of that argmin would show up in `poses_star` and the refined disparities)."""
    torch.manual_seed(0)
    case = torch.load(path, weights_only=True)
    meta, inputs = case["meta"], case["inputs"]
    batch, height, width = meta["batch"], meta["height"], meta["width"]
    assert inputs["current_image"].shape == (batch, 3, height, width)
    assert torch.all(inputs["sides"] == 0), "only pose network 0 is used by the official code"

    net = DEQDepthPose(RefinementOptions(solver="fixed_point"))
    fill(net)
    with torch.no_grad():
        outputs, poses = net(inputs["current_image"], inputs["lookup_image"], inputs["K"])
    mine: dict[Any, torch.Tensor] = dict(outputs)
    mine["poses_0"], mine["poses_star"] = poses
    assert "consistency_mask" not in mine, "eval mode computes no training mask"

    for key in meta["compared_outputs"]:
        expected = case["outputs"][key]
        assert mine[key].shape == expected.shape, f"{path.name} {key}: shape"
        if key in POSE_OUTPUTS:
            assert_pose_matches(mine[key], expected, f"{path.name} {key}")
        else:
            assert_matches(mine[key], expected, f"{path.name} {key}")


@pytest.mark.parametrize("path", case_params(FOLDER))
def test_anderson_solver_changes_the_refinement_only(path: Path) -> None:
    """With the published Anderson solver the teacher outputs are unchanged and the refined
    ones move: the solver mode matters, so the fixture comparison above is not vacuous."""
    case = torch.load(path, weights_only=True)
    inputs = case["inputs"]
    net = DEQDepthPose(RefinementOptions(solver="anderson"))
    fill(net)
    with torch.no_grad():
        outputs, _ = net(inputs["current_image"], inputs["lookup_image"], inputs["K"])
    assert_matches(outputs[("disp", 2, 0)], case["outputs"][("disp", 2, 0)], "teacher disp")
    refined = case["outputs"][("disp", 2, 1)]
    assert (outputs[("disp", 2, 1)] - refined).abs().max() > 1e-3 * refined.abs().max()
