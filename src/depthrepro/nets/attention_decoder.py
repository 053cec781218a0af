"""DIFFNet's channel-attention depth decoder for HRNet features (Zhou et al., BMVC 2021).

Each fusion step upsamples the coarser decoder feature (nearest ×2), concatenates the encoder
features of that resolution, re-weights the channels (squeeze-and-excitation without max-pool)
and applies a 3×3 convolution with ReLU. Sigmoid disparity heads sit at four scales.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from depthrepro.nets.blocks import Conv3x3, ConvBlock, upsample

SE_REDUCTION = 16
DECODER_CHANNELS = (16, 32, 64, 128, 256)
# Encoder widths the decoder expects: stride-2 stem, then HRNet-W18's 18/36/72/144 branches.
HRNET_ENCODER_CHANNELS = (64, 18, 36, 72, 144)


class ChannelAttention(nn.Module):
    """Global average pool -> FC(C -> C/16) -> ReLU -> FC(C/16 -> C) -> sigmoid, rescaling C."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction, bias=False),
                                nn.ReLU(inplace=True),
                                nn.Linear(channels // reduction, channels, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W) -> (B, C, H, W)`."""
        b, c = x.shape[:2]
        weights = self.fc(x.mean(dim=(2, 3)).view(b, c)).view(b, c, 1, 1)
        return torch.sigmoid(weights) * x


class AttentionModule(nn.Module):
    """Upsample the high-level feature, concatenate the skips, channel attention, 3×3 conv."""

    def __init__(self, high_channels: int, low_channels: int, out_channels: int) -> None:
        super().__init__()
        in_channels = high_channels + low_channels
        self.ca = ChannelAttention(in_channels)
        self.conv_se = nn.Conv2d(in_channels, out_channels, 3, 1, 1)

    def forward(self, high: torch.Tensor, low: Sequence[torch.Tensor]) -> torch.Tensor:
        """`high (B, C_h, h, w)`, skips `(B, C_i, 2h, 2w)` -> `(B, C_out, 2h, 2w)` after ReLU."""
        features = torch.cat([upsample(high), *low], 1)
        return torch.relu(self.conv_se(self.ca(features)))


class HRDepthDecoder(nn.Module):
    """Decoder over `[stem (H/2), stride-4 list, stride-8 list, stride-16 list, stride-32]`.

    State-dict keys: `convs.{up_x9_0, up_x9_1, 72, 36, 18, 9, dispConvScale0..3}` and, as in the
    official module, the same modules again as the list `decoder.{0..9}`.
    """

    def __init__(self, num_ch_enc: Sequence[int] = HRNET_ENCODER_CHANNELS) -> None:
        super().__init__()
        ch = DECODER_CHANNELS
        self.convs = nn.ModuleDict()
        self.convs["up_x9_0"] = ConvBlock(ch[1], ch[0])
        self.convs["up_x9_1"] = ConvBlock(ch[0], ch[0])
        self.convs["72"] = AttentionModule(num_ch_enc[4], num_ch_enc[3] * 2, ch[4])
        self.convs["36"] = AttentionModule(ch[4], num_ch_enc[2] * 3, ch[3])
        self.convs["18"] = AttentionModule(ch[3], num_ch_enc[1] * 3 + num_ch_enc[0], ch[2])
        self.convs["9"] = AttentionModule(ch[2], num_ch_enc[0], ch[1])
        for s in range(4):
            self.convs[f"dispConvScale{s}"] = Conv3x3(ch[s], 1)
        self.decoder = nn.ModuleList(list(self.convs.values()))

    def forward(self, stem: torch.Tensor, skips4: Sequence[torch.Tensor],
                skips8: Sequence[torch.Tensor], skips16: Sequence[torch.Tensor],
                deepest: torch.Tensor, scales: Iterable[int] = range(4)
                ) -> tuple[dict[tuple[str, int], torch.Tensor], torch.Tensor]:
        """Sigmoid disparities `{("disp", s): (B, 1, H/2^s, W/2^s)}` for `scales`, and the
        stride-4 decoder feature `(B, 64, H/4, W/4)` (input of the scale-2 head).

        Inputs (`HRNET_ENCODER_CHANNELS` widths): the stem feature at stride 2, the encoder
        features at strides 4, 8 and 16 (concatenated in the given order) and the stride-32 one.
        """
        x16 = self.convs["72"](deepest, skips16)
        x8 = self.convs["36"](x16, skips8)
        x4 = self.convs["18"](x8, skips4)
        x2 = self.convs["9"](x4, [stem])
        inputs = {1: x2, 2: x4, 3: x8}
        outputs = {}
        for s in scales:
            x = (self.convs["up_x9_1"](upsample(self.convs["up_x9_0"](x2))) if s == 0
                 else inputs[s])
            outputs[("disp", s)] = torch.sigmoid(self.convs[f"dispConvScale{s}"](x))
        return outputs, x4
