"""EPCDepth's full-scale decoder: U²-Net residual U-blocks (RSU) on ResNet features.

Five RSU decoder stages (H/16 … H) each get a sigmoid disparity head; with `use_encoder_disp`
(EPCDepth's `--use_full_scale`) every encoder feature also gets an RSU bottleneck and a head,
giving ten disparities. All convolutions are 3×3 with `padding_mode` padding (reflect in the
released code) followed by ELU; there is no normalisation. Attribute names follow the official
modules (`stageNd.rebnconv*.conv_s1`, `encoder_disps.k.bottleneck`, `disps.j.0`), so released
checkpoints load unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.nets.blocks import upsample

DECODER_CHANNELS = (256, 128, 64, 32, 16)
# Decoder stages from H/16 up to H: (RSU height, middle width), in registration order.
DECODER_STAGES = (("stage5d", 3, 64), ("stage4d", 4, 32), ("stage3d", 5, 16),
                  ("stage2d", 6, 8), ("stage1d", 7, 4))
# Encoder heads for features 0..4 (H/2 … H/32): (RSU height, middle width, output width).
ENCODER_HEADS = ((7, 32, 64), (6, 32, 64), (5, 64, 128), (4, 128, 256), (3, 256, 512))
PADDING_MODES = ("reflect", "zeros")


class ConvElu(nn.Module):
    """3×3 convolution (dilation `dilation`, padding of the same size) followed by ELU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1,
                 padding_mode: str = "reflect") -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation,
                                 padding_mode=padding_mode)
        self.elu = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, H, W)`."""
        return self.elu(self.conv_s1(x))


class RSU(nn.Module):
    """Residual U-block of height L (RSU-L) with ConvElu layers.

    An input conv (in→out), an inner U-Net whose encoder has L−1 convs (out→mid, then mid→mid)
    with 2×2 ceil-mode max-pooling after each but the last, a dilation-2 conv at the bottom, and a
    decoder of L−1 convs on [upsampled deeper result, skip] (2·mid→mid, the last 2·mid→out) with
    bilinear upsampling to the skip's size; the output adds the input conv's result.
    """

    def __init__(self, height: int, in_channels: int, mid_channels: int, out_channels: int,
                 padding_mode: str = "reflect") -> None:
        super().__init__()
        if height < 2:
            raise ValueError(f"RSU height must be at least 2, got {height}")
        self.height = height
        self.rebnconvin = ConvElu(in_channels, out_channels, padding_mode=padding_mode)
        for i in range(1, height):
            setattr(self, f"rebnconv{i}",
                    ConvElu(out_channels if i == 1 else mid_channels, mid_channels,
                            padding_mode=padding_mode))
        setattr(self, f"rebnconv{height}",
                ConvElu(mid_channels, mid_channels, dilation=2, padding_mode=padding_mode))
        for i in range(height - 1, 0, -1):
            setattr(self, f"rebnconv{i}d",
                    ConvElu(2 * mid_channels, out_channels if i == 1 else mid_channels,
                            padding_mode=padding_mode))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, H, W)`."""
        top = self.rebnconvin(x)
        skips = [getattr(self, "rebnconv1")(top)]
        for i in range(2, self.height):
            pooled = F.max_pool2d(skips[-1], 2, stride=2, ceil_mode=True)
            skips.append(getattr(self, f"rebnconv{i}")(pooled))
        y = getattr(self, f"rebnconv{self.height}")(skips[-1])
        for i in range(self.height - 1, 0, -1):
            skip = skips[i - 1]
            if y.shape[-2:] != skip.shape[-2:]:
                y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = getattr(self, f"rebnconv{i}d")(torch.cat((y, skip), 1))
        return y + top


def disparity_head(in_channels: int, num_output_channels: int, padding_mode: str) -> nn.Sequential:
    """3×3 convolution to `num_output_channels` and a sigmoid (keys `0.weight`, `0.bias`)."""
    return nn.Sequential(nn.Conv2d(in_channels, num_output_channels, 3, 1, 1, padding_mode=padding_mode),
                         nn.Sigmoid())


class EncoderDisp(nn.Module):
    """An RSU `bottleneck` on one encoder feature, then a sigmoid disparity head `disp`."""

    def __init__(self, bottleneck: RSU, bottleneck_channels: int, num_output_channels: int,
                 padding_mode: str = "reflect") -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.disp = disparity_head(bottleneck_channels, num_output_channels, padding_mode)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """`(B, C, h, w) -> (B, num_output_channels, h, w)` in (0, 1)."""
        return self.disp(self.bottleneck(feature))


class RSUDecoder(nn.Module):
    """RSU decoder over five encoder features (strides 2 … 32, widths `encoder_channels`).

    `forward` returns a list of sigmoid disparities, finest first: decoder outputs at H, H/2, H/4,
    H/8, H/16, then (with `use_encoder_disp`) the encoder-feature outputs at H/32, H/16, H/8, H/4,
    H/2. With reflect padding the input must satisfy ceil(H/64) ≥ 3 and ceil(W/64) ≥ 3 when
    `use_encoder_disp` is set (ceil(·/32) ≥ 3 otherwise); see `min_input_size`.
    """

    def __init__(self, encoder_channels: Sequence[int] | np.ndarray, num_output_channels: int = 1,
                 use_encoder_disp: bool = False, padding_mode: str = "reflect") -> None:
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        enc = [int(c) for c in encoder_channels]
        if len(enc) != 5:
            raise ValueError(f"RSUDecoder needs 5 encoder widths, got {enc}")
        self.use_encoder_disp = use_encoder_disp
        # Stage k (k = 0 at H/16) takes the upsampled deeper result and the skip feature 3 - k.
        stage_inputs = [enc[4] + enc[3], DECODER_CHANNELS[0] + enc[2], DECODER_CHANNELS[1] + enc[1],
                        DECODER_CHANNELS[2] + enc[0], DECODER_CHANNELS[3]]
        for (name, height, mid), c_in, c_out in zip(DECODER_STAGES, stage_inputs, DECODER_CHANNELS):
            setattr(self, name, RSU(height, c_in, mid, c_out, padding_mode))
        if use_encoder_disp:
            self.encoder_disps = nn.ModuleList(
                EncoderDisp(RSU(height, c_in, mid, c_out, padding_mode), c_out, num_output_channels,
                            padding_mode)
                for c_in, (height, mid, c_out) in zip(enc, ENCODER_HEADS))
        self.disps = nn.ModuleList(disparity_head(c, num_output_channels, padding_mode)
                                   for c in DECODER_CHANNELS)

    @staticmethod
    def min_input_size(use_encoder_disp: bool) -> int:
        """Smallest multiple of 32 for H and W that reflect padding accepts."""
        return 160 if use_encoder_disp else 96

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Five encoder features -> list of disparities `(B, num_output_channels, h, w)`."""
        x = features[4]
        stage_outputs = []
        for k, (name, _, _) in enumerate(DECODER_STAGES):
            parts = [upsample(x)] + ([features[3 - k]] if k < 4 else [])
            x = getattr(self, name)(torch.cat(parts, 1))
            stage_outputs.append(x)
        disps = [head(y) for head, y in zip(self.disps, stage_outputs)]
        if self.use_encoder_disp:
            disps = [head(f) for head, f in zip(self.encoder_disps, features)] + disps
        return disps[::-1]
