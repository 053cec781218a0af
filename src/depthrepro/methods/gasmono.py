"""GasMono (Zhao et al., ICCV 2023): indoor self-supervised depth with coarse structure-from-motion poses,
an MPViT depth network and overfitting-aware iterative self-distillation.

Networks, as in the official release: `encoder` (MPViT-small on the raw [0, 1] image) + `depth`
(two-branch SE-fusion decoder with convex up-sampling), the AlignNet `trans_encoder` + `trans`
(scale and residual translation for the coarse pose) and the residual PoseNet `pose_encoder` + `pose`.

Training follows the official trainer (`--use_posegt --selfpp`):
1. The coarse pose T_cp of each source frame keeps its rotation; its translation becomes
   s · t_cp + t_res (AlignNet on [source, target] augmented images, temporal order; t_res negated for
   frame -1). The un-augmented source is warped into the target with the scale-0 depth: the coarse
   reconstruction `irw`.
2. PoseNet on (irw, augmented target) gives a residual pose T_r; each scale's depth warps irw with T_r.
3. Per scale: per-pixel minimum of the relative-L1 photometric errors over the identity (auto-mask)
   and final reconstructions, plus the coarse-pose term www · mean(min(identity, irw errors)), plus
   edge-aware smoothness λ / 2^s. Identity errors get fresh 1e-5 noise at every scale, accumulated as
   the official in-place update does.
4. Self-distillation: the pseudo label takes, per pixel, the disparity of the scale with the lowest
   error (starting from the scale-0 disparity with error 10, or from the label and error map of the
   previous inner step on the same batch); L_sd = Σ_s mean(log(1 + |label − disp_s|)), weighted by
   wpp · min(epoch / ramp, 1).
5. The whole sum is divided by the number of scales. From `iterative_start_epoch` on, every batch is
   optimised `iiters` times (`steps_per_batch`), carrying the label between those steps.
All four disparities are at full resolution; scales 1–3 carry the decoder's ×8 factor, as released.
Warps use bilinear `grid_sample` with border padding and `align_corners=True`.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.geometry.camera import WarperCache, disp_to_depth
from depthrepro.geometry.coarse_pose import align_coarse_pose
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.losses.photometric import SSIM, relative_reprojection_loss
from depthrepro.losses.self_distillation import log_l1, lowest_error_label
from depthrepro.losses.smoothness import get_smooth_loss
from depthrepro.methods.config import config_from_dict, load_module_state
from depthrepro.methods.registry import register_method
from depthrepro.nets.gasmono_decoder import SCALES, GasMonoDepthDecoder
from depthrepro.nets.gasmono_pose import PoseDecoder, TransDecoder
from depthrepro.nets.mpvit import load_mpvit_imagenet_weights, mpvit_small
from depthrepro.nets.resnet import ResnetEncoder, load_imagenet_weights

SOURCE_FRAMES = (-1, 1)
AUTOMASK_NOISE = 1e-5
INITIAL_LABEL_ERROR = 10.0
ENCODER_FILE_EXTRAS = ("height", "width", "use_stereo")
DEPTH_FILES = ("encoder", "depth")


def pseudo_label(previous: tuple[torch.Tensor, torch.Tensor] | None, disps: Sequence[torch.Tensor],
                 errors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-distillation label and its error map, both detached `(B, 1, H, W)`.

    Per pixel, the disparity of the lowest error among `previous` (the label of the previous inner step
    on this batch) and the scales in order; a later candidate wins only with a strictly lower error.
    Without `previous`, the start is the scale-0 disparity with error 10 everywhere.
    """
    start = previous or (disps[0], torch.full_like(disps[0], INITIAL_LABEL_ERROR))
    label = lowest_error_label([start[0], *disps], [start[1], *errors])
    lowest = reduce(torch.minimum, [start[1], *(e.detach() for e in errors)])
    return label, lowest


