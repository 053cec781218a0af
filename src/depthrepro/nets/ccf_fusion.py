"""Cross-Cue Fusion (Li et al., CVPR 2023): the monocular depth volume and the multi-view cost volume
exchange information through each other's self-affinity.

Both volumes `(B, D, H, W)` are reduced by strided 3×3 conv + BN + ReLU layers (two: H/4; three for
inputs wider than 650 px: H/8). 1×1 convolutions give queries, keys and values per cue; the
affinity of each cue is `softmax(Q Kᵀ)` over all positions (no 1/√d scaling). The monocular values
are aggregated with the multi-view affinity and vice versa; the concatenation (multi first) is
upsampled (nearest) and added, scaled by a learnable γ initialised to 0, to a residual path on the
full-resolution volumes (mono first). Module names equal the official ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDE_INPUT = 650


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class CrossCueFusion(nn.Module):
    """Fuse a one-hot monocular volume and a cost volume, both `(B, num_bins, H, W)`, into
    `(B, 2·mid_dim, H, W)`. `wide_input`: three reduction layers instead of two."""

    def __init__(self, num_bins: int = 32, mid_dim: int = 32, wide_input: bool = False) -> None:
        super().__init__()
        layers = 3 if wide_input else 2
        self.mid_dim = mid_dim
        kq_dim = mid_dim // 4 if mid_dim > 128 else mid_dim
        self.mono_expand = self._reduction(num_bins, mid_dim, layers)
        self.multi_expand = self._reduction(num_bins, mid_dim, layers)
        self.lin_mono_k = nn.Conv2d(mid_dim, kq_dim, 1)
        self.lin_mono_q = nn.Conv2d(mid_dim, kq_dim, 1)
        self.lin_mono_v = nn.Conv2d(mid_dim, mid_dim, 1)
        self.lin_multi_k = nn.Conv2d(mid_dim, kq_dim, 1)
        self.lin_multi_q = nn.Conv2d(mid_dim, kq_dim, 1)
        self.lin_multi_v = nn.Conv2d(mid_dim, mid_dim, 1)
        self.mono_reg = nn.Sequential(*_conv_bn_relu(num_bins, mid_dim, 3), *_conv_bn_relu(mid_dim, mid_dim, 3))
        self.multi_reg = nn.Sequential(*_conv_bn_relu(num_bins, mid_dim, 1))
        self.gamma = nn.Parameter(torch.zeros(1))

    @staticmethod
    def _reduction(num_bins: int, mid_dim: int, layers: int) -> nn.Sequential:
        modules: list[nn.Module] = []
        for i in range(layers):
            modules += _conv_bn_relu(num_bins if i == 0 else mid_dim, mid_dim, 3, stride=2)
        return nn.Sequential(*modules)

    @staticmethod
    def _affinity(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """`(B, C, h, w)` queries and keys -> row-softmax affinity `(B, h·w, h·w)`."""
        b = q.shape[0]
        return torch.softmax(torch.bmm(q.view(b, q.shape[1], -1).permute(0, 2, 1), k.view(b, k.shape[1], -1)), -1)

    def forward(self, mono_volume: torch.Tensor, cost_volume: torch.Tensor) -> torch.Tensor:
        """`mono_volume`, `cost_volume` `(B, num_bins, H, W)` -> fused `(B, 2·mid_dim, H, W)`."""
        mono = self.mono_expand(mono_volume)
        multi = self.multi_expand(cost_volume)
        b, _, h, w = multi.shape
        mono_affinity = self._affinity(self.lin_mono_q(mono), self.lin_mono_k(mono))
        multi_affinity = self._affinity(self.lin_multi_q(multi), self.lin_multi_k(multi))
        mono_out = torch.bmm(self.lin_mono_v(mono).view(b, self.mid_dim, -1), multi_affinity.permute(0, 2, 1))
        multi_out = torch.bmm(self.lin_multi_v(multi).view(b, self.mid_dim, -1), mono_affinity.permute(0, 2, 1))
        fused = torch.cat([multi_out.view(b, self.mid_dim, h, w), mono_out.view(b, self.mid_dim, h, w)], 1)
        fused = F.interpolate(fused, size=cost_volume.shape[-2:], mode="nearest")
        residual = torch.cat([self.mono_reg(mono_volume), self.multi_reg(cost_volume)], 1)
        return residual + self.gamma * fused
