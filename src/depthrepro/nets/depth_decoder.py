"""Monodepth2's U-Net depth decoder: multi-scale sigmoid disparities from ResNet features."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from depthrepro.nets.blocks import Conv3x3, ConvBlock, upsample

NUM_CH_DEC = (16, 32, 64, 128, 256)


class DepthDecoder(nn.Module):
    """Five upsampling stages (ConvBlock, nearest ×2, skip concat, ConvBlock) and sigmoid heads.

    State-dict keys follow the official registration order in the `decoder` ModuleList:
    `upconv(4,0), upconv(4,1), ..., upconv(0,1)` (indices 0–9), then one `dispconv` per scale
    in the order of `scales`.
    """

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, scales: Iterable[int] = range(4),
                 num_output_channels: int = 1, use_skips: bool = True) -> None:
        super().__init__()
        self.num_ch_enc = np.asarray(num_ch_enc)
        self.scales = list(scales)
        self.num_output_channels = num_output_channels
        self.use_skips = use_skips

        upconvs: list[nn.Module] = []
        for i in range(4, -1, -1):
            ch_in = int(self.num_ch_enc[-1]) if i == 4 else NUM_CH_DEC[i + 1]
            upconvs.append(ConvBlock(ch_in, NUM_CH_DEC[i]))
            ch_in = NUM_CH_DEC[i]
            if use_skips and i > 0:
                ch_in += int(self.num_ch_enc[i - 1])
            upconvs.append(ConvBlock(ch_in, NUM_CH_DEC[i]))
        dispconvs: list[nn.Module] = [Conv3x3(NUM_CH_DEC[s], num_output_channels)
                                      for s in self.scales]
        self.decoder = nn.ModuleList(upconvs + dispconvs)
        self.sigmoid = nn.Sigmoid()

    def forward(self, input_features: Sequence[torch.Tensor]
                ) -> dict[tuple[str, int], torch.Tensor]:
        """Five encoder features -> `{("disp", s): (B, num_output_channels, H/2^s, W/2^s)}`."""
        outputs: dict[tuple[str, int], torch.Tensor] = {}
        x = input_features[-1]
        for stage, i in enumerate(range(4, -1, -1)):
            x = self.decoder[2 * stage](x)
            parts = [upsample(x)]
            if self.use_skips and i > 0:
                parts.append(input_features[i - 1])
            x = self.decoder[2 * stage + 1](torch.cat(parts, 1))
            if i in self.scales:
                head = self.decoder[10 + self.scales.index(i)]
                outputs[("disp", i)] = self.sigmoid(head(x))
        return outputs
