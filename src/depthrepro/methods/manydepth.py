"""ManyDepth (Watson et al., CVPR 2021): a cost-volume depth network trained by view synthesis.

Networks, as in the official release: the multi-frame depth network (`encoder`, a
`ResnetEncoderMatching`, + `depth`), a single-frame teacher (`mono_encoder` + `mono_depth`,
Monodepth2's depth network) and a pose network (`pose_encoder` + `pose`).

Losses follow the official trainer, averaged over scales and summed over the two networks:
- teacher: per-pixel minimum reprojection over the source frames with auto-masking (the warped
  error must beat the identity error), normalised by the number of kept pixels, plus edge-aware
  smoothness (1e-3 / 2^s);
- multi-frame: the same reprojection (no auto-masking, poses detached) on the pixels where the
  cost volume is trusted; elsewhere an L1 consistency loss pulls its depth towards the (detached)
  teacher depth. The cost volume is distrusted where a depth bin fell outside the lookup image,
  where its lowest-cost depth and the teacher depth differ by more than a factor 2, and on whole
  samples hit by the matching augmentation (lookup frame replaced by frame t, or all relative
  poses zeroed, each with probability 1/4).
Warping uses full-resolution depth from each scale's upsampled disparity and `align_corners=True`.
The cost-volume depth range tracks the teacher's depth range (EMA 0.99) until the teacher and
pose network are frozen at `freeze_teacher_epoch`.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.geometry.camera import WarperCache, disp_to_depth
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.losses.photometric import SSIM, reprojection_loss
from depthrepro.losses.smoothness import get_smooth_loss
from depthrepro.methods.config import config_from_dict, load_module_state
from depthrepro.methods.registry import register_method
from depthrepro.nets.depth_decoder import DepthDecoder
from depthrepro.nets.pose_decoder import PoseDecoder
from depthrepro.nets.resnet import ImagenetFiles, ResnetEncoder, imagenet_file, load_imagenet_weights
from depthrepro.nets.resnet_matching import DEPTH_BINNINGS, ResnetEncoderMatching

TEACHER_LAYERS = 18
MATCHING_SCALE = 2
AUTOMASK_NOISE = 1e-5
MASK_EPS = 1e-7
STATIC_CAMERA_PROB = 0.25
ZERO_COST_VOLUME_PROB = 0.25
MATCHING_AGREEMENT_FACTOR = 2.0
BIN_TRACKER_MOMENTUM = 0.99
BIN_RANGE_MARGIN = (0.9, 1.1)
ENCODER_FILE_EXTRAS = ("height", "width", "min_depth_bin", "max_depth_bin")
TEACHER_FILES = ("mono_encoder", "mono_depth")


@dataclass(frozen=True)
class ManyDepthConfig:
    """Model and loss options, with the official defaults.

    `frame_ids`: frames of the reprojection loss. `min_depth_bin`/`max_depth_bin`: initial depth
    range of the cost volume (the official trackers start at 0.1 and 10). The lookup frames are
    t−1 … t−`num_matching_frames`, plus t+1 with `use_future_frame`.
    """

    num_layers: int = 18
    height: int = 192
    width: int = 640
    frame_ids: tuple[int, ...] = (0, -1, 1)
    scales: tuple[int, ...] = (0, 1, 2, 3)
    min_depth: float = 0.1
    max_depth: float = 100.0
    disparity_smoothness: float = 1e-3
    num_depth_bins: int = 96
    depth_binning: str = "linear"
    min_depth_bin: float = 0.1
    max_depth_bin: float = 10.0
    freeze_teacher_epoch: int = 15
    use_future_frame: bool = False
    num_matching_frames: int = 1
    avg_reprojection: bool = False
    disable_automasking: bool = False
    disable_motion_masking: bool = False
    no_matching_augmentation: bool = False

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> ManyDepthConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, "manydepth")

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.height % 32 or self.width % 32:
            raise ValueError(f"manydepth config: height and width must be multiples of 32, "
                             f"got {self.height}x{self.width}")
        ids = self.frame_ids
        if (len(ids) < 2 or ids[0] != 0 or len(set(ids)) != len(ids)
                or not all(isinstance(f, int) and not isinstance(f, bool) for f in ids)):
            raise ValueError(f"manydepth config: frame_ids must be distinct ints starting with 0 "
                             f"and list at least one source frame, got {list(ids)}")
        if self.use_future_frame and 1 not in ids:
            raise ValueError(f"manydepth config: use_future_frame needs 1 in frame_ids, "
                             f"got {list(ids)}")
        if 0 not in self.scales or not set(self.scales) <= {0, 1, 2, 3}:
            raise ValueError(f"manydepth config: scales must include 0 and lie in 0..3, "
                             f"got {list(self.scales)}")
        if self.num_matching_frames < 1:
            raise ValueError(f"manydepth config: num_matching_frames must be >= 1, "
                             f"got {self.num_matching_frames}")
        if self.depth_binning not in DEPTH_BINNINGS:
            raise ValueError(f"manydepth config: depth_binning must be one of {DEPTH_BINNINGS}, "
                             f"got {self.depth_binning!r}")
        if not 0 < self.min_depth_bin < self.max_depth_bin:
            raise ValueError(f"manydepth config: need 0 < min_depth_bin < max_depth_bin, got "
                             f"{self.min_depth_bin} and {self.max_depth_bin}")


@register_method("manydepth")
class ManyDepth(nn.Module):
    """Multi-frame depth network, single-frame teacher and pose network with the official loss.

    Built from a config dict (see `ManyDepthConfig`). `frames_to_load` lists the frame ids a
    training sample needs; `test_frames` those `predict_disparity` needs (t, then the lookups).
    """

    # The teacher and pose network stop receiving gradients at `freeze_teacher_epoch`, and
    # `encoder.prematching_conv` (kept for the official file layout) never receives any.
    freezes_parameters = True

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = ManyDepthConfig.from_dict(cfg)
        c = self.config
        self.source_frames: list[int] = list(c.frame_ids[1:])
        self.matching_ids: list[int] = ([1] if c.use_future_frame else []) + list(
            range(-1, -1 - c.num_matching_frames, -1))
        self.frames_to_load: list[int] = [
            *c.frame_ids, *(f for f in self.matching_ids if f not in c.frame_ids)]
        self.test_frames: list[int] = [0, *self.matching_ids]
        self.min_depth_bin = c.min_depth_bin
        self.max_depth_bin = c.max_depth_bin
        self.teacher_frozen = False

        self.encoder = ResnetEncoderMatching(
            c.num_layers, False, c.height, c.width, min_depth_bin=c.min_depth_bin,
            max_depth_bin=c.max_depth_bin, num_depth_bins=c.num_depth_bins, adaptive_bins=True,
            depth_binning=c.depth_binning)
        self.depth = DepthDecoder(self.encoder.num_ch_enc, c.scales)
        self.mono_encoder = ResnetEncoder(TEACHER_LAYERS)
        self.mono_depth = DepthDecoder(self.mono_encoder.num_ch_enc, c.scales)
        self.pose_encoder = ResnetEncoder(TEACHER_LAYERS, num_input_images=2)
        self.pose = PoseDecoder(self.pose_encoder.num_ch_enc, num_input_features=1,
                                num_frames_to_predict_for=2)
        self.ssim = SSIM()
        self._warpers = WarperCache()

    def forward(self, color: torch.Tensor, lookup_images: torch.Tensor,
                relative_poses: torch.Tensor, K: torch.Tensor, inv_K: torch.Tensor
                ) -> dict[Any, torch.Tensor]:
        """Multi-frame depth network at the current depth-bin range.

        `color (B, 3, H, W)` and `lookup_images (B, F, 3, H, W)` in [0, 1]; `relative_poses
        (B, F, 4, 4)` from frame t to each lookup frame (all zero: frame ignored); `K`, `inv_K`
        `(B, 4, 4)` at 1/4 resolution. Returns `{("disp", s): (B, 1, H/2^s, W/2^s)}` plus
        `"lowest_cost"` and `"confidence_mask"` `(B, H/4, W/4)`.
        """
        features, lowest_cost, confidence_mask = self.encoder(
            color, lookup_images, relative_poses, K, inv_K, self.min_depth_bin,
            self.max_depth_bin)
        outputs: dict[Any, torch.Tensor] = dict(self.depth(features))
        outputs["lowest_cost"] = lowest_cost
        outputs["confidence_mask"] = confidence_mask
        return outputs

    def teacher(self, color: torch.Tensor) -> dict[tuple[str, int], torch.Tensor]:
        """Single-frame teacher: `(B, 3, H, W)` -> `{("disp", s): (B, 1, H/2^s, W/2^s)}`."""
        return self.mono_depth(self.mono_encoder(color))

    def relative_pose(self, earlier: torch.Tensor, later: torch.Tensor, invert: bool
                      ) -> torch.Tensor:
        """Transform `(B, 4, 4)` from two frames `(B, 3, H, W)` given in temporal order: it maps
        points from the earlier camera's coordinates into the later camera's, or (with `invert`)
        from the later camera's into the earlier camera's."""
        axisangle, translation = self.pose([self.pose_encoder(torch.cat([earlier, later], 1))])
        return transformation_from_parameters(axisangle[:, 0], translation[:, 0], invert=invert)

    def predict_relative_pose(self, frame_a: torch.Tensor, frame_b: torch.Tensor,
                              K: torch.Tensor | None = None) -> torch.Tensor:
        """Transform `(B, 4, 4)` mapping points of camera a into camera b, from frames `(B, 3, H, W)` in
        [0, 1] with a before b: the pose network (the one whose poses build the cost volume) on the
        pair in that order. `K` is not used."""
        return self.relative_pose(frame_a, frame_b, invert=False)

    def predict_poses(self, frames: Mapping[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Transforms `(B, 4, 4)` from frame 0 to each loss source frame (pairs with frame 0)."""
        return {f: (self.relative_pose(frames[f], frames[0], invert=True) if f < 0
                    else self.relative_pose(frames[0], frames[f], invert=False))
                for f in self.source_frames}

    def matching_poses(self, frames: Mapping[int, torch.Tensor], zero_missing: bool
                       ) -> dict[int, torch.Tensor]:
        """Transforms `(B, 4, 4)` from frame 0 to each lookup frame, chained through adjacent
        pairs (0→−1, −1→−2, ...). With `zero_missing`, an all-black lookup frame (a padded
        frame before the start of a sequence) gets an all-zero pose, so matching skips it."""
        poses: dict[int, torch.Tensor] = {}
        for f in self.matching_ids:
            if f < 0:
                pose = self.relative_pose(frames[f], frames[f + 1], invert=True)
                if f != -1:
                    pose = torch.matmul(pose, poses[f + 1])
            else:
                pose = self.relative_pose(frames[f - 1], frames[f], invert=False)
                if f != 1:
                    pose = torch.matmul(pose, poses[f - 1])
            if zero_missing:
                present = frames[f].flatten(1).sum(1) != 0
                pose = pose * present.to(pose.dtype).view(-1, 1, 1)
            poses[f] = pose
        return poses

    def predict_disparity(self, inputs: Mapping[Any, torch.Tensor]) -> torch.Tensor:
        """Multi-frame sigmoid disparity `(B, 1, H, W)`, as the official evaluation computes it.

        `inputs`: `("color", f, 0)` `(B, 3, H, W)` in [0, 1] for every f in `test_frames` (frame t
        and its lookup frames; a missing one is an all-zero image), and `("K", 2)`,
        `("inv_K", 2)` `(B, 4, 4)`: intrinsics at 1/4 resolution. Poses come from the pose
        network on the (eval-mode) frames.
        """
        frames = {f: inputs[("color", f, 0)] for f in self.test_frames}
        poses = self.matching_poses(frames, zero_missing=False)
        lookup = torch.stack([frames[f] for f in self.matching_ids], 1)
        relative = torch.stack([poses[f] for f in self.matching_ids], 1)
        outputs = self(frames[0], lookup, relative, inputs[("K", MATCHING_SCALE)],
                       inputs[("inv_K", MATCHING_SCALE)])
        return outputs[("disp", 0)]

    def predict_teacher_disparity(self, color: torch.Tensor) -> torch.Tensor:
        """Single-frame teacher's sigmoid disparity `(B, 1, H, W)` from `(B, 3, H, W)`."""
        return self.teacher(color)[("disp", 0)]

    def _full_res_depth(self, disp: torch.Tensor) -> torch.Tensor:
        """Depth `(B, 1, H, W)` from a disparity `(B, 1, H/2^s, W/2^s)` upsampled bilinearly."""
        c = self.config
        disp = F.interpolate(disp, [c.height, c.width], mode="bilinear", align_corners=False)
        return disp_to_depth(disp, c.min_depth, c.max_depth)[1]

    def _reduce_sources(self, losses: list[torch.Tensor]) -> torch.Tensor:
        """Per-pixel minimum (or mean) over source frames: `(B, 1, H, W)` each -> `(B, 1, H, W)`."""
        stacked = torch.cat(losses, 1)
        if self.config.avg_reprojection:
            return stacked.mean(1, keepdim=True)
        return stacked.min(1, keepdim=True)[0]

    def _reprojection(self, inputs: Mapping[Any, torch.Tensor], depth: torch.Tensor,
                      poses: Mapping[int, torch.Tensor]) -> torch.Tensor:
        """Photometric error of each source warped into frame 0, reduced over sources."""
        backproject, project = self._warpers.get(depth.shape[0], self.config.height, self.config.width, depth.device)
        cam_points = backproject(depth, inputs[("inv_K", 0)])
        target = inputs[("color", 0, 0)]
        losses = []
        for f in self.source_frames:
            grid = project(cam_points, inputs[("K", 0)], poses[f])
            warped = F.grid_sample(inputs[("color", f, 0)], grid, padding_mode="border",
                                   align_corners=True)
            losses.append(reprojection_loss(warped, target, self.ssim))
        return self._reduce_sources(losses)

    def _smoothness(self, inputs: Mapping[Any, torch.Tensor], disp: torch.Tensor,
                    scale: int) -> torch.Tensor:
        """Weighted edge-aware smoothness of the mean-normalised disparity at its own scale."""
        norm_disp = disp / (disp.mean(2, True).mean(3, True) + MASK_EPS)
        smooth = get_smooth_loss(norm_disp, inputs[("color", 0, scale)])
        return self.config.disparity_smoothness * smooth / (2 ** scale)

    @staticmethod
    def _masked_mean(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (loss * mask).sum() / (mask.sum() + MASK_EPS)

    def teacher_loss(self, inputs: Mapping[Any, torch.Tensor],
                     disps: Mapping[tuple[str, int], torch.Tensor],
                     depths: Mapping[int, torch.Tensor], poses: Mapping[int, torch.Tensor]
                     ) -> torch.Tensor:
        """Auto-masked minimum reprojection + smoothness, averaged over scales."""
        identity = None
        if not self.config.disable_automasking:
            target = inputs[("color", 0, 0)]
            identity = self._reduce_sources([
                reprojection_loss(inputs[("color", f, 0)], target, self.ssim)
                for f in self.source_frames])
        per_scale = []
        for s in self.config.scales:
            reprojection = self._reprojection(inputs, depths[s], poses)
            if identity is None:
                mask = torch.ones_like(reprojection)
            else:
                # Tiny noise breaks exact ties; on a remaining tie the warped error wins.
                noisy = identity + torch.randn(identity.shape, device=identity.device) \
                    * AUTOMASK_NOISE
                mask = (reprojection <= noisy).float()
            per_scale.append(self._masked_mean(reprojection, mask)
                             + self._smoothness(inputs, disps[("disp", s)], s))
        return reduce(operator.add, per_scale) / len(per_scale)

    def matching_mask(self, lowest_cost: torch.Tensor, confidence_mask: torch.Tensor,
                      teacher_depth: torch.Tensor) -> torch.Tensor:
        """Pixels where the cost volume is trusted, `(B, H, W)` in {0, 1}.

        `lowest_cost`, `confidence_mask` `(B, H/4, W/4)` are upsampled (nearest); the lowest-cost
        depth must lie within a factor 2 of the teacher depth `(B, 1, H, W)`.
        """
        c = self.config
        mask = F.interpolate(confidence_mask.unsqueeze(1), [c.height, c.width], mode="nearest")
        lowest = F.interpolate(lowest_cost.unsqueeze(1), [c.height, c.width], mode="nearest")
        matching_depth = 1 / lowest
        limit = MATCHING_AGREEMENT_FACTOR - 1
        agree = (((matching_depth - teacher_depth) / teacher_depth < limit)
                 & ((teacher_depth - matching_depth) / matching_depth < limit))
        return (mask * agree)[:, 0]

    def multi_frame_loss(self, inputs: Mapping[Any, torch.Tensor],
                         outputs: Mapping[Any, torch.Tensor],
                         teacher_depths: Mapping[int, torch.Tensor],
                         poses: Mapping[int, torch.Tensor], trusted: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """(total, consistency part): masked reprojection + consistency + smoothness per scale.

        `trusted (B, 1, H, W)`: where the reprojection loss applies; the consistency loss with the
        detached teacher depth applies on the rest. `poses` must already be detached.
        """
        per_scale, consistency = [], []
        for s in self.config.scales:
            depth = self._full_res_depth(outputs[("disp", s)])
            reprojection = self._reprojection(inputs, depth, poses)
            l1 = torch.abs(depth - teacher_depths[s].detach()) * (1 - trusted)
            consistency.append(l1.mean())
            per_scale.append(self._masked_mean(reprojection, trusted) + consistency[-1]
                             + self._smoothness(inputs, outputs[("disp", s)], s))
        num_scales = len(per_scale)
        return (reduce(operator.add, per_scale) / num_scales,
                reduce(operator.add, consistency) / num_scales)

    def _matching_augmentation(self, inputs: Mapping[Any, torch.Tensor],
                               lookup: torch.Tensor, relative: torch.Tensor
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Static-camera (lookups := un-augmented frame t) and zero-cost-volume (poses := 0)
        augmentation, each on a sample with probability 1/4. Returns the lookups, the poses and
        the per-sample mask `(B, 1, 1, 1)` of augmented samples."""
        batch = lookup.shape[0]
        draws = torch.rand(batch).to(lookup.device)
        static = draws < STATIC_CAMERA_PROB
        zeroed = ~static & (draws < STATIC_CAMERA_PROB + ZERO_COST_VOLUME_PROB)
        current = inputs[("color", 0, 0)].unsqueeze(1).expand_as(lookup)
        lookup = torch.where(static.view(-1, 1, 1, 1, 1), current, lookup)
        relative = relative * (~zeroed).to(relative.dtype).view(-1, 1, 1, 1)
        return lookup, relative, (static | zeroed).to(lookup.dtype).view(-1, 1, 1, 1)

    def _update_depth_bins(self, teacher_depth: torch.Tensor) -> None:
        """EMA of the teacher's batch-mean min/max depth, widened by 10%, as cost-volume range.

        Under DDP the batch means are averaged over processes, so every process keeps the same
        range (the mean over the global batch, as single-process training computes it).
        """
        depth = teacher_depth.detach()
        extremes = torch.stack([depth.amin(dim=(2, 3)).mean(), depth.amax(dim=(2, 3)).mean()])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(extremes)
            extremes = extremes / torch.distributed.get_world_size()
        low = extremes[0].item() * BIN_RANGE_MARGIN[0]
        high = extremes[1].item() * BIN_RANGE_MARGIN[1]
        m = BIN_TRACKER_MOMENTUM
        self.max_depth_bin = self.max_depth_bin * m + high * (1 - m)
        self.min_depth_bin = self.min_depth_bin * m + max(self.config.min_depth, low) * (1 - m)

    def training_step(self, inputs: Mapping[Any, torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch.

        `inputs`: `("color", f, s)` and `("color_aug", f, s)` `(B, 3, H/2^s, W/2^s)` for every f
        in `frames_to_load` and s in 0..3, `("K", s)` and `("inv_K", s)` `(B, 4, 4)`.
        """
        c = self.config
        aug_frames = {f: inputs[("color_aug", f, 0)] for f in self.frames_to_load}
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.teacher_frozen):
            poses = self.predict_poses(aug_frames)
            teacher_disps = self.teacher(aug_frames[0])
        with torch.no_grad():
            # A second pose pass, as the official trainer makes (BatchNorm statistics included).
            matching = self.matching_poses(aug_frames, zero_missing=True)
        lookup = torch.stack([aug_frames[f] for f in self.matching_ids], 1)
        relative = torch.stack([matching[f] for f in self.matching_ids], 1)
        augmented = None
        if not c.no_matching_augmentation:
            lookup, relative, augmented = self._matching_augmentation(inputs, lookup, relative)

        teacher_depths = {s: self._full_res_depth(teacher_disps[("disp", s)]) for s in c.scales}
        logs: dict[str, float] = {}
        teacher_total = None
        if not self.teacher_frozen:
            teacher_total = self.teacher_loss(inputs, teacher_disps, teacher_depths, poses)
            logs["loss/teacher"] = teacher_total.item()

        outputs = self(aug_frames[0], lookup, relative, inputs[("K", MATCHING_SCALE)],
                       inputs[("inv_K", MATCHING_SCALE)])
        trusted = torch.ones_like(teacher_depths[0])
        if not c.disable_motion_masking:
            trusted = trusted * self.matching_mask(
                outputs["lowest_cost"], outputs["confidence_mask"],
                teacher_depths[0]).unsqueeze(1)
        if augmented is not None:
            trusted = trusted * (1 - augmented)
        detached = {f: T.detach() for f, T in poses.items()}
        total, consistency = self.multi_frame_loss(inputs, outputs, teacher_depths, detached,
                                                   trusted)
        logs["loss/multi"] = total.item()
        logs["loss/consistency"] = consistency.item()
        if teacher_total is not None:
            total = total + teacher_total
            self._update_depth_bins(teacher_depths[0])
        logs["loss"] = total.item()
        logs["depth_bin/min"] = self.min_depth_bin
        logs["depth_bin/max"] = self.max_depth_bin
        return total, logs

    def _teacher_and_pose(self) -> list[nn.Module]:
        return [self.mono_encoder, self.mono_depth, self.pose_encoder, self.pose]

    def freeze_teacher(self) -> None:
        """Stop training the teacher and pose network: no gradients, BatchNorm in eval mode, no
        teacher loss and a fixed depth-bin range from now on."""
        self.teacher_frozen = True
        for module in self._teacher_and_pose():
            module.requires_grad_(False)
            module.eval()

    def on_epoch_start(self, epoch: int) -> None:
        """Trainer hook: freeze the teacher and pose network from `freeze_teacher_epoch` on."""
        if epoch >= self.config.freeze_teacher_epoch and not self.teacher_frozen:
            self.freeze_teacher()

    def train(self, mode: bool = True) -> ManyDepth:
        """As `nn.Module.train`, but a frozen teacher and pose network stay in eval mode."""
        super().train(mode)
        if self.teacher_frozen:
            for module in self._teacher_and_pose():
                module.eval()
        return self

    def depth_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of the multi-frame depth network (not its pixel grids)."""
        return [p for m in (self.encoder, self.depth) for p in m.parameters() if p.requires_grad]

    def teacher_parameters(self) -> list[nn.Parameter]:
        """Parameters of the single-frame teacher."""
        return [*self.mono_encoder.parameters(), *self.mono_depth.parameters()]

    def pose_parameters(self) -> list[nn.Parameter]:
        """Parameters of the pose network."""
        return [*self.pose_encoder.parameters(), *self.pose.parameters()]

    def init_from_imagenet(self, files: ImagenetFiles) -> None:
        """Initialise the three ResNet encoders from torchvision ImageNet files: one file, or
        `resnet<N>: path` when the matching encoder (`num_layers`) is deeper than the ResNet-18
        teacher and pose encoders."""
        self.encoder.init_from_imagenet(imagenet_file(files, self.config.num_layers))
        load_imagenet_weights(self.mono_encoder, imagenet_file(files, TEACHER_LAYERS))
        load_imagenet_weights(self.pose_encoder, imagenet_file(files, TEACHER_LAYERS))

    def _modules_by_file(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "depth": self.depth, "mono_encoder": self.mono_encoder,
                "mono_depth": self.mono_depth, "pose_encoder": self.pose_encoder,
                "pose": self.pose}

    def checkpoint_state(self) -> dict[str, dict[str, Any]]:
        """State dicts in the official folder layout: `encoder` (with `height`, `width` and the
        tracked `min_depth_bin`, `max_depth_bin`), `depth`, `mono_encoder`, `mono_depth`,
        `pose_encoder`, `pose`."""
        state = {name: dict(module.state_dict())
                 for name, module in self._modules_by_file().items()}
        state["encoder"].update(height=self.config.height, width=self.config.width,
                                min_depth_bin=self.min_depth_bin, max_depth_bin=self.max_depth_bin)
        return state

    def load_checkpoint_state(self, state: Mapping[str, Mapping[str, Any]],
                              require_teacher: bool = True) -> None:
        """Load the contents of an official model folder (`{"encoder": ..., "depth": ..., ...}`).

        The encoder file's `height`/`width` must match the config; its `min_depth_bin` and
        `max_depth_bin` become the cost-volume range. With `require_teacher=False`, missing
        `mono_encoder`/`mono_depth` files are allowed (the teacher keeps its weights).
        """
        modules = self._modules_by_file()
        required = [n for n in modules if require_teacher or n not in TEACHER_FILES]
        missing = [n for n in required if n not in state]
        if missing:
            raise KeyError(f"checkpoint: missing files {[f'{m}.pth' for m in missing]}; "
                           f"got {sorted(state)}")
        encoder_file = state["encoder"]
        absent = [k for k in ENCODER_FILE_EXTRAS if k not in encoder_file]
        if absent:
            raise KeyError(f"encoder.pth: missing entries {absent}")
        size = (int(encoder_file["height"]), int(encoder_file["width"]))
        if size != (self.config.height, self.config.width):
            raise ValueError(f"encoder.pth: trained at {size[0]}x{size[1]}, but the config "
                             f"asks for {self.config.height}x{self.config.width}")
        for name, module in modules.items():
            if name in state:
                entries = {k: v for k, v in state[name].items()
                           if not (name == "encoder" and k in ENCODER_FILE_EXTRAS)}
                load_module_state(module, entries, name)
        self.min_depth_bin = float(encoder_file["min_depth_bin"])
        self.max_depth_bin = float(encoder_file["max_depth_bin"])
        self.encoder.compute_depth_bins(self.min_depth_bin, self.max_depth_bin)

