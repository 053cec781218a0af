"""EfficientNet-B5 with the module tree of `gen-efficientnet-pytorch`'s `tf_efficientnet_b5_ap`, and an
encoder returning the five skip features the dynamic multi-frame method uses.

State-dict keys (`conv_stem`, `bn1`, `blocks.<stage>.<block>.{conv_dw,conv_pw,conv_pwl,bn1..3,se.*}`,
`conv_head`, `bn2`) equal gen-efficientnet's, so its ImageNet file and checkpoints holding the model
load unchanged. The TensorFlow-ported variant pads strided convolutions dynamically ("same": the
extra pixel goes right / bottom), uses BatchNorm eps 1e-3, Swish activations and squeeze-excitation
with a sigmoid gate. B5 scales the B0 stages by width 1.6 and depth 2.2: 3, 5, 5, 7, 7, 9 and 3
blocks with 24, 40, 64, 128, 176, 304 and 512 output channels, a 48-channel stem and a 2048-channel
head. The classifier and global pooling are dropped (the depth method replaces them by identities).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SE_RATIO = 0.25
STEM_CHANNELS = 48
HEAD_CHANNELS = 2048
# (block type, repeats, kernel, stride, expansion, output channels) of B5's seven stages.
B5_STAGES = (
    ("ds", 3, 3, 1, 1, 24),
    ("ir", 5, 3, 2, 6, 40),
    ("ir", 5, 5, 2, 6, 64),
    ("ir", 7, 3, 2, 6, 128),
    ("ir", 7, 5, 1, 6, 176),
    ("ir", 9, 5, 2, 6, 304),
    ("ir", 3, 3, 1, 6, 512),
)
# Indices of the stages whose outputs are the encoder's skip features (H/2, H/4, H/8, H/16).
FEATURE_STAGES = (0, 1, 2, 4)
ENCODER_CHANNELS = (24, 40, 64, 176, HEAD_CHANNELS)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round `value` to a multiple of `divisor` (at least `divisor`), never more than 10% down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class Conv2dSame(nn.Conv2d):
    """Convolution with TensorFlow "same" padding computed from the input size at run time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))`."""
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        x = F.pad(x, [*pads[1], *pads[0]])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def same_conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, depthwise: bool = False) -> nn.Conv2d:
    """Bias-free convolution with "same" output size: static symmetric padding where possible."""
    groups = out_channels if depthwise else 1
    if stride == 1 and (kernel - 1) % 2 == 0:
        return nn.Conv2d(in_channels, out_channels, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False)
    return Conv2dSame(in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class SqueezeExcite(nn.Module):
    """Channel gating: global mean -> 1×1 reduce -> Swish -> 1×1 expand -> sigmoid."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.act1 = nn.SiLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> gated `(B, C, H, W)`."""
        gate = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * gate.sigmoid()


def _se_channels(in_channels: int) -> int:
    """Squeeze width: a quarter of the block's input channels (not of its expanded width)."""
    return make_divisible(in_channels * SE_RATIO, 1)


class DepthwiseSeparableConv(nn.Module):
    """Depthwise conv -> BN -> Swish -> SE -> pointwise conv -> BN (+ identity when shapes allow)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.has_residual = stride == 1 and in_channels == out_channels
        self.conv_dw = same_conv(in_channels, in_channels, kernel, stride, depthwise=True)
        self.bn1 = batch_norm(in_channels)
        self.act1 = nn.SiLU(inplace=True)
        self.se = SqueezeExcite(in_channels, _se_channels(in_channels))
        self.conv_pw = same_conv(in_channels, out_channels, 1)
        self.bn2 = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, H/s, W/s)`."""
        out = self.se(self.act1(self.bn1(self.conv_dw(x))))
        out = self.bn2(self.conv_pw(out))
        return out + x if self.has_residual else out


class InvertedResidual(nn.Module):
    """1×1 expansion -> depthwise conv -> SE -> 1×1 projection, BN after each conv, Swish after the
    first two; identity shortcut when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = make_divisible(in_channels * expansion)
        self.has_residual = stride == 1 and in_channels == out_channels
        self.conv_pw = same_conv(in_channels, mid, 1)
        self.bn1 = batch_norm(mid)
        self.act1 = nn.SiLU(inplace=True)
        self.conv_dw = same_conv(mid, mid, kernel, stride, depthwise=True)
        self.bn2 = batch_norm(mid)
        self.act2 = nn.SiLU(inplace=True)
        self.se = SqueezeExcite(mid, _se_channels(in_channels))
        self.conv_pwl = same_conv(mid, out_channels, 1)
        self.bn3 = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, H/s, W/s)`."""
        out = self.act1(self.bn1(self.conv_pw(x)))
        out = self.se(self.act2(self.bn2(self.conv_dw(out))))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_residual else out


class EfficientNetB5(nn.Module):
    """The trunk of `tf_efficientnet_b5_ap` (stem, seven stages, head); `forward` returns the stem-to-
    head activations of every stage: `[stage 0, ..., stage 6, head]` (the head before its BN)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_stem = same_conv(3, STEM_CHANNELS, 3, stride=2)
        self.bn1 = batch_norm(STEM_CHANNELS)
        self.act1 = nn.SiLU(inplace=True)
        stages = []
        channels = STEM_CHANNELS
        for kind, repeats, kernel, stride, expansion, out_channels in B5_STAGES:
            blocks: list[nn.Module] = []
            for i in range(repeats):
                s = stride if i == 0 else 1
                if kind == "ds":
                    blocks.append(DepthwiseSeparableConv(channels, out_channels, kernel, s))
                else:
                    blocks.append(InvertedResidual(channels, out_channels, kernel, s, expansion))
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = same_conv(channels, HEAD_CHANNELS, 1)
        self.bn2 = batch_norm(HEAD_CHANNELS)
        self.act2 = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3, H, W)` normalised image -> the outputs of the seven stages and of `conv_head`."""
        x = self.act1(self.bn1(self.conv_stem(x)))
        outputs = []
        for stage in self.blocks:
            x = stage(x)
            outputs.append(x)
        head = self.conv_head(x)
        # bn2 and act2 run as in the reference forward: in training mode they update bn2's statistics.
        self.act2(self.bn2(head))
        outputs.append(head)
        return outputs


class EfficientNetEncoder(nn.Module):
    """EfficientNet-B5 skip features for the dynamic multi-frame method.

    Input `(B, 3, H, W)` RGB in [0, 1], normalised with the ImageNet mean/std; returns the stage 0, 1,
    2 and 4 outputs (H/2 .. H/16) and the `conv_head` output (H/32) with `num_ch_enc` channels. Keys
    are `original_model.<gen-efficientnet key>`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.original_model = EfficientNetB5()
        self.num_ch_enc = np.array(ENCODER_CHANNELS)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3, H, W)` in [0, 1] -> five features `(B, num_ch_enc[i], H/2^(i+1), W/2^(i+1))`."""
        mean = image.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = image.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        outputs = self.original_model((image - mean) / std)
        return [*(outputs[i] for i in FEATURE_STAGES), outputs[-1]]


def load_efficientnet_imagenet_weights(encoder: EfficientNetEncoder, path: str | Path) -> None:
    """Load gen-efficientnet's ImageNet file (`tf_efficientnet_b5_ap-*.pth`) into
    `encoder.original_model`; its `classifier.*` entries are dropped, every other key must match."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or "conv_stem.weight" not in state:
        raise KeyError(f"{path}: expected a gen-efficientnet state dict with 'conv_stem.weight'")
    trunk = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    own = encoder.original_model.state_dict()
    missing = [k for k in own if k not in trunk]
    unexpected = [k for k in trunk if k not in own]
    if missing or unexpected:
        raise KeyError(f"{path}: not an EfficientNet-B5 state dict: missing keys {missing[:5]}, "
                       f"unexpected keys {unexpected[:5]}")
    encoder.original_model.load_state_dict(trunk)
