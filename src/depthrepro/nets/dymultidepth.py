"""The dynamic multi-frame depth network of Li et al. (CVPR 2023, "Learning to Fuse Monocular and
Multi-view Cues for Multi-frame Depth Estimation in Dynamic Scenes"), `DyMultiDepthModel` with the
`ccf_fusion` setting of the released configs.

1. A plane-sweep SSIM cost volume of the keyframe against frames t−1 and t+1 (no gradients), with
   `num_bins` depths uniform in inverse depth over `inv_depth_min_max`.
2. Image features of the keyframe: a ResNet-18 (`(x − 0.45)/0.225`) or EfficientNet-B5 (ImageNet
   mean/std) on the keyframe shifted back to [0, 1].
3. Monocular branch: a MonoRec depth module on the keyframe; its inverse depths are
   `(1 − p)·inv_min + p·inv_max` for `|tanh|` outputs p.
4. The detached monocular depth (clamped to [1e-3, 80] m) becomes a one-hot volume over the cost-
   volume depths (nearest bin in depth), fused with the cost volume by Cross-Cue Fusion.
5. Multi-frame branch: a MonoRec depth module on the fused volume concatenated with the keyframe.

State-dict keys equal the official ones (`fusion_module.*`, `_feature_extractor.*`,
`depth_module.*`, `mono_module.*`, in that order).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from depthrepro.nets.ccf_fusion import WIDE_INPUT, CrossCueFusion
from depthrepro.nets.cost_volume import PhotometricCostVolume, cost_volume_depths
from depthrepro.nets.efficientnet import EfficientNetEncoder
from depthrepro.nets.monorec_depth import MonoRecDepthModule
from depthrepro.nets.resnet import ResnetEncoder

BACKBONES = ("resnet18", "efficientnetb5")
MONO_DEPTH_CLAMP = (1e-3, 80.0)


def one_hot_depth_volume(depth: torch.Tensor, bin_depths: torch.Tensor) -> torch.Tensor:
    """`depth (B, 1, H, W)`, `bin_depths (D,)` -> `(B, D, H, W)`: 1 at the bin nearest in depth
    (the first one on a tie), 0 elsewhere."""
    hypotheses = bin_depths.view(1, -1, 1, 1).expand(depth.shape[0], -1, *depth.shape[-2:])
    nearest = torch.argmin(torch.abs(depth - hypotheses), dim=1, keepdim=True)
    return torch.zeros_like(hypotheses).scatter_(1, nearest, 1.0)


def flip_where(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """`x (B, ...)` with the samples where `flip (B,)` is true mirrored along the last axis."""
    return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


class DyMultiDepthModel(nn.Module):
    """Cost volume, feature extractor, monocular branch, CCF and multi-frame branch.

    `backbone`: `resnet18` or `efficientnetb5`; `inv_depth_min_max`: (largest, smallest) inverse
    depth of the cost volume and the prediction heads; `width`: input width (only whether it exceeds
    650 px matters: CCF then reduces to H/8).
    """

    def __init__(self, backbone: str = "resnet18", inv_depth_min_max: tuple[float, float] = (0.33, 0.0025),
                 num_bins: int = 32, fusion_mid_dim: int = 32, width: int = 512) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        self.inv_depth_min_max = tuple(float(v) for v in inv_depth_min_max)
        self.num_bins = num_bins
        self.fusion_module = CrossCueFusion(num_bins, fusion_mid_dim, wide_input=width > WIDE_INPUT)
        self._feature_extractor: ResnetEncoder | EfficientNetEncoder = (
            ResnetEncoder(18) if backbone == "resnet18" else EfficientNetEncoder())
        self.cv_module = PhotometricCostVolume()
        channels = self._feature_extractor.num_ch_enc
        self.depth_module = MonoRecDepthModule(2 * fusion_mid_dim + 3, channels)
        self.mono_module = MonoRecDepthModule(3, channels)

    def to_inverse_depth(self, p: torch.Tensor) -> torch.Tensor:
        """Head output in [0, 1] -> inverse depth in [smallest, largest]."""
        largest, smallest = self.inv_depth_min_max
        return (1 - p) * smallest + p * largest

    def forward(self, keyframe: torch.Tensor, keyframe_pose: torch.Tensor, keyframe_intrinsics: torch.Tensor,
                frames: list[torch.Tensor], poses: list[torch.Tensor], intrinsics: list[torch.Tensor],
                flip: torch.Tensor | None = None) -> dict[str, Any]:
        """Inverse depths of the keyframe from it and its source frames.

        `keyframe`, `frames[i]` `(B, 3, H, W)` in [-0.5, 0.5]; poses `(B, 4, 4)` camera-to-world;
        intrinsics `(B, 4, 4)` in pixels at H×W. `flip (B,)` bool: mirror those samples' keyframe and
        cost volume before the networks and the predictions back afterwards (training augmentation).

        Returns `predicted_inverse_depths` and `predicted_inverse_depths_mono` (lists of
        `(B, 1, H/2^s, W/2^s)`, s = 0..3), `cv_bin_steps (D,)`, `cost_volume_init (B, D, H, W)` and
        `fused_cost_volume (B, 2·mid_dim, H, W)` (the last two in the flipped frame when flipping).
        """
        depths = cost_volume_depths(self.inv_depth_min_max, self.num_bins, keyframe.device)
        with torch.no_grad():
            cost_volume = self.cv_module(keyframe, keyframe_pose, keyframe_intrinsics, frames, poses,
                                         intrinsics, depths)
        if flip is not None:
            keyframe = flip_where(keyframe, flip)
            cost_volume = flip_where(cost_volume, flip)
        features = self._feature_extractor(keyframe + 0.5)
        mono = [self.to_inverse_depth(p) for p in self.mono_module(keyframe, features)]
        mono_depth = torch.clamp(1.0 / mono[0], *MONO_DEPTH_CLAMP).detach()
        mono_volume = one_hot_depth_volume(mono_depth, depths)
        fused = self.fusion_module(mono_volume, cost_volume)
        multi = [self.to_inverse_depth(p) for p in self.depth_module(torch.cat([fused, keyframe], 1), features)]
        if flip is not None:
            multi = [flip_where(x, flip) for x in multi]
            mono = [flip_where(x, flip) for x in mono]
        return {"predicted_inverse_depths": multi, "predicted_inverse_depths_mono": mono,
                "cv_bin_steps": depths, "cost_volume_init": cost_volume, "fused_cost_volume": fused}
