"""DualRefine (Bangunharcana et al., CVPR 2023): self-supervised depth and pose refined jointly
towards an equilibrium (network in `depthrepro.nets.dualrefine`).

Losses follow the official trainer (antabangun/DualRefine @ d311514):
- for (scale, iteration) in (0, 0), (0, 1), (2, 0), (2, 1), (3, 0) (scale 1 is skipped;
  iteration 0 = teacher, 1 = refined): minimum reprojection over frames −1 and +1 with
  auto-masking, at full resolution from the bilinearly upsampled disparity, normalised by the
  number of kept pixels, plus edge-aware smoothness (1e-3 / 2^s) on the mean-normalised
  disparity at its own scale. Iteration 0 warps frame −1 with T0, iteration 1 with T* (frame +1
  always with the pose network's T0, detached for iteration 1). For iteration 1 the kept pixels
  are also restricted to the consistency mask, and an L1 loss pulls the refined depth towards
  the detached teacher depth on the other pixels.
- The official accumulation adds a running per-scale sum after each iteration, so a scale with
  both iterations contributes 2·L(teacher) + L(refined); the total is divided by 4.
- Pose-update loss (weight 1, not divided): the same masked minimum reprojection at scale 0 over
  frame −1 warped with (D*, T*) and frame +1 warped with (D0, T0).
At `freeze_teacher_epoch` everything but `conv2`, `context`, `hidden` and `update_block` stops
training (BatchNorm statistics keep updating, as in the official code) and the depth-range
trackers stop. The trackers (EMA of the teacher's min/max/mean/median depth) are saved in the
checkpoint as the official trainer does; the network does not use them.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import reduce
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.geometry.camera import WarperCache, disp_to_depth
from depthrepro.losses.photometric import SSIM, reprojection_loss
from depthrepro.losses.smoothness import get_smooth_loss
from depthrepro.methods.config import config_from_dict, load_module_state
from depthrepro.methods.dualrefine_checkpoint import released_to_state, with_extras
from depthrepro.methods.registry import register_method
from depthrepro.nets.deq import SOLVERS
from depthrepro.nets.dualrefine import DEQDepthPose, RefinementOptions
from depthrepro.nets.hrnet import read_hrnet_imagenet_state
from depthrepro.nets.resnet import ResnetEncoder, load_imagenet_weights

MATCHING_SCALE = 2
LOOKUP_FRAME = -1
AUTOMASK_NOISE = 1e-5
MASK_EPS = 1e-7
REFINEMENT_MODULES = ("conv2", "context", "hidden", "update_block")
# Official trainer: initial tracker values and their EMA momentum and widening.
INITIAL_DEPTH_BINS = {"min_depth_bin": 0.1, "max_depth_bin": 10.0, "mean_depth_bin": 1.0,
                      "median_depth_bin": 1.0}
BIN_TRACKER_MOMENTUM = 0.99
BIN_RANGE_MARGIN = (0.9, 1.1)
CONSISTENCY_POSES = ("Tstar", "T0")
POSE_UPDATE_TERM = (-1, -1)


@dataclass(frozen=True)
class DualRefineConfig(RefinementOptions):
    """Model and loss options with the official defaults (`dualrefine/options.py`); the network's own
    options and their defaults are inherited from `nets.dualrefine.RefinementOptions`.

    `frame_ids`: reprojection-loss frames, `(0, -1, 1)` or `(0, -1)`; frame −1 is the matching
    frame. `solver`: "anderson" (the published method, as the official code runs on its own
    PyTorch 1.8) or "fixed_point" (what the same code does on PyTorch ≥ 1.13, see
    `nets.dualrefine.RefinementOptions`). `consistency_pose`, `tstar_d0_pair`, `dstar_t0_pair`
    are the official `--Pose_for_consistency_mask`, `--Tstar_D0_pair`, `--Dstar_T0_pair`.
    """

    height: int = 192
    width: int = 640
    frame_ids: tuple[int, ...] = (0, -1, 1)
    scales: tuple[int, ...] = (0, 1, 2, 3)
    disparity_smoothness: float = 1e-3
    freeze_teacher_epoch: int = 15
    tstar_d0_pair: bool = False
    dstar_t0_pair: bool = False
    avg_reprojection: bool = False
    disable_automasking: bool = False
    disable_motion_masking: bool = False

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> DualRefineConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, "dualrefine")

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.height % 32 or self.width % 32:
            raise ValueError(f"dualrefine config: height and width must be multiples of 32, "
                             f"got {self.height}x{self.width}")
        if self.frame_ids not in ((0, -1, 1), (0, -1)):
            raise ValueError(f"dualrefine config: frame_ids must be [0, -1, 1] or [0, -1], "
                             f"got {list(self.frame_ids)}")
        if tuple(sorted(self.scales)) != (0, 1, 2, 3):
            raise ValueError(f"dualrefine config: scales must be [0, 1, 2, 3] (the network's "
                             f"outputs), got {list(self.scales)}")
        if self.solver not in SOLVERS:
            raise ValueError(f"dualrefine config: solver must be one of {SOLVERS}, "
                             f"got {self.solver!r}")
        if self.consistency_pose not in CONSISTENCY_POSES:
            raise ValueError(f"dualrefine config: consistency_pose must be one of "
                             f"{CONSISTENCY_POSES}, got {self.consistency_pose!r}")
        for key in ("f_thres", "phantom_grad", "num_pose_iter", "corr_radius", "num_levels"):
            if getattr(self, key) < 1:
                raise ValueError(f"dualrefine config: {key} must be >= 1, "
                                 f"got {getattr(self, key)}")

    def refinement(self) -> RefinementOptions:
        """The network's options."""
        return RefinementOptions(**{f.name: getattr(self, f.name) for f in fields(RefinementOptions)})


