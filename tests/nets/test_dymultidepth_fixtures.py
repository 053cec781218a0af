"""The dynamic multi-frame network (ResNet-18, CCF) against the recorded official outputs, and the
EfficientNet-B5 variant's key layout (no fixture exists for it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.nets.dymultidepth import DyMultiDepthModel, one_hot_depth_volume
from depthrepro.nets.efficientnet import EfficientNetEncoder

from fixturekit import assert_discrete_matches, assert_keys_match_manifest, assert_matches, case_params, fill

FOLDER = "dymultidepth_resnet18"
# The official network takes a one-hot argmin over the monocular depth: a float difference in the
# monocular branch may flip a bin near a tie and move the multi-frame outputs at a few pixels.
# Those outputs are therefore compared exactly (tolerance rule) on all pixels whose one-hot bin is
# the one the official monocular output gives, and only the flipped fraction is bounded.
MULTI_FRAME_OUTPUTS = tuple(("predicted_inverse_depths", s) for s in range(4))


def _inputs(case: dict[str, Any]) -> dict[str, Any]:
    """The official forward's data dict from a case: uint8 images -> /255 - 0.5, frames [prev, next]."""
    x = case["inputs"]
    image = {name: x[f"{name}_u8"].float() / 255 - 0.5 for name in ("keyframe", "frame_prev", "frame_next")}
    K = x["keyframe_intrinsics"]
    return {"keyframe": image["keyframe"], "keyframe_pose": x["keyframe_pose"], "keyframe_intrinsics": K,
            "frames": [image["frame_prev"], image["frame_next"]], "poses": [x["pose_prev"], x["pose_next"]],
            "intrinsics": [K, K]}


@pytest.mark.parametrize("path", case_params(FOLDER))
def test_network_matches_official(path: Path) -> None:
    torch.set_num_threads(1)
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    inputs = _inputs(case)
    assert inputs["keyframe"].shape == (meta["batch"], 3, meta["height"], meta["width"])

    model = DyMultiDepthModel("resnet18", (0.33, 0.0025), 32, 32, width=meta["width"])
    assert_keys_match_manifest(model, FOLDER, "model")
    fill(model)
    with torch.no_grad():
        out = model(**inputs)
    mine: dict[Any, torch.Tensor] = {}
    for name in ("predicted_inverse_depths", "predicted_inverse_depths_mono"):
        for s, x in enumerate(out[name]):
            mine[(name, s)] = x
    mine["cv_bin_steps"] = out["cv_bin_steps"]
    mine["cost_volume_init_ch0_16"] = out["cost_volume_init"][:, ::16]
    mine["cost_volume_init_chanmean"] = out["cost_volume_init"].mean(dim=(2, 3))
    mine["fused_cost_volume_chanmean"] = out["fused_cost_volume"].mean(dim=(2, 3))

    expected_mono = case["outputs"][("predicted_inverse_depths_mono", 0)]
    bins = out["cv_bin_steps"]
    same_bin = (one_hot_depth_volume(torch.clamp(1 / expected_mono, 1e-3, 80.0), bins)
                == one_hot_depth_volume(torch.clamp(1 / mine[("predicted_inverse_depths_mono", 0)], 1e-3, 80.0),
                                        bins)).all(1, keepdim=True)
    flipped = 1 - same_bin.float().mean().item()
    assert flipped <= 1e-3, f"{path.name}: {flipped:.2%} of pixels changed their one-hot depth bin"
    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        expected = case["outputs"][key]
        if key in MULTI_FRAME_OUTPUTS and flipped > 0:
            assert_discrete_matches(mine[key], expected, f"{path.name} {key}", max_mismatch=1e-2)
        else:
            assert_matches(mine[key], expected, f"{path.name} {key}")


def test_one_hot_volume_picks_the_nearest_depth_bin() -> None:
    bins = torch.tensor([400.0, 40.0, 10.0, 5.0])
    depth = torch.tensor([80.0, 24.0, 26.0, 7.4, 3.0]).view(1, 1, 1, 5)
    volume = one_hot_depth_volume(depth, bins)
    assert volume.shape == (1, 4, 1, 5)
    assert volume.sum(1).eq(1).all()
    assert volume[0, :, 0].argmax(0).tolist() == [1, 2, 1, 3, 3]


