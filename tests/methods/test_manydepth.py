"""The ManyDepth method: config, losses and masks, freezing, checkpoints, optimisation."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from depthrepro.geometry.camera import disp_to_depth
from depthrepro.methods.manydepth import ManyDepth
from depthrepro.methods.registry import available_methods, build_method
from depthrepro.nets.resnet import resnet

from test_monodepth2 import HEIGHT, WIDTH, synthetic_batch

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = ("encoder", "depth", "mono_encoder", "mono_depth", "pose_encoder", "pose")


def make_model(**overrides: Any) -> ManyDepth:
    torch.manual_seed(0)
    model = build_method("manydepth", {"height": HEIGHT, "width": WIDTH, **overrides})
    assert isinstance(model, ManyDepth)
    return model


def grad_sum(params: list[torch.nn.Parameter]) -> float:
    return sum(p.grad.abs().sum().item() for p in params if p.grad is not None)


def test_registry_config_and_params_file() -> None:
    assert "manydepth" in available_methods()
    with pytest.raises(KeyError, match="num_depth_binz"):
        make_model(num_depth_binz=32)
    with pytest.raises(ValueError, match="depth_binning"):
        make_model(depth_binning="log")
    with pytest.raises(ValueError, match="frame_ids"):
        make_model(frame_ids=[0, "s"])

    params = yaml.safe_load((REPO_ROOT / "params" / "methods" / "manydepth.yaml").read_text())
    model = ManyDepth({**params["model"], "height": HEIGHT, "width": WIDTH})
    assert params["test_frames"] == model.test_frames == [0, -1]
    assert model.frames_to_load == [0, -1, 1]
    future = make_model(use_future_frame=True, num_matching_frames=2)
    assert future.test_frames == [0, 1, -1, -2] and future.frames_to_load == [0, -1, 1, -2]


def test_training_step_gives_gradients_to_every_network() -> None:
    model = make_model().train()
    loss, logs = model.training_step(synthetic_batch([0, -1, 1]))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert logs["loss"] == pytest.approx(loss.item())
    assert logs["loss"] == pytest.approx(logs["loss/multi"] + logs["loss/teacher"], rel=1e-5)
    # The depth-bin trackers moved from their initial values towards the teacher's depth range.
    assert (logs["depth_bin/min"], logs["depth_bin/max"]) != (0.1, 10.0)
    assert model.encoder.depth_bins[-1].item() == pytest.approx(10.0)
    loss.backward()
    for name, params in (("depth", model.depth_parameters()),
                         ("teacher", model.teacher_parameters()),
                         ("pose", model.pose_parameters())):
        assert grad_sum(params) > 0, f"no gradient reached the {name} network"
        assert all(torch.isfinite(p.grad).all() for p in params if p.grad is not None), name
    assert model.encoder.reduce_conv[0].weight.grad.abs().sum() > 0


def test_freezing_stops_teacher_and_pose_from_the_freeze_epoch() -> None:
    model = make_model(scales=[0], freeze_teacher_epoch=3)
    model.on_epoch_start(2)
    assert not model.teacher_frozen
    model.on_epoch_start(3)
    model.train()
    assert model.teacher_frozen and model.encoder.training and model.depth.training
    assert not any(m.training for m in (model.mono_encoder, model.mono_depth,
                                        model.pose_encoder, model.pose))
    running_mean = model.pose_encoder.encoder.bn1.running_mean.clone()
    bins = (model.min_depth_bin, model.max_depth_bin)

    loss, logs = model.training_step(synthetic_batch([0, -1, 1]))
    loss.backward()
    assert "loss/teacher" not in logs and logs["loss"] == pytest.approx(logs["loss/multi"])
    assert all(p.grad is None for p in model.teacher_parameters() + model.pose_parameters())
    assert grad_sum(model.depth_parameters()) > 0
    assert torch.equal(model.pose_encoder.encoder.bn1.running_mean, running_mean)
    assert (model.min_depth_bin, model.max_depth_bin) == bins


def test_matching_mask_keeps_depths_within_a_factor_two() -> None:
    model = make_model()
    teacher = torch.full((1, 1, HEIGHT, WIDTH), 10.0)
    matching_depth = torch.tensor([4.0, 6.0, 19.0, 21.0]).repeat_interleave(WIDTH // 16)
    lowest_cost = (1 / matching_depth).expand(1, HEIGHT // 4, WIDTH // 4)
    confidence = torch.ones(1, HEIGHT // 4, WIDTH // 4)
    confidence[:, 0] = 0
    mask = model.matching_mask(lowest_cost, confidence, teacher)
    assert mask.shape == (1, HEIGHT, WIDTH)
    expected_columns = torch.tensor([0.0, 1.0, 1.0, 0.0]).repeat_interleave(WIDTH // 4)
    torch.testing.assert_close(mask[0, -1], expected_columns)
    assert mask[0, :4].sum() == 0, "rows of an unconfident cost-volume row must be distrusted"


def test_matching_augmentation_replaces_lookups_or_zeroes_poses() -> None:
    model = make_model()
    batch = 400
    current = torch.rand(batch, 3, 4, 4)
    lookup = torch.rand(batch, 1, 3, 4, 4)
    relative = torch.eye(4).expand(batch, 1, 4, 4).clone()
    torch.manual_seed(0)
    new_lookup, new_relative, augmented = model._matching_augmentation(
        {("color", 0, 0): current}, lookup, relative)
    static = (new_lookup[:, 0] == current).flatten(1).all(1)
    zeroed = (new_relative == 0).flatten(1).all(1)
    untouched = ((new_lookup == lookup).flatten(1).all(1)
                 & (new_relative == relative).flatten(1).all(1))
    assert not (static & zeroed).any()
    assert torch.equal(static | zeroed, ~untouched)
    assert torch.equal(augmented.view(-1), (static | zeroed).float())
    assert 0.18 < static.float().mean() < 0.32 and 0.18 < zeroed.float().mean() < 0.32


def test_multi_frame_loss_splits_pixels_between_reprojection_and_consistency() -> None:
    model = make_model(scales=[0])
    inputs = synthetic_batch([0, -1, 1])
    disp = torch.full((2, 1, HEIGHT, WIDTH), 0.3)
    teacher_depth = torch.full((2, 1, HEIGHT, WIDTH), 2.0)
    poses = {f: torch.eye(4).expand(2, 4, 4) for f in (-1, 1)}
    gap = (disp_to_depth(disp, 0.1, 100.0)[1] - 2.0).abs().mean().item()

    ones, zeros = torch.ones_like(disp), torch.zeros_like(disp)
    total, consistency = model.multi_frame_loss(inputs, {("disp", 0): disp}, {0: teacher_depth},
                                                poses, ones)
    assert consistency == 0 and total > 0
    total, consistency = model.multi_frame_loss(inputs, {("disp", 0): disp}, {0: teacher_depth},
                                                poses, zeros)
    assert consistency.item() == pytest.approx(gap, rel=1e-5)
    assert total.item() == pytest.approx(gap, rel=1e-5), "a constant disparity is smooth"


def test_matching_poses_chain_and_skip_missing_frames() -> None:
    model = make_model(num_matching_frames=2).eval()
    frames = {f: torch.rand(2, 3, HEIGHT, WIDTH) for f in (0, -1, -2)}
    frames[-2][1] = 0
    with torch.no_grad():
        poses = model.matching_poses(frames, zero_missing=True)
        step = model.relative_pose(frames[-2], frames[-1], invert=True)
    torch.testing.assert_close(poses[-2][0], (step @ poses[-1])[0])
    assert torch.count_nonzero(poses[-2][1]) == 0 and torch.count_nonzero(poses[-1][1]) > 0


def test_checkpoint_round_trip_in_the_official_layout() -> None:
    model = make_model()
    model.min_depth_bin, model.max_depth_bin = 0.7, 42.0
    files: dict[str, bytes] = {}
    for name, state in model.checkpoint_state().items():
        buffer = io.BytesIO()
        torch.save(state, buffer)
        files[f"{name}.pth"] = buffer.getvalue()
    assert sorted(files) == sorted(f"{name}.pth" for name in FILES)
    loaded = {name: torch.load(io.BytesIO(files[f"{name}.pth"]), weights_only=True)
              for name in FILES}
    encoder_file = loaded["encoder"]
    assert (encoder_file["height"], encoder_file["width"]) == (HEIGHT, WIDTH)
    assert (encoder_file["min_depth_bin"], encoder_file["max_depth_bin"]) == (0.7, 42.0)
    assert {"layer0.0.weight", "backprojector.pix_coords", "reduce_conv.0.weight",
            "prematching_conv.0.weight"} <= set(encoder_file)
    assert "encoder.fc.weight" in loaded["mono_encoder"]

    torch.manual_seed(1)
    restored = ManyDepth({"height": HEIGHT, "width": WIDTH})
    restored.load_checkpoint_state(loaded)
    assert (restored.min_depth_bin, restored.max_depth_bin) == (0.7, 42.0)
    assert restored.encoder.depth_bins[-1].item() == pytest.approx(42.0)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value, rtol=0, atol=0, msg=key)

    batch = synthetic_batch([0, -1], batch=1)
    inputs = {k: v for k, v in batch.items() if k[0] in ("color", "K", "inv_K")}
    model.eval()
    restored.eval()
    with torch.no_grad():
        expected = model.predict_disparity(inputs)
        torch.testing.assert_close(restored.predict_disparity(inputs), expected, rtol=0, atol=0)
    assert expected.shape == (1, 1, HEIGHT, WIDTH) and 0 < expected.min() < expected.max() < 1


def test_checkpoint_errors_name_the_file() -> None:
    model = make_model()
    state = model.checkpoint_state()
    with pytest.raises(KeyError, match="mono_depth.pth"):
        model.load_checkpoint_state({k: v for k, v in state.items() if k != "mono_depth"})
    model.load_checkpoint_state({k: v for k, v in state.items() if not k.startswith("mono")},
                                require_teacher=False)
    with pytest.raises(ValueError, match=r"encoder\.pth.*64x320"):
        model.load_checkpoint_state({**state, "encoder": {**state["encoder"], "width": 320}})
    broken = dict(state["encoder"])
    broken.pop("reduce_conv.0.bias")
    with pytest.raises(KeyError, match=r"encoder\.pth.*reduce_conv\.0\.bias"):
        model.load_checkpoint_state({**state, "encoder": broken})


def test_imagenet_init_reaches_the_three_encoders(tmp_path: Path) -> None:
    torch.manual_seed(2)
    imagenet = resnet(18).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet, path)
    model = make_model()
    model.init_from_imagenet(path)
    torch.testing.assert_close(model.encoder.layer0[0].weight, imagenet["conv1.weight"])
    torch.testing.assert_close(model.encoder.layer0[1].running_var, imagenet["bn1.running_var"])
    torch.testing.assert_close(model.encoder.layer1[1][1].conv2.weight,
                               imagenet["layer1.1.conv2.weight"])
    torch.testing.assert_close(model.encoder.layer4[0].downsample[0].weight,
                               imagenet["layer4.0.downsample.0.weight"])
    torch.testing.assert_close(model.mono_encoder.encoder.layer3[1].conv1.weight,
                               imagenet["layer3.1.conv1.weight"])
    torch.testing.assert_close(model.pose_encoder.encoder.conv1.weight[:, 3:],
                               imagenet["conv1.weight"] / 2)


def test_optimisation_decreases_the_loss() -> None:
    model = make_model(scales=[0], no_matching_augmentation=True).train()
    inputs = synthetic_batch([0, -1, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(3):
        loss, _ = model.training_step(inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
