"""ManyDepth's multi-frame encoder: a ResNet with a plane-sweep cost volume after its first block.

Frame t and the lookup frame(s) go through the ResNet stem and first block (features at 1/4
resolution). The lookup features are warped into frame t at each of the depth bins with the
given relative poses, the mean absolute feature difference forms the cost volume `(B, D, H/4, W/4)`,
and the cost volume (zeroed where some bin left the image) is fused with the frame-t features by a
3×3 convolution before the remaining ResNet blocks.

State-dict keys follow the official module: `layer0.{0,1}` (conv1, bn1), `layer1.1.*` (torchvision
`layer1`), `layer2-4.*`, the pixel grids `backprojector.{id_coords,ones,pix_coords}` (non-trainable
parameters), `prematching_conv.0` (present in released checkpoints, never used) and `reduce_conv.0`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.geometry.camera import BackprojectDepth, Project3D
from depthrepro.nets.resnet import (INPUT_MEAN, INPUT_STD, RESNET_SPECS, Bottleneck, ResnetEncoder,
                                    load_imagenet_weights, resnet)

DEPTH_BINNINGS = ("linear", "inverse")
# Feature-map pixels this close to the border are ignored: the ResNet's zero padding corrupts them.
BORDER_PX = 2
# Stands in for invalid (zero) costs when searching for the lowest-cost bin.
INVALID_COST = 100.0
COUNT_EPS = 1e-7


class PixelGridBackprojector(BackprojectDepth):
    """`BackprojectDepth` whose pixel grids are non-trainable `nn.Parameter`s.

    Released checkpoints store them under `id_coords` `(2, H, W)`, `ones` `(N, 1, H*W)` and
    `pix_coords` `(N, 3, H*W)`, so they belong to the state dict and count as parameters.
    """

    def __init__(self, batch_size: int, height: int, width: int) -> None:
        super().__init__(batch_size, height, width)
        pix_coords, ones = self.pix_coords, self.ones
        del self.pix_coords, self.ones
        self.id_coords = nn.Parameter(pix_coords[0, :2].reshape(2, height, width).clone(),
                                      requires_grad=False)
        self.ones = nn.Parameter(ones, requires_grad=False)
        self.pix_coords = nn.Parameter(pix_coords, requires_grad=False)


def depth_bin_values(min_depth: float, max_depth: float, num_bins: int, binning: str
                     ) -> torch.Tensor:
    """`(num_bins,)` float32 depths, increasing, spaced linearly in depth or in inverse depth.

    Computed in float64 by numpy and cast once, as released models were trained with.
    """
    if binning == "linear":
        values = np.linspace(min_depth, max_depth, num_bins)
    elif binning == "inverse":
        values = 1 / np.linspace(1 / max_depth, 1 / min_depth, num_bins)[::-1]
    else:
        raise ValueError(f"depth_binning must be one of {DEPTH_BINNINGS}, got {binning!r}")
    return torch.from_numpy(values.copy()).float()


class ResnetEncoderMatching(nn.Module):
    """ResNet encoder with a cost volume over `num_depth_bins` depths at 1/4 resolution.

    With `adaptive_bins`, every forward pass recomputes the bins from its `min_depth_bin` and
    `max_depth_bin` arguments (training tracks them from the teacher's depths); otherwise the bins
    from the constructor are kept. `depth_bins` `(D,)` holds the bins of the last forward pass.
    """

    depth_bins: torch.Tensor
    warp_depths: torch.Tensor

    def __init__(self, num_layers: int, pretrained: bool = False, input_height: int = 192,
                 input_width: int = 640, min_depth_bin: float = 0.1, max_depth_bin: float = 20.0,
                 num_depth_bins: int = 96, adaptive_bins: bool = False,
                 depth_binning: str = "linear") -> None:
        super().__init__()
        if pretrained:
            raise ValueError("ResnetEncoderMatching: pretrained=True needs a weights file; "
                             "build with pretrained=False and call init_from_imagenet(path)")
        if depth_binning not in DEPTH_BINNINGS:
            raise ValueError(f"depth_binning must be one of {DEPTH_BINNINGS}, "
                             f"got {depth_binning!r}")
        self.num_layers = num_layers
        self.adaptive_bins = adaptive_bins
        self.depth_binning = depth_binning
        self.num_depth_bins = num_depth_bins
        self.matching_height, self.matching_width = input_height // 4, input_width // 4
        backbone = resnet(num_layers)
        self.num_ch_enc = np.array([64, 64, 128, 256, 512])
        if RESNET_SPECS[num_layers][0] is Bottleneck:
            self.num_ch_enc[1:] *= Bottleneck.expansion
        self.layer0 = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu)
        self.layer1 = nn.Sequential(backbone.maxpool, backbone.layer1)
        self.layer2 = backbone.layer2
        self.layer3 = backbone.layer3
        self.layer4 = backbone.layer4

        self.backprojector = PixelGridBackprojector(num_depth_bins, self.matching_height,
                                                    self.matching_width)
        self.projector = Project3D(num_depth_bins, self.matching_height, self.matching_width)
        self.register_buffer("depth_bins", torch.zeros(num_depth_bins), persistent=False)
        self.register_buffer("warp_depths", torch.zeros(
            num_depth_bins, 1, self.matching_height, self.matching_width), persistent=False)
        self.compute_depth_bins(min_depth_bin, max_depth_bin)

        self.prematching_conv = nn.Sequential(nn.Conv2d(64, 16, 1), nn.ReLU(inplace=True))
        self.reduce_conv = nn.Sequential(
            nn.Conv2d(int(self.num_ch_enc[1]) + num_depth_bins, int(self.num_ch_enc[1]), 3,
                      padding=1),
            nn.ReLU(inplace=True))

    def compute_depth_bins(self, min_depth_bin: float, max_depth_bin: float) -> None:
        """Set `depth_bins` `(D,)` and the constant-depth planes `warp_depths` `(D, 1, h, w)`."""
        bins = depth_bin_values(min_depth_bin, max_depth_bin, self.num_depth_bins,
                                self.depth_binning).to(self.depth_bins.device)
        self.depth_bins = bins
        self.warp_depths = bins.view(-1, 1, 1, 1).expand_as(self.warp_depths).contiguous()

    def feature_extraction(self, image: torch.Tensor) -> list[torch.Tensor]:
        """`(N, 3, H, W)` in [0, 1] -> stem features at H/2 and first-block features at H/4."""
        stem = self.layer0((image - INPUT_MEAN) / INPUT_STD)
        return [stem, self.layer1(stem)]

    def match_features(self, current_feats: torch.Tensor, lookup_feats: torch.Tensor,
                       relative_poses: torch.Tensor, K: torch.Tensor, inv_K: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cost volume `(B, D, h, w)` and its missing-value mask `(B, D, h, w)`.

        `current_feats (B, C, h, w)`, `lookup_feats (B, F, C, h, w)`, `relative_poses (B, F, 4, 4)`
        (frame t to each lookup frame; an all-zero pose marks a missing frame, which is skipped),
        `K`, `inv_K` `(B, 4, 4)` at the features' resolution. Each cost is the L1 feature
        difference averaged over channels and over the lookup frames that saw it; costs that no
        frame saw are set to the pixel's largest cost.
        """
        h, w = self.matching_height, self.matching_width
        current_mask = torch.zeros(1, h, w, device=current_feats.device)
        current_mask[:, BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = 1.0
        volumes, missing_masks = [], []
        for b in range(current_feats.shape[0]):
            cost_volume = current_feats.new_zeros(self.num_depth_bins, h, w)
            counts = current_feats.new_zeros(self.num_depth_bins, h, w)
            world_points = self.backprojector(self.warp_depths, inv_K[b:b + 1])
            for f in range(lookup_feats.shape[1]):
                pose = relative_poses[b:b + 1, f]
                if pose.sum() == 0:
                    continue
                feat = lookup_feats[b:b + 1, f].expand(self.num_depth_bins, -1, -1, -1)
                pix_locs = self.projector(world_points, K[b:b + 1], pose)
                warped = F.grid_sample(feat, pix_locs, mode="bilinear", padding_mode="zeros",
                                       align_corners=True)
                x = (pix_locs[..., 0] / 2 + 0.5) * (w - 1)
                y = (pix_locs[..., 1] / 2 + 0.5) * (h - 1)
                edge_mask = ((x >= BORDER_PX) * (x <= w - BORDER_PX)
                             * (y >= BORDER_PX) * (y <= h - BORDER_PX)).float() * current_mask
                diffs = torch.abs(warped - current_feats[b:b + 1]).mean(1) * edge_mask
                cost_volume = cost_volume + diffs
                counts = counts + (diffs > 0).float()
            cost_volume = cost_volume / (counts + COUNT_EPS)
            missing = (cost_volume == 0).float()
            cost_volume = (cost_volume * (1 - missing)
                           + cost_volume.max(0)[0].unsqueeze(0) * missing)
            volumes.append(cost_volume)
            missing_masks.append(missing)
        return torch.stack(volumes, 0), torch.stack(missing_masks, 0)

    def forward(self, current_image: torch.Tensor, lookup_images: torch.Tensor,
                poses: torch.Tensor, K: torch.Tensor, invK: torch.Tensor,
                min_depth_bin: float | None = None, max_depth_bin: float | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Features, lowest-cost disparity and confidence mask.

        `current_image (B, 3, H, W)` and `lookup_images (B, F, 3, H, W)` in [0, 1];
        `poses (B, F, 4, 4)` from frame t to each lookup frame; `K`, `invK` `(B, 4, 4)` at 1/4
        resolution. Returns five features `(B, num_ch_enc[i], H/2^(i+1), W/2^(i+1))`,
        `lowest_cost (B, H/4, W/4)` = 1 / depth of the cheapest bin, and `confidence_mask`
        `(B, H/4, W/4)`: 1 where every bin had a valid cost.
        """
        features = self.feature_extraction(current_image)
        current_feats = features[-1]
        # Lookup features and the cost volume carry no gradient, as in the released training.
        with torch.no_grad():
            if self.adaptive_bins:
                if min_depth_bin is None or max_depth_bin is None:
                    raise ValueError("ResnetEncoderMatching: adaptive_bins needs min_depth_bin "
                                     "and max_depth_bin in forward")
                self.compute_depth_bins(min_depth_bin, max_depth_bin)
            batch, frames = lookup_images.shape[:2]
            lookup_feats = self.feature_extraction(lookup_images.flatten(0, 1))[-1]
            lookup_feats = lookup_feats.view(batch, frames, *lookup_feats.shape[1:])
            cost_volume, missing = self.match_features(current_feats, lookup_feats, poses, K,
                                                       invK)
            valid_bins = ((cost_volume * (1 - missing)) > 0).sum(1)
            confidence_mask = (valid_bins == self.num_depth_bins).float()

            search_volume = cost_volume.clone()
            search_volume[search_volume == 0] = INVALID_COST
            lowest_cost = 1 / self.depth_bins[search_volume.argmin(1)]

            cost_volume = cost_volume * confidence_mask.unsqueeze(1)
        fused = self.reduce_conv(torch.cat([current_feats, cost_volume], 1))
        features.append(self.layer2(fused))
        features.append(self.layer3(features[-1]))
        features.append(self.layer4(features[-1]))
        return features, lowest_cost, confidence_mask

    def init_from_imagenet(self, path: str | Path) -> None:
        """Load a torchvision ImageNet ResNet checkpoint into the ResNet layers (not `fc`)."""
        source = ResnetEncoder(self.num_layers)
        load_imagenet_weights(source, path)
        backbone = source.encoder
        pairs: Sequence[tuple[nn.Module, nn.Module]] = (
            (self.layer0[0], backbone.conv1), (self.layer0[1], backbone.bn1),
            (self.layer1[1], backbone.layer1), (self.layer2, backbone.layer2),
            (self.layer3, backbone.layer3), (self.layer4, backbone.layer4))
        for target, loaded in pairs:
            target.load_state_dict(loaded.state_dict())
