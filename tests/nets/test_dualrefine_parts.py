"""Parts of DualRefine's network checked against hand computations: HRNet layout and ImageNet
loading, weight norm, se(3) exponential, fixed-point solvers, epipolar sampling and costs, the
consistency mask, the Gauss–Newton pose step, convex upsampling and the pose selection."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.geometry.se3 import se3_exp
from depthrepro.nets.deq import phantom_gradient, solve_fixed_point
from depthrepro.nets.dualrefine import _PoseTrack
from depthrepro.nets.epipolar_cost import (EpipolarSampler, LocalCost, PinholeCamera,
                                           consistency_hypotheses, consistency_mask)
from depthrepro.nets.feature_metric_pose import PoseUpdate
from depthrepro.nets.hrnet import HRNetW18, read_hrnet_imagenet_state
from depthrepro.nets.update_block import UpdateBlock
from depthrepro.nets.weight_norm import weight_norm

from fixturekit import manifest

H, W = 16, 48


pytestmark = pytest.mark.usefixtures("one_thread")


def camera(batch: int = 1, height: int = H, width: int = W) -> PinholeCamera:
    K = torch.tensor([[0.58 * width, 0, 0.5 * width, 0], [0, 1.92 * height, 0.5 * height, 0],
                      [0, 0, 1, 0], [0, 0, 0, 1.0]])
    return PinholeCamera(K.expand(batch, 4, 4).clone(), height, width)


def translation(tx: float, ty: float = 0.0, tz: float = 0.0) -> torch.Tensor:
    T = torch.eye(4)
    T[:3, 3] = torch.tensor([tx, ty, tz])
    return T[None]


def test_hrnet_keys_follow_the_official_cnet_modules() -> None:
    stem = {"conv1.": "cnet_layer0a.0.", "bn1.": "cnet_layer0a.1.",
            "conv2.": "cnet_layer0b.0.", "bn2.": "cnet_layer0b.1."}
    official = {k: v["shape"] for k, v
                in manifest("dualrefine")["modules"]["depth_pose"]["state_dict"].items()
                if k.startswith("cnet_")}
    mine = {}
    for key, value in HRNetW18().state_dict().items():
        prefix = next((p for p in stem if key.startswith(p)), None)
        name = stem[prefix] + key[len(prefix):] if prefix else "cnet_" + key
        mine[name] = list(value.shape)
    assert list(mine) == list(official) and mine == official


def test_hrnet_features_have_the_documented_shapes() -> None:
    x0a, x0b, stages = HRNetW18().eval()(torch.rand(1, 3, 64, 128))
    assert x0a.shape == (1, 64, 32, 64) and x0b.shape == (1, 64, 16, 32)
    widths = [[t.shape[1] for t in s] for s in stages]
    assert widths == [[18, 36], [18, 36, 72], [18, 36, 72, 144]]
    assert stages[-1][3].shape[-2:] == (2, 4)


def test_hrnet_imagenet_reader_keeps_the_backbone_and_names_problems(tmp_path: Path) -> None:
    state = HRNetW18().state_dict()
    path = tmp_path / "hrnet.pth"
    torch.save({**state, "classifier.weight": torch.zeros(1000, 2048),
                "incre_modules.0.0.conv1.weight": torch.zeros(32, 18, 1, 1)}, path)
    assert set(read_hrnet_imagenet_state(path)) == set(state)
    torch.save({k: v for k, v in state.items() if not k.startswith("stage3")}, path)
    with pytest.raises(KeyError, match=f"{path}.*stage3"):
        read_hrnet_imagenet_state(path)
    torch.save({**state, "conv1.weight": torch.zeros(64, 6, 3, 3)}, path)
    with pytest.raises(ValueError, match="conv1.weight"):
        read_hrnet_imagenet_state(path)


def test_weight_norm_keys_effective_weight_and_gradients() -> None:
    torch.manual_seed(0)
    conv = weight_norm(nn.Conv2d(3, 4, 3, padding=1))
    assert list(conv.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert conv.weight_g.shape == (4, 1, 1, 1)
    with torch.no_grad():
        conv.weight_g.mul_(3.0)
    x = torch.rand(2, 3, 5, 5)
    # g started at ‖v‖, so the effective weight g·v/‖v‖ is now 3·v.
    torch.testing.assert_close(conv(x), F.conv2d(x, 3 * conv.weight_v, conv.bias, padding=1))
    conv(x).sum().backward()
    assert conv.weight_g.grad.abs().sum() > 0 and conv.weight_v.grad.abs().sum() > 0
    linear = weight_norm(nn.Linear(6, 5))
    assert list(linear.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert linear.weight_g.shape == (5, 1)


def test_se3_exp_equals_the_matrix_exponential_of_the_twist() -> None:
    xi = torch.tensor([[0.3, -0.2, 0.5, 0.1, -0.4, 0.25], [0.0, 0.01, 0.0, 1e-3, 0.0, -2e-3]],
                      dtype=torch.float64)
    twist = torch.zeros(2, 4, 4, dtype=torch.float64)
    for b in range(2):
        wx, wy, wz = xi[b, 3:]
        twist[b, :3, :3] = torch.tensor([[0, -wz, wy], [wz, 0, -wx], [-wy, wx, 0]])
        twist[b, :3, 3] = xi[b, :3]
    torch.testing.assert_close(se3_exp(xi[..., None]), torch.linalg.matrix_exp(twist))


def test_fixed_point_solver_is_plain_iteration_returning_the_best_fed_iterate() -> None:
    A = torch.tensor([[0.5, 0.1], [0.0, 0.3]])
    b = torch.tensor([1.0, -1.0])
    calls = []

    def f(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.clone())
        return x @ A.T + b

    x0 = torch.zeros(1, 2)
    result = solve_fixed_point(f, x0, threshold=5, solver="fixed_point")
    iterates = [x0]
    for _ in range(4):
        iterates.append(iterates[-1] @ A.T + b)
    assert len(calls) == 5
    for call, expected in zip(calls, iterates, strict=True):
        torch.testing.assert_close(call, expected)
    # Candidates are the iterates fed to f from the third on; the residual shrinks each step.
    torch.testing.assert_close(result, iterates[4])
    assert solve_fixed_point(f, x0, threshold=1, solver="fixed_point").allclose(iterates[1])
    assert solve_fixed_point(f, x0, threshold=2, solver="fixed_point").allclose(iterates[2])


def test_anderson_step_minimises_the_combined_residual() -> None:
    """With two stored iterates the mixing weight t (x = (1−t)·f(x0) + t·f(x1)) minimises
    ‖(1−t)·g0 + t·g1‖² + λ((1−t)² + t²), g = f(x) − x; in closed form
    t = (g0·(g0 − g1) + λ) / (‖g0 − g1‖² + 2λ)."""
    torch.manual_seed(0)
    A = 0.6 * torch.linalg.qr(torch.randn(4, 4))[0]
    b = torch.randn(4)
    lam = 1e-4

    def f(x: torch.Tensor) -> torch.Tensor:
        return x @ A.T + b

    x0 = torch.randn(1, 4)
    x1 = f(x0)
    g0, g1 = x1 - x0, f(x1) - x1
    t = ((g0 * (g0 - g1)).sum() + lam) / ((g0 - g1).pow(2).sum() + 2 * lam)
    expected = (1 - t) * x1 + t * f(x1)
    torch.testing.assert_close(solve_fixed_point(f, x0, 3, "anderson", lam=lam), expected)

    # On a linear map Anderson reaches the fixed point far faster than plain iteration.
    fixed = torch.linalg.solve(torch.eye(4) - A, b)[None]
    anderson = solve_fixed_point(f, x0, 6, "anderson", lam=1e-10)
    plain = solve_fixed_point(f, x0, 6, "fixed_point")
    assert (anderson - fixed).norm() < 1e-2 * (plain - fixed).norm()


def test_phantom_gradient_is_a_damped_differentiable_step() -> None:
    w = torch.tensor(2.0, requires_grad=True)
    z = phantom_gradient(lambda x: w * x, torch.tensor([1.0]), steps=2, tau=0.5)
    assert z.item() == pytest.approx(((0.5 + 0.5 * 2.0) ** 2))
    z.sum().backward()
    assert w.grad.item() == pytest.approx(2 * 0.5 * (0.5 + 0.5 * 2.0))


def test_epipolar_hypotheses_follow_the_learned_spacing() -> None:
    sampler = EpipolarSampler(radius=8, num_levels=3, depth_ratio=8.0)
    depth = torch.full((1, 1, 2, 3), 4.0)
    hypotheses, max_step = sampler.hypotheses(depth)
    gap = math.log1p(math.e) * 4.0 / 8 / 8  # softplus(1) * D / 8 / r
    assert hypotheses.shape == (1, 1, 51, 2, 3)
    offsets = torch.arange(-8, 9, dtype=torch.float32) * gap
    expected = torch.cat([4.0 + offsets * 2 ** level for level in range(3)])
    torch.testing.assert_close(hypotheses[0, 0, :, 1, 2], expected)
    torch.testing.assert_close(max_step, torch.full((1, 1, 2, 3), 8 * gap))


def test_consistency_hypotheses_span_from_min_depth_to_eight_times_the_depth() -> None:
    depth = torch.tensor([[[[2.0, 50.0]]]])
    bins = consistency_hypotheses(depth, 0.1, 100.0, 96)
    assert bins.shape == (1, 1, 96, 1, 2)
    torch.testing.assert_close(bins[0, 0, [0, -1], 0, 0], torch.tensor([0.1, 8 * 1.9 + 0.1]))
    torch.testing.assert_close(bins[0, 0, [0, -1], 0, 1], torch.tensor([0.1, 100.0]))


def striped_features(shift: float, channels: int = 8, height: int = H, width: int = W
                     ) -> torch.Tensor:
    """Features varying along x only, `F_c(u − shift)`, unique along a row."""
    u = torch.arange(width, dtype=torch.float32) - shift
    freqs = torch.linspace(0.15, 0.9, channels)[:, None]
    phases = torch.linspace(0.0, 2.0, channels)[:, None]
    rows = torch.sin(freqs * u[None] + phases) + 0.02 * u[None]
    return rows[None, :, None, :].expand(1, channels, height, width).contiguous()


def test_local_cost_is_zero_where_hypotheses_project_onto_identical_features() -> None:
    cam = camera()
    feats = striped_features(0.0)
    cost = LocalCost(feats, feats, num_levels=2)
    depth = torch.full((1, 1, 2, H, W), 5.0)
    coords, _ = cam.transform_and_project(torch.eye(4)[None], depth)
    costs = cost(coords[:, :, None].expand(1, 2, 2, 2, H, W))
    assert costs.shape == (1, 4, H, W)
    assert costs[:, :2].abs().max() < 1e-5, "level 0 samples the features themselves"
    assert costs[:, 2:].abs().max() > 1e-2, "level 1 samples the pooled features"


def test_consistency_mask_keeps_depths_within_a_factor_two_of_the_match() -> None:
    """Lookup = current features shifted by the disparity of a plane at 4 m seen after a 0.5 m
    sideways step: the matched depth is about 4 m, so teacher depths of 3 m and 6 m agree
    and 1.5 m and 12 m do not."""
    cam = camera()
    pose = translation(0.5)
    disparity = (cam.fx * 0.5 / 4.0).item()
    cost = LocalCost(striped_features(0.0), striped_features(disparity), num_levels=1)
    depths = torch.tensor([3.0, 6.0, 1.5, 12.0])
    for depth, agrees in zip(depths, [True, True, False, False], strict=True):
        mask = consistency_mask(torch.full((1, 1, H, W), depth.item()), pose, cam, cost,
                                0.1, 100.0, 96)
        centre = mask[..., 4:-4, 12:-12]
        assert bool(centre.all()) if agrees else not bool(centre.any()), depth


def test_gauss_newton_step_reduces_the_feature_residual() -> None:
    cam = camera()
    true_pose = translation(0.3)
    depth = torch.full((1, 1, H, W), 4.0)
    disparity = (cam.fx * 0.3 / 4.0).item()
    current, lookup = striped_features(0.0), striped_features(disparity)
    ones = torch.ones(1, 1, H, W)

    def residual(pose: torch.Tensor) -> float:
        coords, _ = cam.transform_and_project(pose, depth[:, None])
        grid = coords[:, :, 0].permute(0, 2, 3, 1)
        grid = torch.stack([2 * (grid[..., 0] + 0.5) / W - 1, 2 * (grid[..., 1] + 0.5) / H - 1], -1)
        warped = F.grid_sample(lookup, grid, align_corners=False)
        return (current - warped)[..., 4:-4, 12:-12].pow(2).mean().item()

    start = translation(0.2)
    new_pose, norm = PoseUpdate.gauss_newton_step(start, cam, depth, current, lookup, ones, ones,
                                                  ones)
    assert residual(new_pose) < 0.5 * residual(start)
    assert norm.shape == (1,) and norm.item() > 0
    assert abs(new_pose[0, 0, 3] - true_pose[0, 0, 3]) < abs(start[0, 0, 3] - true_pose[0, 0, 3])


def test_convex_upsampling_keeps_a_constant_disparity() -> None:
    torch.manual_seed(0)
    block = UpdateBlock(cost_channels=51)
    disp = torch.full((2, 1, 4, 6), 0.3)
    up = block.convex_upsample(disp, torch.randn(2, 64, 4, 6))
    assert up.shape == (2, 1, 16, 24)
    torch.testing.assert_close(up[..., 4:-4, 4:-4], torch.full((2, 1, 8, 16), 0.3))


def test_pose_track_keeps_per_sample_the_pose_of_the_smallest_update() -> None:
    poses = [torch.eye(4).repeat(2, 1, 1) * k for k in (1.0, 2.0, 3.0)]
    track = _PoseTrack(poses[0])
    track.record(poses[0], torch.tensor([1.0, 1.0]))
    track.record(poses[1], torch.tensor([0.5, 2.0]))
    track.record(poses[2], torch.tensor([0.7, 0.9]))
    selected = track.smallest_update()
    torch.testing.assert_close(selected[0], poses[1][0])
    torch.testing.assert_close(selected[1], poses[2][1])
