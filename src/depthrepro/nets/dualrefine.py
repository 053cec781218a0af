"""DualRefine's network (Bangunharcana et al., CVPR 2023): `DEQDepthPose`.

One module holds the single-frame "teacher" (HRNet-W18 + attention decoder: initial depth D0),
the pose network (initial pose T0), and the refinement that jointly updates depth and pose
towards an equilibrium: each step samples a local epipolar cost around the current depth, runs
a ConvGRU that moves the depth, then takes one feature-metric Gauss–Newton step on the pose.
The state (GRU hidden state, 1/4-resolution depth) is solved for by a fixed-point solver without
gradients; in training one more differentiable step follows (phantom gradient). The pose is a
side variable of every step; after the solve the pose whose last update was smallest is kept.

State-dict keys equal the official `DEQDepthPose`'s (`depth_pose.pth`), including the modules
its forward pass never uses (`pnets.1`, `pnets.2`, decoder scale-0 head, `pose_update.norm1`,
`pose_update.feats`, `update_block.encoder.convp*`, `reproject_2.delta_p`).
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from torch import nn

from depthrepro.geometry.camera import disp_to_depth
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.nets.attention_decoder import HRDepthDecoder
from depthrepro.nets.deq import phantom_gradient, solve_fixed_point
from depthrepro.nets.epipolar_cost import (EpipolarSampler, LocalCost, PinholeCamera,
                                           consistency_mask)
from depthrepro.nets.feature_metric_pose import PoseUpdate
from depthrepro.nets.hrnet import HRNetW18, run_stages
from depthrepro.nets.residual_block import ResidualBlock
from depthrepro.nets.resnet import INPUT_MEAN, INPUT_STD, resnet
from depthrepro.nets.update_block import UpdateBlock

FEATURE_CHANNELS = 64
HIDDEN_CHANNELS = 64
CONTEXT_CHANNELS = 64
NUM_POSE_NETS = 3
POSE_SCALE = 0.01
# The history starts with T0 and this stand-in for its (non-existent) update norm.
INITIAL_UPDATE_NORM = 1.0
TEACHER_STEM_KEYS = {"conv1.": "cnet_layer0a.0.", "bn1.": "cnet_layer0a.1.",
                     "conv2.": "cnet_layer0b.0.", "bn2.": "cnet_layer0b.1."}


@dataclass(frozen=True)
class RefinementOptions:
    """Options of the refinement, with the official defaults.

    `solver`: "anderson" (the published method) or "fixed_point" (what the official code runs
    on PyTorch ≥ 1.13, where its Anderson step calls the removed `torch.solve` and always falls
    back to plain iteration). `consistency_pose`: the pose the consistency mask projects with,
    "Tstar" (refined) or "T0".
    """

    min_depth: float = 0.1
    max_depth: float = 100.0
    corr_radius: int = 8
    num_levels: int = 3
    gap_factor_depth_ratio: float = 8.0
    num_pose_iter: int = 1
    f_thres: int = 6
    solver: str = "anderson"
    anderson_memory: int = 6
    anderson_lambda: float = 1e-4
    anderson_beta: float = 1.0
    phantom_grad: int = 1
    tau: float = 1.0
    num_depth_bins: int = 96
    consistency_pose: str = "Tstar"


@dataclass
class _PoseTrack:
    """The pose carried through the refinement steps, with every step's pose and update norm."""

    pose: torch.Tensor
    history: list[torch.Tensor] = field(default_factory=list)
    norms: list[torch.Tensor] = field(default_factory=list)

    def record(self, pose: torch.Tensor, norm: torch.Tensor) -> None:
        self.pose = pose
        self.history.append(pose)
        self.norms.append(norm)

    def smallest_update(self) -> torch.Tensor:
        """Per sample, the recorded pose whose update norm is smallest `(B, 4, 4)`."""
        index = torch.argmin(torch.stack(self.norms), dim=0)
        poses = torch.stack(self.history)
        return poses[index, torch.arange(poses.shape[1], device=poses.device)]


def _full_precision(x: torch.Tensor) -> AbstractContextManager[None]:
    """No autocast: the geometry, costs and solver run in float32 as in the official code."""
    return torch.autocast(x.device.type, enabled=False)


def pose_network() -> nn.ModuleList:
    """ResNet-18 on two stacked frames + monodepth2's pose head (`squeeze`, `pose0..2`)."""
    head = nn.ModuleDict({"squeeze": nn.Conv2d(512, 256, 1),
                          "pose0": nn.Conv2d(256, 256, 3, 1, 1),
                          "pose1": nn.Conv2d(256, 256, 3, 1, 1),
                          "pose2": nn.Conv2d(256, 6, 1)})
    return nn.ModuleList([resnet(18, in_channels=6), head, nn.ReLU()])


