"""MonoRec's depth module (Wimbauer et al., CVPR 2021): a separable-convolution U-Net that predicts
inverse depth at four scales, with skip connections from an image feature extractor.

Layers pad as TensorFlow's "same" mode. The encoder has five levels of two `ConvReLU2` blocks
(48, 64, 128, 192, 256 channels; levels 1-4 halve the resolution); the decoder upsamples with
`Refine` (transposed 4x4 convolution) and concatenates the encoder level and the image features of
the same resolution. Heads give `|tanh(.)|` maps in [0, 1] at H, H/2, H/4 and H/8. Used twice by
the dynamic multi-frame method: on the keyframe (monocular branch) and on the fused cost volume
plus the keyframe (multi-frame branch). Module names equal the official ones (`enc`, `dec`,
`predictors`, `conv_y`, `conv_x`, `conv2d_t`) so released weights load unchanged.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ENCODER_CHANNELS = (48, 64, 128, 192, 256)
DECODER_CHANNELS = (256, 128, 64, 48, 32, 24)
ENCODER_KERNELS = (7, 7, 5, 5, 3)
LEAKY_SLOPE = 0.1


class PadSameConv2d(nn.Module):
    """Zero padding that gives a following convolution TensorFlow's "same" output size
    `ceil(size / stride)`; an odd total pads one more pixel at the bottom / right."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        self.kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> zero-padded `(B, C, H', W')`."""
        height, width = x.shape[-2:]
        pad_y = (self.stride[0] * (math.ceil(height / self.stride[0]) - 1) + self.kernel[0] - height) / 2
        pad_x = (self.stride[1] * (math.ceil(width / self.stride[1]) - 1) + self.kernel[1] - width) / 2
        return F.pad(x, [math.floor(pad_x), math.ceil(pad_x), math.floor(pad_y), math.ceil(pad_y)])


class ConvReLU2(nn.Module):
    """A k×1 convolution (stride s vertically) then a 1×k one (stride s horizontally), each
    "same"-padded and followed by LeakyReLU(0.1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.pad_0 = PadSameConv2d((kernel_size, 1), (stride, 1))
        self.conv_y = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), stride=(stride, 1))
        self.leaky_relu = nn.LeakyReLU(LEAKY_SLOPE)
        self.pad_1 = PadSameConv2d((1, kernel_size), (1, stride))
        self.conv_x = nn.Conv2d(out_channels, out_channels, (1, kernel_size), stride=(1, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))`."""
        x = self.leaky_relu(self.conv_y(self.pad_0(x)))
        return self.leaky_relu(self.conv_x(self.pad_1(x)))


class Refine(nn.Module):
    """Transposed 4×4 convolution with stride 2 and LeakyReLU(0.1), cropped to twice the input size.

    The transposed convolution yields 2n + 2 pixels per axis; TensorFlow's "same" keeps the centred 2n.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv2d_t = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2)
        self.leaky_relu = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, 2H, 2W)`."""
        return self.leaky_relu(self.conv2d_t(x))[:, :, 1:-1, 1:-1]


def _predictor(channels: int) -> nn.Sequential:
    return nn.Sequential(PadSameConv2d(3), nn.Conv2d(channels, 1, 3))


class MonoRecDepthModule(nn.Module):
    """Separable U-Net from `in_channels` input channels to four `|tanh|` maps.

    `feature_channels`: channels of the image features at H/2, H/4, H/8, H/16, H/32 (only the first
    three are concatenated into the decoder).
    """

    def __init__(self, in_channels: int, feature_channels: Sequence[int]) -> None:
        super().__init__()
        enc, dec = ENCODER_CHANNELS, DECODER_CHANNELS
        feats = [int(c) for c in feature_channels]
        inputs = (in_channels, *enc[:-1])
        self.enc = nn.ModuleList([
            nn.Sequential(ConvReLU2(inputs[level], enc[level], ENCODER_KERNELS[level], 1 if level == 0 else 2),
                          ConvReLU2(enc[level], enc[level], 3))
            for level in range(len(enc))])
        self.dec = nn.ModuleList([
            Refine(enc[4], dec[0]),
            nn.Sequential(Refine(enc[3] + feats[2] + dec[0], dec[1]), ConvReLU2(dec[1], dec[1], 3)),
            nn.Sequential(Refine(enc[2] + feats[1] + dec[1], dec[2]), ConvReLU2(dec[2], dec[2], 3)),
            Refine(enc[1] + feats[0] + dec[2], dec[3]),
            nn.Sequential(ConvReLU2(enc[0] + dec[3], dec[4], 3), PadSameConv2d(3),
                          nn.Conv2d(dec[4], dec[5], 3), nn.LeakyReLU(LEAKY_SLOPE)),
        ])
        self.predictors = nn.ModuleList([_predictor(c) for c in (dec[0], dec[1], dec[2], dec[5])])

    def forward(self, x: torch.Tensor, image_features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """`x (B, in_channels, H, W)`, `image_features` at H/2 .. H/32 -> `[(B, 1, H/2^s, W/2^s)]`
        for s = 0..3, values in [0, 1]."""
        skips = []
        for level in self.enc:
            x = level(x)
            skips.append(x)
        x = self.dec[0](skips[4])
        outputs = [self._head(0, x)]
        for i, feature in ((1, image_features[2]), (2, image_features[1]), (3, image_features[0])):
            x = self.dec[i](torch.cat([skips[4 - i], feature, x], 1))
            if i < 3:
                outputs.insert(0, self._head(i, x))
        x = self.dec[4](torch.cat([skips[0], x], 1))
        outputs.insert(0, self._head(3, x))
        return outputs

    def _head(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return torch.abs(torch.tanh(self.predictors[index](x)))