def test_efficientnet_b5_keys_shapes_and_features() -> None:
    """gen-efficientnet's `tf_efficientnet_b5_ap` layout; no official outputs exist to compare with."""
    torch.set_num_threads(1)
    encoder = EfficientNetEncoder()
    state = encoder.state_dict()
    stages = {}
    for key in state:
        parts = key.split(".")
        if parts[1] == "blocks":
            stages.setdefault(int(parts[2]), set()).add(int(parts[3]))
    assert [len(stages[s]) for s in sorted(stages)] == [3, 5, 5, 7, 7, 9, 3]
    expected_shapes = {
        "original_model.conv_stem.weight": (48, 3, 3, 3),
        "original_model.blocks.0.0.se.conv_reduce.weight": (12, 48, 1, 1),
        "original_model.blocks.0.1.conv_pw.weight": (24, 24, 1, 1),
        "original_model.blocks.1.0.conv_pw.weight": (144, 24, 1, 1),
        "original_model.blocks.1.0.se.conv_reduce.weight": (6, 144, 1, 1),
        "original_model.blocks.2.0.conv_dw.weight": (240, 1, 5, 5),
        "original_model.blocks.4.1.se.conv_reduce.weight": (44, 1056, 1, 1),
        "original_model.blocks.5.1.conv_pw.weight": (1824, 304, 1, 1),
        "original_model.blocks.6.2.conv_pwl.weight": (512, 3072, 1, 1),
        "original_model.conv_head.weight": (2048, 512, 1, 1),
        "original_model.bn2.running_var": (2048,),
    }
    for key, shape in expected_shapes.items():
        assert tuple(state[key].shape) == shape, key
    bn1 = [f"original_model.bn1.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    assert list(state)[:7] == ["original_model.conv_stem.weight", *bn1, "original_model.blocks.0.0.conv_dw.weight"]
    assert not any("classifier" in k for k in state)
    # Published parameter count of EfficientNet-B5 with its 1000-class classifier: 115.928 MiB of
    # float32 = 30,389,829 ± 131 parameters; the classifier holds 2048·1000 + 1000.
    trunk = sum(p.numel() for p in encoder.parameters())
    assert abs(trunk + 2_049_000 - 30_389_829) <= 131, trunk
    assert all(isinstance(m, torch.nn.BatchNorm2d) and m.eps == 1e-3
               for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))

    encoder.eval()
    with torch.no_grad():
        features = encoder(torch.rand(1, 3, 64, 96))
    assert [tuple(f.shape) for f in features] == [(1, 24, 32, 48), (1, 40, 16, 24), (1, 64, 8, 12),
                                                  (1, 176, 4, 6), (1, 2048, 2, 3)]


def test_efficientnet_variant_forward_shapes_and_decoder_channels() -> None:
    torch.set_num_threads(1)
    model = DyMultiDepthModel("efficientnetb5", width=128).eval()
    state = model.state_dict()
    assert tuple(state["depth_module.dec.1.0.conv2d_t.weight"].shape) == (192 + 64 + 256, 128, 4, 4)
    assert tuple(state["depth_module.dec.2.0.conv2d_t.weight"].shape) == (128 + 40 + 128, 64, 4, 4)
    assert tuple(state["depth_module.dec.3.conv2d_t.weight"].shape) == (64 + 24 + 64, 48, 4, 4)
    assert [k.split(".")[0] for k in state][0] == "fusion_module"
    assert any(k.startswith("_feature_extractor.original_model.blocks.6.2.") for k in state)
    images = [torch.rand(1, 3, 64, 128) - 0.5 for _ in range(3)]
    K = torch.tensor([[[60.0, 0, 64, 0], [0, 60, 32, 0], [0, 0, 1, 0], [0, 0, 0, 1]]])
    pose = torch.eye(4).unsqueeze(0)
    moved = pose.clone()
    moved[0, 2, 3] = 0.5
    with torch.no_grad():
        out = model(images[0], pose, K, images[1:], [torch.linalg.inv(moved), moved], [K, K])
    assert [tuple(x.shape) for x in out["predicted_inverse_depths"]] == [
        (1, 1, 64, 128), (1, 1, 32, 64), (1, 1, 16, 32), (1, 1, 8, 16)]
    inv = out["predicted_inverse_depths"][0]
    assert inv.min() >= 0.0025 - 1e-7 and inv.max() <= 0.33 + 1e-7