class DEQDepthPose(nn.Module):
    """Teacher depth + pose networks and the DEQ depth/pose refinement.

    `forward(image, lookup, K)` returns the disparities `("disp", s, 0)` (teacher, s = 0..3;
    s = 0 by convex upsampling), `("disp", 2, 1)` and `("disp", 0, 1)` (refined), and the poses
    `[T0, T*]`; in training mode also `"consistency_mask"`.
    """

    def __init__(self, options: RefinementOptions | None = None) -> None:
        super().__init__()
        self.options = options or RefinementOptions()
        o = self.options
        self.reproject_2 = EpipolarSampler(o.corr_radius, o.num_levels, o.gap_factor_depth_ratio)
        self.update_block = UpdateBlock(o.num_levels * (2 * o.corr_radius + 1),
                                        CONTEXT_CHANNELS, HIDDEN_CHANNELS)
        backbone = HRNetW18()
        self.cnet_layer0a = nn.Sequential(backbone.conv1, backbone.bn1, nn.ReLU(inplace=True))
        self.cnet_layer0b = nn.Sequential(backbone.conv2, backbone.bn2, nn.ReLU(inplace=True))
        self.cnet_layer1 = backbone.layer1
        self.cnet_transition1 = backbone.transition1
        self.cnet_stage2 = backbone.stage2
        self.cnet_transition2 = backbone.transition2
        self.cnet_stage3 = backbone.stage3
        self.cnet_transition3 = backbone.transition3
        self.cnet_stage4 = backbone.stage4
        self.decoder = HRDepthDecoder()
        self.conv2 = nn.Sequential(ResidualBlock(FEATURE_CHANNELS, "instance"),
                                   nn.Conv2d(FEATURE_CHANNELS, FEATURE_CHANNELS, 3, padding=1))
        self.context = nn.Sequential(ResidualBlock(FEATURE_CHANNELS, "instance"),
                                     nn.Conv2d(FEATURE_CHANNELS, CONTEXT_CHANNELS, 3, padding=1))
        self.hidden = nn.Sequential(ResidualBlock(FEATURE_CHANNELS, "instance"),
                                    nn.Conv2d(FEATURE_CHANNELS, HIDDEN_CHANNELS, 3, padding=1))
        self.pnets = nn.ModuleList([pose_network() for _ in range(NUM_POSE_NETS)])
        self.pose_update = PoseUpdate(FEATURE_CHANNELS)

    def init_teacher_encoder(self, hrnet_state: Mapping[str, torch.Tensor]) -> None:
        """Load an `HRNetW18` state dict (e.g. ImageNet weights) into the `cnet_*` modules."""
        own = self.state_dict()
        mapped = {_teacher_key(k): v for k, v in hrnet_state.items()}
        missing = [k for k in own if k.startswith("cnet_") and k not in mapped
                   and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in mapped if k not in own]
        if missing or unexpected:
            raise KeyError(f"HRNet-W18 state: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.load_state_dict(mapped, strict=False)

    # -- teacher networks -------------------------------------------------------------------

    def _teacher(self, image: torch.Tensor, lookup: torch.Tensor
                 ) -> tuple[dict[tuple[str, int], torch.Tensor], torch.Tensor, torch.Tensor]:
        """Teacher disparities `("disp", 1..3)`, the stride-4 decoder feature of the current
        frame and the stride-4 stem features of both frames `(2B, 64, H/4, W/4)`."""
        b = image.shape[0]
        x0a = self.cnet_layer0a(torch.cat([image, lookup], 0))
        x0b = self.cnet_layer0b(x0a)
        s2, s3, s4 = run_stages(
            self.cnet_layer1(x0b[:b]),
            [self.cnet_transition1, self.cnet_transition2, self.cnet_transition3],
            [self.cnet_stage2, self.cnet_stage3, self.cnet_stage4])
        disps, x4 = self.decoder(x0a[:b], [x0b[:b], s2[0], s3[0], s4[0]], [s2[1], s3[1], s4[1]],
                                 [s3[2], s4[2]], s4[3], scales=(1, 2, 3))
        return disps, x4, x0b

    def _pose(self, first: torch.Tensor, second: torch.Tensor, invert: bool) -> torch.Tensor:
        """`pnets[0]` on normalised frames stacked in the given order -> `(B, 4, 4)`."""
        encoder, head, relu = self.pnets[0]
        out = relu(head["squeeze"](encoder(torch.cat([first, second], 1))[-1]))
        out = relu(head["pose0"](out))
        out = relu(head["pose1"](out))
        out = head["pose2"](out).mean(3).mean(2)
        out = POSE_SCALE * out.view(-1, 1, 1, 6)
        return transformation_from_parameters(out[:, 0, :, :3], out[:, 0, :, 3:], invert=invert)

    def relative_pose(self, first: torch.Tensor, second: torch.Tensor, invert: bool
                      ) -> torch.Tensor:
        """Pose network on two frames `(B, 3, H, W)` in [0, 1], in temporal order: the transform
        from the first camera to the second, or with `invert` from the second to the first."""
        return self._pose(_normalise(first), _normalise(second), invert)

    # -- refinement ---------------------------------------------------------------------------

    def _depth_to_disp(self, depth: torch.Tensor) -> torch.Tensor:
        min_disp, max_disp = 1 / self.options.max_depth, 1 / self.options.min_depth
        return (1 / depth - min_disp) / (max_disp - min_disp)

    def _refinement_step(self, hidden: torch.Tensor, depth: torch.Tensor, track: _PoseTrack,
                         context: torch.Tensor, cost: LocalCost, camera: PinholeCamera,
                         fmaps: tuple[torch.Tensor, torch.Tensor],
                         confidences: tuple[torch.Tensor, torch.Tensor]
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """One f evaluation: new hidden state and depth `(B, 1, h, w)`; updates `track`."""
        o = self.options
        pose = track.pose
        with _full_precision(depth):
            hypotheses, max_step = self.reproject_2.hypotheses(depth)
            coords, _ = camera.transform_and_project(pose, hypotheses)
            b, _, _, h, w = hypotheses.shape
            local_cost = cost(coords.view(b, 2, o.num_levels, -1, h, w))
        hidden, step = self.update_block(hidden, context, local_cost, depth)
        depth = torch.clamp(depth + torch.tanh(step) * max_step, o.min_depth, o.max_depth)
        weight = self.update_block.weight(hidden)
        with _full_precision(depth):
            for _ in range(o.num_pose_iter):
                pose, norm = self.pose_update.gauss_newton_step(
                    pose, camera, depth.float(), *fmaps, *confidences, weight.float())
        track.record(pose, norm)
        return hidden, depth

    def forward(self, image: torch.Tensor, lookup: torch.Tensor, K: torch.Tensor
                ) -> tuple[dict[object, torch.Tensor], list[torch.Tensor]]:
        """`image`, `lookup` `(B, 3, H, W)` in [0, 1] (lookup = previous frame), `K (B, 4, 4)`
        intrinsics at 1/4 resolution -> outputs and `[T0, T*]` (current → lookup camera)."""
        o = self.options
        image, lookup = _normalise(image), _normalise(lookup)
        b = image.shape[0]
        disps, x4, stem = self._teacher(image, lookup)
        fmap_current, fmap_lookup = self.conv2(stem).float().split(b, 0)
        context = torch.relu(self.context(x4))
        hidden0 = torch.tanh(self.hidden(x4))
        outputs: dict[object, torch.Tensor] = {("disp", s, 0): d for (_, s), d in disps.items()}
        disp0 = disps[("disp", 2)]
        depth0 = disp_to_depth(disp0, o.min_depth, o.max_depth)[1]
        outputs[("disp", 0, 0)] = self._convex_upsample(disp0, hidden0)
        pose0 = self._pose(lookup, image, invert=True)

        h, w = fmap_current.shape[-2:]
        with _full_precision(image):
            camera = PinholeCamera(K.float(), h, w)
            cost = LocalCost(fmap_current, fmap_lookup, o.num_levels)
        confidences = self.pose_update.confidence(stem)
        track = _PoseTrack(pose0)
        track.record(pose0, pose0.new_full((b,), INITIAL_UPDATE_NORM))
        hidden_size = hidden0[0].numel()

        def f(z: torch.Tensor) -> torch.Tensor:
            hid = z[:, :hidden_size].view_as(hidden0)
            dep = z[:, hidden_size:].view_as(depth0)
            hid, dep = self._refinement_step(hid, dep, track, context, cost, camera,
                                             (fmap_current, fmap_lookup), confidences)
            return torch.cat([hid.reshape(b, -1), dep.reshape(b, -1)], 1).float()

        z0 = torch.cat([hidden0.reshape(b, -1), depth0.reshape(b, -1)], 1).float()
        with torch.no_grad():
            z = solve_fixed_point(f, z0, o.f_thres, o.solver, o.anderson_memory,
                                  o.anderson_lambda, o.anderson_beta)
        track.pose = track.smallest_update()
        if self.training:
            z = phantom_gradient(f, z, o.phantom_grad, o.tau)
        hidden_star = z[:, :hidden_size].view_as(hidden0)
        disp_star = self._depth_to_disp(z[:, hidden_size:].view_as(depth0))
        outputs[("disp", 2, 1)] = disp_star
        outputs[("disp", 0, 1)] = self._convex_upsample(disp_star, hidden_star)
        if self.training:
            consistency_pose = track.pose if o.consistency_pose == "Tstar" else pose0
            with torch.no_grad(), _full_precision(depth0):
                outputs["consistency_mask"] = consistency_mask(
                    depth0.float(), consistency_pose.float(), camera, cost, o.min_depth,
                    o.max_depth, o.num_depth_bins)
        return outputs, [pose0, track.pose]

    def _convex_upsample(self, disp: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return self.update_block.convex_upsample(disp.float(), hidden)


def _teacher_key(key: str) -> str:
    """`HRNetW18` key -> `DEQDepthPose` key (`conv1.w` -> `cnet_layer0a.0.w`, `layer1.x` ->
    `cnet_layer1.x`, ...)."""
    for prefix, target in TEACHER_STEM_KEYS.items():
        if key.startswith(prefix):
            return target + key[len(prefix):]
    return "cnet_" + key


def _normalise(image: torch.Tensor) -> torch.Tensor:
    return ((image - INPUT_MEAN) / INPUT_STD).contiguous()