@dataclass(frozen=True)
class GasMonoConfig:
    """Model and loss options; defaults are the official run command (`run.sh`).

    `use_posegt`: coarse poses + AlignNet (else PoseNet alone on the raw frames). `www`: weight of the
    coarse-pose loss. `selfpp`: self-distillation, weight `wpp` reached after `selfpp_ramp_epochs`.
    `iiters`: optimizer steps per batch from `iterative_start_epoch` on. `decoder_lr`: learning rate
    of everything but the encoder (hard-coded 1e-4 in the official trainer). `num_layers`: ResNet
    depth of PoseNet and AlignNet.
    """

    height: int = 256
    width: int = 320
    min_depth: float = 0.1
    max_depth: float = 10.0
    num_layers: int = 18
    disparity_smoothness: float = 1e-4
    use_posegt: bool = True
    www: float = 0.2
    selfpp: bool = True
    wpp: float = 0.2
    iiters: int = 2
    iterative_start_epoch: int = 10
    selfpp_ramp_epochs: int = 20
    decoder_lr: float = 1e-4

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> GasMonoConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, "gasmono")

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.height % 32 or self.width % 32:
            raise ValueError(f"gasmono config: height and width must be multiples of 32, "
                             f"got {self.height}x{self.width}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"gasmono config: need 0 < min_depth < max_depth, got "
                             f"{self.min_depth}, {self.max_depth}")
        if self.iiters < 1:
            raise ValueError(f"gasmono config: iiters must be >= 1, got {self.iiters}")
        if self.selfpp_ramp_epochs < 1:
            raise ValueError(f"gasmono config: selfpp_ramp_epochs must be >= 1, got "
                             f"{self.selfpp_ramp_epochs}")
        for key in ("www", "wpp", "disparity_smoothness", "decoder_lr"):
            if getattr(self, key) < 0:
                raise ValueError(f"gasmono config: {key} must be >= 0, got {getattr(self, key)}")


