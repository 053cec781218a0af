"""GasMono's depth decoder (`fs_decoder.DepthDecoder`): two branches fused by squeeze-excitation,
with learned convex up-sampling of the coarse disparities.

A disparity branch (U-Net with skips) and an edge branch (no skips) start from the deepest feature.
At every level the two are fused by channel attention into the disparity branch. Scale 0 is a plain
sigmoid disparity at full resolution; scales 1–3 are sigmoid disparities at H/2^s up-sampled to full
resolution by a per-pixel softmax over their 3×3 neighbourhood, predicted from the edge branch.
As in the official code, the coarse disparity is multiplied by 8 before that convex combination, so
scales 1–3 take values in [0, 8].
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.nets.blocks import Conv3x3, ConvBlock, upsample

NUM_CH_DEC = (16, 32, 64, 128, 256)
SCALES = (0, 1, 2, 3)
SE_REDUCTION = 16
MASK_SCALE = 0.25
CONVEX_DISP_FACTOR = 8.0
"""RAFT's flow factor, kept by GasMono on disparities (the reason scales 1–3 exceed 1)."""


class AttentionFusion(nn.Module):
    """Squeeze-excitation over the concatenated branches, then 1×1 conv + ReLU back to one branch's
    width (official `AttModule`; keys `fc.0`, `fc.2`, `conv_se`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        both = 2 * channels
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(both, both // SE_REDUCTION, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(both // SE_REDUCTION, both, bias=False))
        self.sigmoid = nn.Sigmoid()
        self.conv_se = nn.Conv2d(both, channels, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Two `(B, C, H, W)` maps -> `(B, C, H, W)`."""
        features = torch.cat([x, y], 1)
        batch, channels = features.shape[:2]
        weights = self.sigmoid(self.fc(self.avg_pool(features).view(batch, channels)))
        return self.relu(self.conv_se(features * weights.view(batch, channels, 1, 1)))


def convex_upsample(disp: torch.Tensor, mask: torch.Tensor, scale: int) -> torch.Tensor:
    """Up-sample `disp (B, 1, H, W)` by 2^scale with `mask (B, 9·4^scale, H, W)`: each output pixel is
    a softmax-weighted sum of the 3×3 zero-padded neighbourhood of its coarse pixel, taken of
    `8 · disp` (official quirk). Returns `(B, 1, H·2^scale, W·2^scale)`."""
    batch, _, height, width = disp.shape
    factor = 2 ** scale
    weights = torch.softmax(mask.view(batch, 1, 9, factor, factor, height, width), dim=2)
    neighbours = F.unfold(CONVEX_DISP_FACTOR * disp, [3, 3], padding=1)
    neighbours = neighbours.view(batch, 1, 9, 1, 1, height, width)
    up = torch.sum(weights * neighbours, dim=2)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(batch, 1, height * factor, width * factor)


def mask_head(channels: int, scale: int) -> nn.Sequential:
    """3×3 conv + ReLU + 1×1 conv to 9·4^scale convex weights (keys `0`, `2`)."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, 9 * 4 ** scale, 1))


class GasMonoDepthDecoder(nn.Module):
    """Decoder over five encoder features (`num_ch_enc`), returning `("disp", s)` for s = 0..3, all
    at the input resolution `(B, 1, H, W)` (features[0] is at H/2).

    `decoder` ModuleList order (official key indices): for i = 4..0 `upconv(i,0)`, `upconv_edge(i,0)`,
    `atten(i,0)`, `upconv(i,1)`, `upconv_edge(i,1)` (0–24); then for s = 0..3 `dispconv(s)`,
    `mask(s)` (25–32; the scale-0 mask head exists but is unused, as in the official code).
    """

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray) -> None:
        super().__init__()
        self.num_ch_enc = [int(c) for c in num_ch_enc]
        modules: list[nn.Module] = []
        for i in range(4, -1, -1):
            ch_in = self.num_ch_enc[-1] if i == 4 else NUM_CH_DEC[i + 1]
            skip = self.num_ch_enc[i - 1] if i > 0 else 0
            modules += [ConvBlock(ch_in, NUM_CH_DEC[i]), ConvBlock(ch_in, NUM_CH_DEC[i]),
                        AttentionFusion(ch_in), ConvBlock(NUM_CH_DEC[i] + skip, NUM_CH_DEC[i]),
                        ConvBlock(NUM_CH_DEC[i], NUM_CH_DEC[i])]
        for s in SCALES:
            modules += [Conv3x3(NUM_CH_DEC[s], 1), mask_head(NUM_CH_DEC[s], s)]
        self.decoder = nn.ModuleList(modules)
        self.sigmoid = nn.Sigmoid()

    def forward(self, input_features: Sequence[torch.Tensor]) -> dict[tuple[str, int], torch.Tensor]:
        """Five features -> `{("disp", s): (B, 1, H, W)}`."""
        outputs: dict[tuple[str, int], torch.Tensor] = {}
        x = y = input_features[-1]
        for level, i in enumerate(range(4, -1, -1)):
            upconv0, edge0, fusion, upconv1, edge1 = self.decoder[5 * level:5 * level + 5]
            x = upconv0(fusion(x, y))
            parts = [upsample(x)] + ([input_features[i - 1]] if i > 0 else [])
            x = upconv1(torch.cat(parts, 1))
            y = edge1(upsample(edge0(y)))
            if i in SCALES:
                dispconv, mask = self.decoder[25 + 2 * i], self.decoder[26 + 2 * i]
                disp = self.sigmoid(dispconv(x))
                if i > 0:
                    disp = convex_upsample(disp, MASK_SCALE * mask(y), i)
                outputs[("disp", i)] = disp
        return outputs
