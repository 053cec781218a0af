"""Monodepth2 (Godard et al., ICCV 2019): depth + pose networks trained by view synthesis.

Losses follow the official trainer: per-pixel minimum reprojection over source frames,
auto-masking against the unwarped sources, and edge-aware smoothness on mean-normalised
disparity weighted by 1/2^s, averaged over scales.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
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
from depthrepro.nets.resnet import ResnetEncoder, load_imagenet_weights

FrameId = int | str
STEREO = "s"
AUTOMASK_NOISE = 1e-5
ENCODER_FILE_EXTRAS = ("height", "width", "use_stereo")


@dataclass(frozen=True)
class Monodepth2Config:
    """Model and loss options, with the official defaults.

    `frame_ids`: `(0, -1, 1)` for M, `(0, "s")` for S, `(0, -1, 1, "s")` for MS.
    `pose_model_input`: `"pairs"` (one pass per source frame, temporal order) or `"all"`.
    """

    num_layers: int = 18
    height: int = 192
    width: int = 640
    frame_ids: tuple[FrameId, ...] = (0, -1, 1)
    scales: tuple[int, ...] = (0, 1, 2, 3)
    min_depth: float = 0.1
    max_depth: float = 100.0
    disparity_smoothness: float = 1e-3
    avg_reprojection: bool = False
    disable_automasking: bool = False
    v1_multiscale: bool = False
    pose_model_input: str = "pairs"

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> Monodepth2Config:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, "monodepth2")

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.height % 32 or self.width % 32:
            raise ValueError(f"monodepth2 config: height and width must be multiples of 32, "
                             f"got {self.height}x{self.width}")
        if not self.frame_ids or self.frame_ids[0] != 0 or len(self.frame_ids) < 2:
            raise ValueError(f"monodepth2 config: frame_ids must start with 0 and list at least "
                             f"one source frame, got {list(self.frame_ids)}")
        for f in self.frame_ids[1:]:
            if not (f == STEREO or (isinstance(f, int) and f != 0)):
                raise ValueError(f"monodepth2 config: source frame ids must be non-zero ints "
                                 f"or 's', got {f!r} in {list(self.frame_ids)}")
        if 0 not in self.scales or not set(self.scales) <= {0, 1, 2, 3}:
            raise ValueError(f"monodepth2 config: scales must include 0 and lie in 0..3, "
                             f"got {list(self.scales)}")
        if self.pose_model_input not in ("pairs", "all"):
            raise ValueError(f"monodepth2 config: pose_model_input must be 'pairs' or 'all', "
                             f"got {self.pose_model_input!r}")


@register_method("monodepth2")
class Monodepth2(nn.Module):
    """Depth network (`encoder` + `depth`) and, when temporal frames are used, pose network
    (`pose_encoder` + `pose`), plus the official self-supervised loss.

    Built from a config dict (see `Monodepth2Config`).
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = Monodepth2Config.from_dict(cfg)
        c = self.config
        self.source_frames: list[FrameId] = list(c.frame_ids[1:])
        self.temporal_frames: list[int] = [f for f in self.source_frames if isinstance(f, int)]

        self.encoder = ResnetEncoder(c.num_layers)
        self.depth = DepthDecoder(self.encoder.num_ch_enc, c.scales)
        self.pose_encoder: ResnetEncoder | None = None
        self.pose: PoseDecoder | None = None
        if self.temporal_frames:
            pairs = c.pose_model_input == "pairs"
            self.pose_encoder = ResnetEncoder(
                c.num_layers, num_input_images=2 if pairs else len(self.temporal_frames) + 1)
            self.pose = PoseDecoder(
                self.pose_encoder.num_ch_enc, num_input_features=1,
                num_frames_to_predict_for=2 if pairs else len(self.temporal_frames))
        self.ssim = SSIM()
        self._warpers = WarperCache()

    def forward(self, color: torch.Tensor) -> dict[tuple[str, int], torch.Tensor]:
        """Depth network: `(B, 3, H, W)` in [0, 1] -> `{("disp", s): (B, 1, H/2^s, W/2^s)}`."""
        return self.depth(self.encoder(color))

    def predict_disparity(self, color: torch.Tensor) -> torch.Tensor:
        """Sigmoid disparity at full resolution `(B, 1, H, W)`, as evaluation consumes it."""
        return self(color)[("disp", 0)]

    def predict_poses(self, inputs: Mapping[Any, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Camera transforms `(B, 4, 4)` from frame 0 to each temporal source frame.

        Uses `("color_aug", f, 0)`. With `"pairs"`, frames are fed in temporal order and the
        result is inverted for f < 0; with `"all"`, all frames go in together in `frame_ids` order.
        """
        if self.pose_encoder is None or self.pose is None:
            return {}
        frames = {f: inputs[("color_aug", f, 0)] for f in [0, *self.temporal_frames]}
        poses: dict[int, torch.Tensor] = {}
        if self.config.pose_model_input == "pairs":
            for f in self.temporal_frames:
                pair = [frames[f], frames[0]] if f < 0 else [frames[0], frames[f]]
                axisangle, translation = self.pose([self.pose_encoder(torch.cat(pair, 1))])
                poses[f] = transformation_from_parameters(
                    axisangle[:, 0], translation[:, 0], invert=f < 0)
        else:
            stacked = torch.cat([frames[0], *(frames[f] for f in self.temporal_frames)], 1)
            axisangle, translation = self.pose([self.pose_encoder(stacked)])
            for i, f in enumerate(self.temporal_frames):
                poses[f] = transformation_from_parameters(axisangle[:, i], translation[:, i])
        return poses

    def predict_relative_pose(self, frame_a: torch.Tensor, frame_b: torch.Tensor,
                              K: torch.Tensor | None = None) -> torch.Tensor:
        """Transform `(B, 4, 4)` mapping points of camera a into camera b, from frames `(B, 3, H, W)` in
        [0, 1] with a before b (the pair order of training; `evaluate_pose.py` feeds (k, k+1)).

        `K` is not used: the pose network sees the images only. Models without a pair pose network
        (stereo-only, or `pose_model_input: all`, which `evaluate_pose.py` does not evaluate) raise.
        """
        if self.pose_encoder is None or self.pose is None or self.config.pose_model_input != "pairs":
            raise ValueError(f"monodepth2: relative poses need a pair pose network; this model has frame_ids "
                             f"{list(self.config.frame_ids)} and pose_model_input "
                             f"{self.config.pose_model_input!r}")
        axisangle, translation = self.pose([self.pose_encoder(torch.cat([frame_a, frame_b], 1))])
        return transformation_from_parameters(axisangle[:, 0], translation[:, 0])

    def _scale_loss(self, inputs: Mapping[Any, torch.Tensor], disp: torch.Tensor, scale: int,
                    poses: Mapping[int, torch.Tensor]) -> torch.Tensor:
        """Minimum reprojection (with auto-masking) plus weighted smoothness at one scale."""
        c = self.config
        source_scale = scale if c.v1_multiscale else 0
        warp_disp = disp if c.v1_multiscale else F.interpolate(
            disp, [c.height, c.width], mode="bilinear", align_corners=False)
        _, depth = disp_to_depth(warp_disp, c.min_depth, c.max_depth)
        target = inputs[("color", 0, source_scale)]
        backproject, project = self._warpers.get(depth.shape[0], *depth.shape[2:], depth.device)
        cam_points = backproject(depth, inputs[("inv_K", source_scale)])

        losses = []
        for f in self.source_frames:
            T = poses[f] if isinstance(f, int) else inputs["stereo_T"]
            grid = project(cam_points, inputs[("K", source_scale)], T)
            warped = F.grid_sample(inputs[("color", f, source_scale)], grid,
                                   padding_mode="border", align_corners=False)
            losses.append(reprojection_loss(warped, target, self.ssim))
        reprojection = torch.cat(losses, 1)
        if c.avg_reprojection:
            reprojection = reprojection.mean(1, keepdim=True)

        if not c.disable_automasking:
            identity = torch.cat([
                reprojection_loss(inputs[("color", f, source_scale)], target, self.ssim)
                for f in self.source_frames], 1)
            if c.avg_reprojection:
                identity = identity.mean(1, keepdim=True)
            # Tiny noise breaks ties between identical identity and warped losses.
            noise = torch.randn(identity.shape, device=identity.device) * AUTOMASK_NOISE
            identity = identity + noise
            reprojection = torch.cat((identity, reprojection), 1)
        per_pixel = reprojection if reprojection.shape[1] == 1 else reprojection.min(1)[0]

        norm_disp = disp / (disp.mean(2, True).mean(3, True) + 1e-7)
        smooth = get_smooth_loss(norm_disp, inputs[("color", 0, scale)])
        return per_pixel.mean() + c.disparity_smoothness * smooth / (2 ** scale)

    def training_step(self, inputs: Mapping[Any, torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch with monodepth2's input keys.

        `inputs`: `("color", f, s)` and `("color_aug", f, s)` `(B, 3, H/2^s, W/2^s)` for every
        frame id f and s in 0..3, `("K", s)` and `("inv_K", s)` `(B, 4, 4)`, and `"stereo_T"`
        `(B, 4, 4)` when "s" is a frame id.
        """
        outputs = self(inputs[("color_aug", 0, 0)])
        poses = self.predict_poses(inputs)
        scale_losses = {s: self._scale_loss(inputs, outputs[("disp", s)], s, poses)
                        for s in self.config.scales}
        total = reduce(operator.add, scale_losses.values()) / len(scale_losses)
        logs = {f"loss/{s}": loss.item() for s, loss in scale_losses.items()}
        logs["loss"] = total.item()
        return total, logs

    def depth_parameters(self) -> list[nn.Parameter]:
        """Parameters of the depth network (encoder + decoder)."""
        return [*self.encoder.parameters(), *self.depth.parameters()]

    def pose_parameters(self) -> list[nn.Parameter]:
        """Parameters of the pose network; empty for stereo-only training."""
        if self.pose_encoder is None or self.pose is None:
            return []
        return [*self.pose_encoder.parameters(), *self.pose.parameters()]

    def init_from_imagenet(self, path: str | Path) -> None:
        """Initialise both ResNet encoders from a torchvision ImageNet checkpoint file."""
        load_imagenet_weights(self.encoder, path)
        if self.pose_encoder is not None:
            load_imagenet_weights(self.pose_encoder, path)

    def _modules_by_file(self) -> dict[str, nn.Module]:
        files: dict[str, nn.Module | None] = {"encoder": self.encoder, "depth": self.depth,
                                              "pose_encoder": self.pose_encoder, "pose": self.pose}
        return {name: module for name, module in files.items() if module is not None}

    def checkpoint_state(self) -> dict[str, dict[str, Any]]:
        """State dicts in the official folder layout: `encoder` (with `height`, `width`,
        `use_stereo`), `depth`, and `pose_encoder`/`pose` when a pose network exists."""
        state: dict[str, dict[str, Any]] = {
            name: dict(module.state_dict()) for name, module in self._modules_by_file().items()}
        state["encoder"].update(height=self.config.height, width=self.config.width,
                                use_stereo=STEREO in self.config.frame_ids)
        return state

    def load_checkpoint_state(self, state: Mapping[str, Mapping[str, Any]],
                              require_pose: bool = True) -> None:
        """Load the contents of an official model folder (`{"encoder": ..., "depth": ..., ...}`).

        The encoder file's `height`/`width`/`use_stereo` entries are ignored. Pose entries are
        ignored by a model without a pose network; with `require_pose=False` a model with one
        accepts their absence (e.g. a depth-only evaluation of a stereo-trained release).
        """
        modules = self._modules_by_file()
        required = [name for name in modules if require_pose or name in ("encoder", "depth")]
        missing = [name for name in required if name not in state]
        if missing:
            raise KeyError(f"checkpoint: missing files {[f'{m}.pth' for m in missing]}; "
                           f"got {sorted(state)}")
        for name, module in modules.items():
            if name not in state:
                continue
            entries = {k: v for k, v in state[name].items()
                       if not (name == "encoder" and k in ENCODER_FILE_EXTRAS)}
            load_module_state(module, entries, name)