@register_method("dualrefine")
class DualRefine(nn.Module):
    """`DEQDepthPose` (`self.net`) with the official self-supervised losses.

    `test_frames`: frame t and its lookup frame t−1, as `predict_disparity` needs them.
    """

    freezes_parameters = True

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = DualRefineConfig.from_dict(cfg)
        self.test_frames: list[int] = [0, LOOKUP_FRAME]
        self.net = DEQDepthPose(self.config.refinement())
        self.source_frames: list[int] = list(self.config.frame_ids[1:])
        self.depth_bins = dict(INITIAL_DEPTH_BINS)
        self.teacher_frozen = False
        self.ssim = SSIM()
        self._warpers = WarperCache()

    # -- prediction ---------------------------------------------------------------------------

    def predict_disparity(self, inputs: Mapping[Any, torch.Tensor]) -> torch.Tensor:
        """Refined sigmoid disparity `("disp", 0, 1)` `(B, 1, H, W)` as the official evaluation
        computes it: each sample on its own (batch size 1, since the solver's step selection
        is shared by a batch), and the teacher's `("disp", 0, 0)` where the lookup frame is
        missing (all zeros).

        `inputs`: `("color", 0, 0)`, `("color", -1, 0)` `(B, 3, H, W)` in [0, 1] and `("K", 2)`
        `(B, 4, 4)` (intrinsics at 1/4 resolution).
        """
        image, lookup = inputs[("color", 0, 0)], inputs[("color", LOOKUP_FRAME, 0)]
        K = inputs[("K", MATCHING_SCALE)]
        disps = []
        for i in range(image.shape[0]):
            outputs, _ = self.net(image[i:i + 1], lookup[i:i + 1], K[i:i + 1])
            missing = bool(lookup[i].sum() == 0)
            disps.append(outputs[("disp", 0, 0) if missing else ("disp", 0, 1)])
        return torch.cat(disps, 0)

    def predict_relative_pose(self, frame_a: torch.Tensor, frame_b: torch.Tensor,
                              K: torch.Tensor | None = None) -> torch.Tensor:
        """Refined transform T* `(B, 4, 4)` mapping points of camera a into camera b, from frames
        `(B, 3, H, W)` in [0, 1] with a before b and their intrinsics `K` `(B, 4, 4)` at that size.

        As the network is trained (current frame b, lookup = the previous frame a), the equilibrium
        solve runs on (b, a) — one sample at a time, as `predict_disparity` — and yields T* from b to a,
        which is inverted. The official repository releases no odometry script; its author takes the
        second pose output of the network as the refined pose for odometry (antabangun/DualRefine#2).
        """
        if K is None:
            raise ValueError("dualrefine: predict_relative_pose needs the frames' intrinsics K (B, 4, 4)")
        K_matching = K.clone()
        K_matching[:, :2, :] /= 2 ** MATCHING_SCALE
        poses = []
        for i in range(frame_a.shape[0]):
            _, (_, pose_star) = self.net(frame_b[i:i + 1], frame_a[i:i + 1], K_matching[i:i + 1])
            poses.append(torch.linalg.inv(pose_star.float()))
        return torch.cat(poses, 0)

    # -- losses ---------------------------------------------------------------------------------

    def _full_res_depth(self, disp: torch.Tensor) -> torch.Tensor:
        """Depth `(B, 1, H, W)` from a disparity `(B, 1, H/2^s, W/2^s)` upsampled bilinearly."""
        c = self.config
        disp = F.interpolate(disp, [c.height, c.width], mode="bilinear", align_corners=False)
        return disp_to_depth(disp, c.min_depth, c.max_depth)[1]

    def _warp(self, inputs: Mapping[Any, torch.Tensor], depth: torch.Tensor, frame: int,
              pose: torch.Tensor) -> torch.Tensor:
        """Frame `frame` (un-augmented, full resolution) resampled into frame 0."""
        backproject, project = self._warpers.get(depth.shape[0], self.config.height, self.config.width, depth.device)
        points = backproject(depth, inputs[("inv_K", 0)])
        grid = project(points, inputs[("K", 0)], pose)
        return F.grid_sample(inputs[("color", frame, 0)], grid, padding_mode="border",
                             align_corners=True)

    def _identity_error(self, inputs: Mapping[Any, torch.Tensor]) -> torch.Tensor:
        """Error of the unwarped sources, reduced over sources `(B, 1, H, W)` (auto-masking)."""
        target = inputs[("color", 0, 0)]
        identity = torch.cat([reprojection_loss(inputs[("color", f, 0)], target, self.ssim)
                              for f in self.source_frames], 1)
        if self.config.avg_reprojection:
            return identity.mean(1, keepdim=True)
        return identity.min(1, keepdim=True)[0]

    def _min_reprojection(self, inputs: Mapping[Any, torch.Tensor],
                          warped: Mapping[int, torch.Tensor], identity: torch.Tensor | None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel reprojection error reduced over sources `(B, 1, H, W)` and the auto-mask
        (1 where it is below the `identity` error; all ones without auto-masking)."""
        target = inputs[("color", 0, 0)]
        errors = torch.cat([reprojection_loss(warped[f], target, self.ssim)
                            for f in self.source_frames], 1)
        if self.config.avg_reprojection:
            error = errors.mean(1, keepdim=True)
        else:
            error = errors.min(1, keepdim=True)[0]
        if identity is None:
            return error, torch.ones_like(error)
        # Fresh tiny noise for every use breaks ties between identity and warped errors.
        noisy = identity + torch.randn(identity.shape, device=identity.device) * AUTOMASK_NOISE
        mask = torch.argmin(torch.cat([error, noisy], 1), 1, keepdim=True) == 0
        return error, mask.to(error.dtype)

    @staticmethod
    def _masked_mean(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (loss * mask).sum() / (mask.sum() + MASK_EPS)

    def _smoothness(self, inputs: Mapping[Any, torch.Tensor], disp: torch.Tensor,
                    scale: int) -> torch.Tensor:
        norm_disp = disp / (disp.mean(2, True).mean(3, True) + MASK_EPS)
        smooth = get_smooth_loss(norm_disp, inputs[("color", 0, scale)])
        return self.config.disparity_smoothness * smooth / (2 ** scale)

    def loss_terms(self, inputs: Mapping[Any, torch.Tensor], outputs: Mapping[Any, torch.Tensor],
                   poses: Mapping[Any, torch.Tensor]) -> dict[tuple[int, int], torch.Tensor]:
        """The loss `L(s, i)` of every (scale, iteration) pair the official trainer uses, and
        `"pose_update"` under the key `(-1, -1)`.

        `outputs`: the network's disparities and `"consistency_mask"`; `poses`: `("T0", f)` for
        every source frame f and `"Tstar"` (frame −1).
        """
        c = self.config
        consistency = F.interpolate(outputs["consistency_mask"].to(inputs[("color", 0, 0)].dtype),
                                    [c.height, c.width], mode="nearest")
        identity = None if c.disable_automasking else self._identity_error(inputs)
        depths: dict[tuple[int, int], torch.Tensor] = {}
        warped: dict[tuple[int, int, int], torch.Tensor] = {}
        terms: dict[tuple[int, int], torch.Tensor] = {}
        for s, i in iteration_pairs(c.scales):
            disp = outputs[("disp", s, i)]
            depth = depths[(s, i)] = self._full_res_depth(disp)
            for f in self.source_frames:
                pose = poses[("T0", f)]
                if i > 0:
                    if f == LOOKUP_FRAME and not c.dstar_t0_pair:
                        pose = poses["Tstar"]
                    else:
                        pose = pose.detach()
                warped[(f, s, i)] = self._warp(inputs, depth, f, pose)
            error, mask = self._min_reprojection(
                inputs, {f: warped[(f, s, i)] for f in self.source_frames}, identity)
            term = self._smoothness(inputs, disp, s)
            if i > 0:
                if not c.disable_motion_masking:
                    mask = mask * consistency
                teacher = depths[(s, 0)].detach()
                term = term + (torch.abs(depth - teacher) * (1 - mask)).mean()
            terms[(s, i)] = term + self._masked_mean(error, mask)

        depth_star = depths[(0, 0)].detach() if c.tstar_d0_pair else depths[(0, 1)]
        pose_warped = {f: warped[(f, 0, 0)] for f in self.source_frames}
        pose_warped[LOOKUP_FRAME] = self._warp(inputs, depth_star, LOOKUP_FRAME, poses["Tstar"])
        error, mask = self._min_reprojection(inputs, pose_warped, identity)
        terms[POSE_UPDATE_TERM] = self._masked_mean(error, mask)
        return terms

    def training_step(self, inputs: Mapping[Any, torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch.

        `inputs`: `("color", f, s)` and `("color_aug", f, s)` `(B, 3, H/2^s, W/2^s)` for f in
        `frame_ids`, s in 0..3; `("K", s)`, `("inv_K", s)` `(B, 4, 4)`.
        """
        aug = {f: inputs[("color_aug", f, 0)] for f in self.config.frame_ids}
        outputs, (pose0, pose_star) = self.net(aug[0], aug[LOOKUP_FRAME],
                                               inputs[("K", MATCHING_SCALE)])
        outputs = {k: v.float() for k, v in outputs.items()}
        poses: dict[Any, torch.Tensor] = {("T0", LOOKUP_FRAME): pose0.float(),
                                          "Tstar": pose_star.float()}
        for f in self.source_frames:
            if f != LOOKUP_FRAME:
                poses[("T0", f)] = self.net.relative_pose(aug[0], aug[f], invert=False).float()
        with torch.autocast(aug[0].device.type, enabled=False):
            terms = self.loss_terms(inputs, outputs, poses)
        total = combine_loss_terms(terms, len(self.config.scales))
        if not self.teacher_frozen:
            self._update_depth_bins(self._full_res_depth(outputs[("disp", 0, 0)]))
        logs = {f"loss/{s}_{i}": t.item() for (s, i), t in terms.items() if s >= 0}
        logs["loss/pose_update"] = terms[POSE_UPDATE_TERM].item()
        logs["loss"] = total.item()
        logs["consistency_mask"] = outputs["consistency_mask"].float().mean().item()
        logs.update({f"depth_bin/{k.removesuffix('_depth_bin')}": v
                     for k, v in self.depth_bins.items()})
        return total, logs

    def _update_depth_bins(self, depth: torch.Tensor) -> None:
        """The official trackers: EMA (0.99) of the batch-mean per-image min (×0.9, at least
        `min_depth`) and max (×1.1) depth, the median of row medians, and the mean depth of
        the first image of the batch (as the official code indexes it)."""
        depth = depth.detach()
        current = {
            "min_depth_bin": max(self.config.min_depth,
                                 depth.amin(dim=(2, 3)).mean().item() * BIN_RANGE_MARGIN[0]),
            "max_depth_bin": depth.amax(dim=(2, 3)).mean().item() * BIN_RANGE_MARGIN[1],
            "mean_depth_bin": depth[0].mean().item(),
            "median_depth_bin": depth.median(-1)[0].median(-1)[0].mean().item(),
        }
        m = BIN_TRACKER_MOMENTUM
        self.depth_bins = {k: v * m + current[k] * (1 - m) for k, v in self.depth_bins.items()}

    # -- training schedule ----------------------------------------------------------------------

    def freeze_backbone(self) -> None:
        """Only `conv2`, `context`, `hidden` and `update_block` keep training; the depth-range
        trackers stop."""
        self.teacher_frozen = True
        self.net.requires_grad_(False)
        for name in REFINEMENT_MODULES:
            getattr(self.net, name).requires_grad_(True)

    def on_epoch_start(self, epoch: int) -> None:
        """Trainer hook: freeze at `freeze_teacher_epoch`."""
        if epoch >= self.config.freeze_teacher_epoch and not self.teacher_frozen:
            self.freeze_backbone()

    def init_from_imagenet(self, path: str | Path, pose_path: str | Path) -> None:
        """HRNet-W18 (`path`, teacher encoder) and ResNet-18 (`pose_path`, all three pose
        encoders, first conv tiled over the two frames and halved) from their ImageNet files."""
        self.net.init_teacher_encoder(read_hrnet_imagenet_state(path))
        pair_encoder = ResnetEncoder(18, num_input_images=2)
        load_imagenet_weights(pair_encoder, pose_path)
        for pose_net in self.net.pnets:
            pose_net[0].load_state_dict(pair_encoder.encoder.state_dict())

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint_state(self) -> dict[str, Any]:
        """The official `depth_pose.pth` contents: the network's state dict plus `height`,
        `width` and the four depth-range trackers."""
        return with_extras(self.net.state_dict(), self.config.height, self.config.width,
                           self.depth_bins)

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Load `depth_pose.pth` contents (official release or `checkpoint_state`). Its
        `height`/`width`, when present, must match the config; absent trackers keep their
        initial values (the network does not use them)."""
        weights, extras = released_to_state(state, self.net.state_dict().keys())
        size = tuple(extras.get(k) for k in ("height", "width"))
        if None not in size and size != (self.config.height, self.config.width):
            raise ValueError(f"depth_pose.pth: trained at {size[0]}x{size[1]}, but the config "
                             f"asks for {self.config.height}x{self.config.width}")
        load_module_state(self.net, weights, "depth_pose")
        self.depth_bins = {k: float(extras.get(k, v)) for k, v in INITIAL_DEPTH_BINS.items()}


def iteration_pairs(scales: tuple[int, ...]) -> list[tuple[int, int]]:
    """(scale, iteration) pairs of the official loss: both iterations at scales 0 and 2, the
    teacher only at scale 3, nothing at scale 1."""
    return [(s, i) for s in scales if s != 1 for i in ((0, 1) if s in (0, 2) else (0,))]


def combine_loss_terms(terms: Mapping[tuple[int, int], torch.Tensor], num_scales: int
                       ) -> torch.Tensor:
    """The official accumulation: per scale a running sum over iterations is added to the total
    after each iteration (so 2·L(s, 0) + L(s, 1)), the total is divided by the number of scales
    (scale 1 included), then the pose-update term is added."""
    total = []
    for s in sorted({s for s, _ in terms if s >= 0}):
        running = []
        for i in sorted(i for t, i in terms if t == s):
            running.append(terms[(s, i)])
            total.append(reduce(operator.add, running))
    return reduce(operator.add, total) / num_scales + terms[POSE_UPDATE_TERM]

