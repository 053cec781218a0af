"""FeatDepth's depth decoder: RefineNet-style fusion with chained residual pooling (CRP).

Each level reduces an encoder feature with a 1×1 conv, concatenates the up-sampled coarser
feature and disparity, and refines with a 3×3 conv, a 4-stage CRP block and another 3×3 conv.
The finest disparity is at half the input resolution. State-dict keys follow FeatDepth's
`mono_fm` `DepthDecoder` (`reduce4.conv.weight`, `crp4.0.1_pointwise.conv.weight`,
`disp4.0.conv.bias`, ...).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.nets.blocks import Conv3x3, upsample

BOTTLENECK = 256
TOP_CHANNELS = 512
CRP_STAGES = 4
DROPOUT = 0.5

DispKey = tuple[str, int, int]


class Conv1x1(nn.Module):
    """1×1 convolution (no bias by default), wrapped so its keys read `<name>.conv.weight`."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(int(in_channels), int(out_channels), 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, H, W)`."""
        return self.conv(x)


class CRPBlock(nn.Module):
    """Chained residual pooling: `n_stages` times max-pool 5×5 (stride 1) then 1×1 conv, each
    stage's output added to the running sum. Stage convs are named `1_pointwise`, `2_pointwise`, ..."""

    def __init__(self, channels: int, n_stages: int) -> None:
        super().__init__()
        self.n_stages = n_stages
        for i in range(n_stages):
            self.add_module(f"{i + 1}_pointwise", Conv1x1(channels, channels))
        self.maxpool = nn.MaxPool2d(kernel_size=5, stride=1, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W) -> (B, C, H, W)`."""
        top = x
        for i in range(self.n_stages):
            top = self.get_submodule(f"{i + 1}_pointwise")(self.maxpool(top))
            x = top + x
        return x


class CRPDepthDecoder(nn.Module):
    """Four sigmoid disparities from five encoder features (level 0 is unused).

    `forward(features) -> {("disp", 0, s): (B, 1, H/2^(s+1), W/2^(s+1))}` for s = 0..3, where
    H×W is the encoder input size. Dropout (p = 0.5) acts on the two deepest features in training.
    """

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray) -> None:
        super().__init__()
        ch = [int(c) for c in num_ch_enc]
        self.dropout = nn.Dropout(p=DROPOUT)
        self.reduce4 = Conv1x1(ch[4], TOP_CHANNELS)
        self.reduce3 = Conv1x1(ch[3], BOTTLENECK)
        self.reduce2 = Conv1x1(ch[2], BOTTLENECK)
        self.reduce1 = Conv1x1(ch[1], BOTTLENECK)
        self.iconv4 = Conv3x3(TOP_CHANNELS, BOTTLENECK)
        self.iconv3 = Conv3x3(2 * BOTTLENECK + 1, BOTTLENECK)
        self.iconv2 = Conv3x3(2 * BOTTLENECK + 1, BOTTLENECK)
        self.iconv1 = Conv3x3(2 * BOTTLENECK + 1, BOTTLENECK)
        self.crp4 = nn.Sequential(CRPBlock(BOTTLENECK, CRP_STAGES))
        self.crp3 = nn.Sequential(CRPBlock(BOTTLENECK, CRP_STAGES))
        self.crp2 = nn.Sequential(CRPBlock(BOTTLENECK, CRP_STAGES))
        self.crp1 = nn.Sequential(CRPBlock(BOTTLENECK, CRP_STAGES))
        self.merge4 = Conv3x3(BOTTLENECK, BOTTLENECK)
        self.merge3 = Conv3x3(BOTTLENECK, BOTTLENECK)
        self.merge2 = Conv3x3(BOTTLENECK, BOTTLENECK)
        self.merge1 = Conv3x3(BOTTLENECK, BOTTLENECK)
        self.disp4 = nn.Sequential(Conv3x3(BOTTLENECK, 1), nn.Sigmoid())
        self.disp3 = nn.Sequential(Conv3x3(BOTTLENECK, 1), nn.Sigmoid())
        self.disp2 = nn.Sequential(Conv3x3(BOTTLENECK, 1), nn.Sigmoid())
        self.disp1 = nn.Sequential(Conv3x3(BOTTLENECK, 1), nn.Sigmoid())

    def _refine(self, level: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """iconv → leaky ReLU → CRP → merge → leaky ReLU → ×2 up; returns (feature, disparity)."""
        x = F.leaky_relu(self.get_submodule(f"iconv{level}")(x))
        x = self.get_submodule(f"crp{level}")(x)
        x = upsample(F.leaky_relu(self.get_submodule(f"merge{level}")(x)))
        return x, self.get_submodule(f"disp{level}")(x)

    def forward(self, features: Sequence[torch.Tensor]) -> dict[DispKey, torch.Tensor]:
        """Five encoder features (strides 2..32) -> disparities at strides 2, 4, 8, 16."""
        _, f1, f2, f3, f4 = features
        f4 = self.dropout(f4)
        f3 = self.dropout(f3)
        x, disp = self._refine(4, self.reduce4(f4))
        outputs: dict[DispKey, torch.Tensor] = {("disp", 0, 3): disp}
        for level, feature in ((3, f3), (2, f2), (1, f1)):
            fused = torch.cat((self.get_submodule(f"reduce{level}")(feature), x, disp), 1)
            x, disp = self._refine(level, fused)
            outputs[("disp", 0, level - 1)] = disp
        return outputs
