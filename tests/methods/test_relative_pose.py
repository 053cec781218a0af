"""`predict_relative_pose(frame_a, frame_b)` of the methods with a pose network: rigid (B, 4, 4) transforms
mapping camera-a points into camera b, the same transforms the training warps use."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from depthrepro.geometry.camera import BackprojectDepth, Project3D
from depthrepro.methods.registry import build_method
from depthrepro.nets.pose_decoder import POSE_SCALE

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH = 2
SIZES = {"monodepth2": (64, 192), "featdepth": (64, 224), "manydepth": (64, 192), "dualrefine": (32, 64)}
OVERRIDES: dict[str, dict[str, Any]] = {"featdepth": {"pose_input_size": [64, 224]}, "dualrefine": {"f_thres": 3}}


def make(method: str) -> torch.nn.Module:
    torch.manual_seed(0)
    height, width = SIZES[method]
    return build_method(method, {"height": height, "width": width, **OVERRIDES.get(method, {})}).eval()


def frames(method: str, seed: int = 0) -> dict[int, torch.Tensor]:
    """Frames -1, 0, 1: smooth random textures, so that every pose network sees image-like input."""
    height, width = SIZES[method]
    generator = torch.Generator().manual_seed(seed)
    return {f: F.interpolate(torch.rand(BATCH, 3, height // 8, width // 8, generator=generator), (height, width),
                             mode="bilinear", align_corners=False) for f in (-1, 0, 1)}


def intrinsics(method: str) -> torch.Tensor:
    height, width = SIZES[method]
    K = torch.tensor([[0.58 * width, 0, 0.5 * width, 0], [0, 1.92 * height, 0.5 * height, 0],
                      [0, 0, 1, 0], [0, 0, 0, 1.0]])
    return K.expand(BATCH, 4, 4).clone()


def assert_rigid(T: torch.Tensor) -> None:
    assert T.shape == (BATCH, 4, 4) and torch.isfinite(T).all()
    R = T[:, :3, :3]
    torch.testing.assert_close(R.transpose(1, 2) @ R, torch.eye(3).expand(BATCH, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(BATCH), atol=1e-5, rtol=0)
    torch.testing.assert_close(T[:, 3], torch.tensor([0.0, 0, 0, 1]).expand(BATCH, 4), atol=0, rtol=0)


def training_poses(method: str, model: torch.nn.Module, images: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
    """`{f: T}` as the method's training loss uses them to warp frame f into frame 0 (`T`: frame 0 → f)."""
    if method == "manydepth":
        return model.predict_poses(images)
    if method == "dualrefine":
        K2 = intrinsics(method)
        K2[:, :2] /= 4
        _, (_, pose_star) = model.net(images[0], images[-1], K2)
        return {-1: pose_star}
    return model.predict_poses({("color_aug", f, 0): image for f, image in images.items()})


@pytest.mark.parametrize("method", sorted(SIZES))
def test_relative_pose_is_rigid_and_is_the_training_warp_transform(method: str) -> None:
    model = make(method)
    images = frames(method)
    K = intrinsics(method)
    with torch.no_grad():
        forward = model.predict_relative_pose(images[0], images[1], K)
        backward = model.predict_relative_pose(images[-1], images[0], K)
        trained = training_poses(method, model, images)
    assert_rigid(forward)
    assert_rigid(backward)
    # frame -1 is warped into frame 0 with T(0 -> -1): the inverse of the (-1, 0) pair's transform
    torch.testing.assert_close(trained[-1], torch.linalg.inv(backward), atol=1e-5, rtol=1e-4)
    if 1 in trained:  # frame +1 with T(0 -> +1): the (0, +1) pair's transform itself
        torch.testing.assert_close(trained[1], forward, atol=1e-6, rtol=1e-5)


def test_dualrefine_needs_the_intrinsics() -> None:
    images = frames("dualrefine")
    with pytest.raises(ValueError, match="needs the frames' intrinsics"):
        make("dualrefine").predict_relative_pose(images[0], images[1])


def test_monodepth2_without_a_pair_pose_network_refuses() -> None:
    stereo = build_method("monodepth2", {"height": 64, "width": 192, "frame_ids": [0, "s"]})
    images = frames("monodepth2")
    with pytest.raises(ValueError, match="need a pair pose network"):
        stereo.predict_relative_pose(images[0], images[1])


def test_direction_on_a_constructed_sideways_step() -> None:
    """Camera b is camera a moved 0.72 m to the right in front of a textured wall at 10 m: b sees the wall
    8 pixels further left. A pose network set by hand to the true motion returns, through the hook, a
    transform that warps b back onto a (camera-a points land where b saw them); its inverse does not."""
    height, width, depth, shift = 64, 192, 10.0, 8
    K = intrinsics("monodepth2")
    step = shift * depth / K[0, 0, 0].item()  # metres to the right
    model = make("monodepth2")
    head = model.pose.net[3]
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.zero_()
        head.bias[3] = -step / POSE_SCALE  # camera-a points move left in camera b: t_x = -step
    margin = 16
    texture = F.interpolate(torch.rand(BATCH, 3, height // 4, (width + 2 * margin) // 4,
                                       generator=torch.Generator().manual_seed(1)),
                            (height, width + 2 * margin), mode="bilinear", align_corners=False)
    frame_a = texture[..., margin:margin + width]
    frame_b = texture[..., margin + shift:margin + shift + width]
    with torch.no_grad():
        T = model.predict_relative_pose(frame_a, frame_b)
    torch.testing.assert_close(T[:, :3, 3], torch.tensor([-step, 0, 0]).expand(BATCH, 3), atol=1e-5, rtol=0)
    points = BackprojectDepth(BATCH, height, width)(torch.full((BATCH, 1, height, width), depth),
                                                    torch.linalg.inv(K))
    project = Project3D(BATCH, height, width)

    def error(transform: torch.Tensor) -> float:
        warped = F.grid_sample(frame_b, project(points, K, transform), padding_mode="border", align_corners=True)
        return (warped - frame_a)[..., 2 * shift:-2 * shift].abs().mean().item()

    assert error(T) < 1e-3 < 0.02 < error(torch.linalg.inv(T))
