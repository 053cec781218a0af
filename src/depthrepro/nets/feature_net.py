"""FeatDepth's FeatureNet: a ResNet auto-encoder whose encoder features define the feature-metric loss.

The encoder is a torchvision-keyed ResNet on the raw [0, 1] image (no input normalisation); the
decoder has no skip connections and reconstructs the RGB image at four scales. State-dict keys follow
FeatDepth's `mono_autoencoder` `Encoder` (`encoder.<torchvision key>`) and `Decoder`
(`upconv5.conv.conv.weight`, `iconv1.conv.conv.bias`, `disp4.conv.weight`, ...).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from depthrepro.nets.blocks import Conv3x3, ConvBlock, upsample
from depthrepro.nets.resnet import ResnetEncoder

DECODER_CHANNELS = (16, 32, 64, 128, 256)


class FeatureEncoder(ResnetEncoder):
    """ResNet features of an image in [0, 1], used as is (unlike the depth and pose encoders)."""

    def forward(self, input_image: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3, H, W)` -> features `(B, num_ch_enc[i], H/2^(i+1), W/2^(i+1))`, i = 0..4."""
        return self.encoder(input_image)


class ReconstructionDecoder(nn.Module):
    """Five [conv-ELU, ×2 up, conv-ELU] steps from the deepest feature; sigmoid RGB heads.

    `forward(features) -> {s: (B, 3, H/2^s, W/2^s)}` for s = 0..3 (H×W: the encoder input size).
    """

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, num_output_channels: int = 3) -> None:
        super().__init__()
        dec = DECODER_CHANNELS
        self.upconv5 = ConvBlock(int(num_ch_enc[4]), dec[4])
        self.upconv4 = ConvBlock(dec[4], dec[3])
        self.upconv3 = ConvBlock(dec[3], dec[2])
        self.upconv2 = ConvBlock(dec[2], dec[1])
        self.upconv1 = ConvBlock(dec[1], dec[0])
        self.iconv5 = ConvBlock(dec[4], dec[4])
        self.iconv4 = ConvBlock(dec[3], dec[3])
        self.iconv3 = ConvBlock(dec[2], dec[2])
        self.iconv2 = ConvBlock(dec[1], dec[1])
        self.iconv1 = ConvBlock(dec[0], dec[0])
        # disp{s+1} reconstructs scale s (the official names, kept for the checkpoint keys)
        self.disp4 = Conv3x3(dec[3], num_output_channels)
        self.disp3 = Conv3x3(dec[2], num_output_channels)
        self.disp2 = Conv3x3(dec[1], num_output_channels)
        self.disp1 = Conv3x3(dec[0], num_output_channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, features: Sequence[torch.Tensor]) -> dict[int, torch.Tensor]:
        """Five encoder features -> reconstructions keyed by scale (0 = input resolution)."""
        x = features[4]
        stages: dict[int, torch.Tensor] = {}
        for level in (5, 4, 3, 2, 1):
            x = upsample(self.get_submodule(f"upconv{level}")(x))
            x = self.get_submodule(f"iconv{level}")(x)
            stages[level] = x
        return {s: self.sigmoid(self.get_submodule(f"disp{s + 1}")(stages[s + 1])) for s in range(4)}