@register_method("gasmono")
class GasMono(nn.Module):
    """GasMono's networks and training objective (see the module docstring)."""

    has_unused_parameters = True
    """The released decoder's level-0 edge convolutions and scale-0 mask head (and the ResNets' `fc`)
    never enter the loss: DDP must allow parameters without gradients."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = GasMonoConfig.from_dict(cfg)
        c = self.config
        self.encoder = mpvit_small()
        self.depth = GasMonoDepthDecoder(self.encoder.num_ch_enc)
        self.pose_encoder = ResnetEncoder(c.num_layers, num_input_images=2)
        self.pose = PoseDecoder(self.pose_encoder.num_ch_enc, num_input_features=1,
                                num_frames_to_predict_for=2)
        self.trans_encoder: ResnetEncoder | None = None
        self.trans: TransDecoder | None = None
        if c.use_posegt:
            self.trans_encoder = ResnetEncoder(c.num_layers, num_input_images=2)
            self.trans = TransDecoder(self.trans_encoder.num_ch_enc, num_input_features=1,
                                      num_frames_to_predict_for=2)
        self.ssim = SSIM()
        self.epoch = 0
        self._label: tuple[torch.Tensor, torch.Tensor] | None = None
        self._warpers = WarperCache()

    def forward(self, color: torch.Tensor) -> dict[tuple[str, int], torch.Tensor]:
        """Depth network: `(B, 3, H, W)` in [0, 1] -> `{("disp", s): (B, 1, H, W)}`, s = 0..3."""
        return self.depth(self.encoder(color))

    def predict_disparity(self, color: torch.Tensor) -> torch.Tensor:
        """Scale-0 sigmoid disparity `(B, 1, H, W)`, the one the official evaluation uses."""
        return self(color)[("disp", 0)]

    def _warp(self, image: torch.Tensor, depth: torch.Tensor, T: torch.Tensor,
              inputs: Mapping[Any, torch.Tensor]) -> torch.Tensor:
        """`image` (B, 3, H, W) of the source camera sampled at the target pixels' projections."""
        backproject, project = self._warpers.get(depth.shape[0], self.config.height, self.config.width, depth.device)
        grid = project(backproject(depth, inputs[("inv_K", 0)]), inputs[("K", 0)], T)
        return F.grid_sample(image, grid, padding_mode="border", align_corners=True)

    def _depth(self, disp: torch.Tensor) -> torch.Tensor:
        return disp_to_depth(disp, self.config.min_depth, self.config.max_depth)[1]

    def aligned_poses(self, inputs: Mapping[Any, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Coarse poses with AlignNet's scale and residual translation, `{f: T_(f←0) (B, 4, 4)}`.

        Needs `("color_aug", f, 0)` and `("coarse_pose", f)`.
        """
        if self.trans_encoder is None or self.trans is None:
            raise RuntimeError("gasmono: aligned poses need use_posegt (the AlignNet)")
        target = inputs[("color_aug", 0, 0)]
        poses = {}
        for f in SOURCE_FRAMES:
            source = inputs[("color_aug", f, 0)]
            pair = [source, target] if f < 0 else [target, source]
            translation, scale = self.trans([self.trans_encoder(torch.cat(pair, 1))])
            poses[f] = align_coarse_pose(inputs[("coarse_pose", f)], scale[:, 0], translation[:, 0],
                                         invert=f < 0)
        return poses

    def residual_poses(self, pose_sources: Mapping[int, torch.Tensor], target: torch.Tensor
                       ) -> dict[int, torch.Tensor]:
        """PoseNet on (source, target) in temporal order, inverted for f < 0: `{f: (B, 4, 4)}`."""
        poses = {}
        for f, source in pose_sources.items():
            pair = [source, target] if f < 0 else [target, source]
            axisangle, translation, _ = self.pose([self.pose_encoder(torch.cat(pair, 1))])
            poses[f] = transformation_from_parameters(axisangle[:, 0], translation[:, 0], invert=f < 0)
        return poses

    def predict_refined_poses(self, inputs: Mapping[Any, torch.Tensor]
                              ) -> dict[int, dict[str, torch.Tensor]]:
        """For the pose ablation: `{f: {"coarse", "aligned", "composed"}}`, each T_(f←0) (B, 4, 4).

        `aligned` is the coarse pose with AlignNet's scale and residual translation; `composed` is
        `aligned @ T_r` with PoseNet's residual pose, the rigid motion that the double warp applies
        when the scale-0 depth is exact. Uses the batch's training keys, without gradients.
        """
        with torch.no_grad():
            disp = self(inputs[("color_aug", 0, 0)])[("disp", 0)]
            aligned = self.aligned_poses(inputs)
            coarse_warped = {f: self._warp(inputs[("color", f, 0)], self._depth(disp), aligned[f], inputs)
                             for f in SOURCE_FRAMES}
            residual = self.residual_poses(coarse_warped, inputs[("color_aug", 0, 0)])
        return {f: {"coarse": inputs[("coarse_pose", f)], "aligned": aligned[f],
                    "composed": torch.matmul(aligned[f], residual[f])} for f in SOURCE_FRAMES}

    def on_epoch_start(self, epoch: int) -> None:
        """Remember the epoch for the self-distillation ramp."""
        self.epoch = epoch

    def steps_per_batch(self, epoch: int) -> int:
        """1 before `iterative_start_epoch`, then `iiters` (optimizer steps on each batch)."""
        return 1 if epoch < self.config.iterative_start_epoch else self.config.iiters

    def selfpp_weight(self, epoch: int) -> float:
        """wpp · epoch / ramp before `selfpp_ramp_epochs`, then wpp (0 in epoch 0)."""
        c = self.config
        return c.wpp * epoch / c.selfpp_ramp_epochs if epoch < c.selfpp_ramp_epochs else c.wpp

    def _photometric(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return relative_reprojection_loss(pred, target, self.ssim)

    def training_step(self, inputs: Mapping[Any, torch.Tensor], substep: int = 0
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch; `substep` i > 0 continues from the pseudo label
        of step i - 1 on the same batch.

        `inputs`: `("color", f, 0)`, `("color_aug", f, 0)` `(B, 3, H, W)` for f in 0, -1, 1,
        `("K", 0)`, `("inv_K", 0)` and, with `use_posegt`, `("coarse_pose", f)` `(B, 4, 4)`.
        """
        c = self.config
        if substep == 0 or not c.selfpp:
            self._label = None
        elif self._label is None:
            raise RuntimeError(f"gasmono: substep {substep} without a preceding substep 0 on this batch")
        outputs = self(inputs[("color_aug", 0, 0)])
        disps = [outputs[("disp", s)] for s in SCALES]
        for disp in disps:
            if disp.shape[-2:] != (c.height, c.width):
                raise ValueError(f"gasmono: disparity of shape {tuple(disp.shape)} for a "
                                 f"{c.height}x{c.width} model")
        target = inputs[("color", 0, 0)]

        if c.use_posegt:
            aligned = self.aligned_poses(inputs)
            depth0 = self._depth(disps[0])
            sources = {f: self._warp(inputs[("color", f, 0)], depth0, aligned[f], inputs)
                       for f in SOURCE_FRAMES}
            pose_sources = sources
        else:
            sources = {f: inputs[("color", f, 0)] for f in SOURCE_FRAMES}
            pose_sources = {f: inputs[("color_aug", f, 0)] for f in SOURCE_FRAMES}
        residual = self.residual_poses(pose_sources, inputs[("color_aug", 0, 0)])

        identity = torch.cat([self._photometric(inputs[("color", f, 0)], target) for f in SOURCE_FRAMES], 1)
        coarse_errors = (torch.cat([self._photometric(sources[f], target) for f in SOURCE_FRAMES], 1)
                         if c.use_posegt else None)
        scale_losses, min_errors, coarse_terms = [], [], []
        for s, disp in zip(SCALES, disps, strict=True):
            depth = self._depth(disp)
            reprojection = torch.cat([self._photometric(self._warp(sources[f], depth, residual[f], inputs), target)
                                      for f in SOURCE_FRAMES], 1)
            # The official code adds the tie-breaking noise in place, so it accumulates over scales.
            identity = identity + torch.randn(identity.shape, device=identity.device) * AUTOMASK_NOISE
            min_error = torch.cat([identity, reprojection], 1).min(1, keepdim=True)[0]
            min_errors.append(min_error)
            loss = min_error.mean()
            norm_disp = disp / (disp.mean(2, True).mean(3, True) + 1e-7)
            loss = loss + c.disparity_smoothness * get_smooth_loss(norm_disp, target) / (2 ** s)
            if coarse_errors is not None:
                coarse = torch.cat([identity, coarse_errors], 1).min(1, keepdim=True)[0].mean() * c.www
                coarse_terms.append(coarse)
                loss = loss + coarse
            scale_losses.append(loss)

        total = reduce(operator.add, scale_losses)
        logs = {f"loss/{s}": loss.item() for s, loss in zip(SCALES, scale_losses, strict=True)}
        if coarse_terms:
            logs["loss_coarse"] = coarse_terms[0].item()
        if c.selfpp:
            self._label = pseudo_label(self._label, disps, min_errors)
            label = self._label[0]
            distill = reduce(operator.add, [log_l1(label, disp) for disp in disps])
            weight = self.selfpp_weight(self.epoch)
            total = total + weight * distill
            logs.update({"loss_selfpp": distill.item(), "selfpp_weight": weight})
        total = total / len(SCALES)
        logs["loss"] = total.item()
        return total, logs

    def param_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """Official groups: decoder, PoseNet and AlignNet at `decoder_lr`; the encoder at `learning_rate`."""
        others = [p for name, module in self._modules_by_file().items() if name != "encoder"
                  for p in module.parameters()]
        return [{"params": others, "lr": self.config.decoder_lr},
                {"params": list(self.encoder.parameters()), "lr": learning_rate}]

    def init_from_imagenet(self, path: str | Path, pose_path: str | Path | None = None) -> None:
        """MPViT-small ImageNet weights (`mpvit_small.pth`) into the encoder and, when `pose_path` (a
        torchvision ResNet file) is given, into the PoseNet and AlignNet encoders."""
        load_mpvit_imagenet_weights(self.encoder, path)
        if pose_path is not None:
            for encoder in (self.pose_encoder, self.trans_encoder):
                if encoder is not None:
                    load_imagenet_weights(encoder, pose_path)

    def _modules_by_file(self) -> dict[str, nn.Module]:
        files: dict[str, nn.Module | None] = {
            "encoder": self.encoder, "depth": self.depth, "pose_encoder": self.pose_encoder,
            "pose": self.pose, "trans_encoder": self.trans_encoder, "trans": self.trans}
        return {name: module for name, module in files.items() if module is not None}

    def checkpoint_state(self) -> dict[str, dict[str, Any]]:
        """State dicts in the official folder layout (`encoder.pth` with `height`, `width`,
        `use_stereo`; `depth`, `pose_encoder`, `pose`, and `trans_encoder`, `trans` with use_posegt)."""
        state = {name: dict(module.state_dict()) for name, module in self._modules_by_file().items()}
        state["encoder"].update(height=self.config.height, width=self.config.width, use_stereo=False)
        return state

    def load_checkpoint_state(self, state: Mapping[str, Mapping[str, Any]],
                              require_pose: bool = True) -> None:
        """Load an official model folder's contents (`{"encoder": ..., "depth": ..., ...}`).

        The encoder file's `height`/`width`/`use_stereo` entries are ignored. With
        `require_pose=False` the pose files may be absent (depth-only evaluation).
        """
        modules = self._modules_by_file()
        required = [name for name in modules if require_pose or name in DEPTH_FILES]
        missing = [name for name in required if name not in state]
        if missing:
            raise KeyError(f"checkpoint: missing files {[f'{m}.pth' for m in missing]}; got {sorted(state)}")
        unknown = sorted(set(state) - set(modules))
        if unknown:
            raise KeyError(f"checkpoint: unexpected files {[f'{u}.pth' for u in unknown]} for this "
                           f"configuration; expected {sorted(modules)}")
        for name, module in modules.items():
            if name in state:
                entries = {k: v for k, v in state[name].items()
                           if not (name == "encoder" and k in ENCODER_FILE_EXTRAS)}
                load_module_state(module, entries, name)
