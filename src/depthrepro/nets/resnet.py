"""ResNet-18/34/50/101/152 with torchvision's state-dict keys, and the monodepth2 encoder on top.

The module tree (`conv1`, `bn1`, `layer1.0.conv1`, ..., `downsample.0/1`, `fc`) mirrors
torchvision's, so ImageNet `resnetXX-*.pth` files load unchanged. `fc` is kept for that reason
only: the encoders return feature maps, never logits.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_MEAN = 0.45
INPUT_STD = 0.225


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution, zero padding 1, no bias."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity (or projected) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, inplanes, H, W) -> (B, planes, H/stride, W/stride)`."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 bottleneck with a shortcut; ResNet-50/101/152."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, inplanes, H, W) -> (B, 4·planes, H/stride, W/stride)`."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


RESNET_SPECS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """ResNet backbone whose forward returns the five feature maps at strides 2, 4, 8, 16, 32."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck],
                 layers: tuple[int, int, int, int], in_channels: int = 3,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """`(B, C_in, H, W)` -> features at H/2 (stem, after ReLU), H/4, H/8, H/16, H/32."""
        stem = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(stem))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [stem, f1, f2, f3, self.layer4(f3)]


def resnet(num_layers: int, in_channels: int = 3) -> ResNet:
    """Randomly initialised ResNet-`num_layers` (18, 34, 50, 101 or 152)."""
    if num_layers not in RESNET_SPECS:
        raise ValueError(f"num_layers must be one of {sorted(RESNET_SPECS)}, got {num_layers}")
    block, layers = RESNET_SPECS[num_layers]
    return ResNet(block, layers, in_channels=in_channels)


class ResnetEncoder(nn.Module):
    """Monodepth2's encoder: a ResNet on `num_input_images` stacked RGB frames in [0, 1].

    The input is normalised internally by `(x - 0.45) / 0.225`; `forward` returns five features
    with `num_ch_enc` channels ([64, 64, 128, 256, 512], ×4 after the stem for ResNet-50+).
    State-dict keys are `encoder.<torchvision key>`.
    """

    def __init__(self, num_layers: int, num_input_images: int = 1) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.num_input_images = num_input_images
        self.encoder = resnet(num_layers, in_channels=3 * num_input_images)
        self.encoder.fc.requires_grad_(False)  # torchvision's classifier: kept for its keys, never run
        self.num_ch_enc = np.array([64, 64, 128, 256, 512])
        if RESNET_SPECS[num_layers][0] is Bottleneck:
            self.num_ch_enc[1:] *= Bottleneck.expansion

    def forward(self, input_image: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3·N, H, W)` in [0, 1] -> features `(B, num_ch_enc[i], H/2^(i+1), W/2^(i+1))`."""
        return self.encoder((input_image - INPUT_MEAN) / INPUT_STD)


ImagenetFiles = str | Path | Mapping[str, str | Path]
"""One torchvision ImageNet file, or a mapping `resnet<N>: path` for networks with several depths."""


def imagenet_file(files: ImagenetFiles, num_layers: int) -> Path:
    """The torchvision ResNet-`num_layers` file: `files` is one path, or a mapping `resnet<N>: path`."""
    if isinstance(files, Mapping):
        key = f"resnet{num_layers}"
        if key not in files:
            raise KeyError(f"imagenet_weights: no {key!r} entry; got {sorted(files)}")
        return Path(files[key])
    return Path(files)


def load_imagenet_weights(encoder: ResnetEncoder, path: str | Path) -> None:
    """Load a torchvision ImageNet checkpoint (`resnetXX-*.pth`) into `encoder.encoder`.

    For an N-image encoder the RGB `conv1.weight` is tiled N times along the input channels and
    divided by N, so that N identical frames give the single-image response.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or "conv1.weight" not in state:
        raise KeyError(f"{path}: expected a torchvision ResNet state dict with 'conv1.weight'")
    state = dict(state)
    conv1 = state["conv1.weight"]
    if conv1.shape[1] != 3:
        raise ValueError(f"{path}: 'conv1.weight' should take 3 input channels, "
                         f"got shape {tuple(conv1.shape)}")
    n = encoder.num_input_images
    state["conv1.weight"] = torch.cat([conv1] * n, 1) / n
    try:
        encoder.encoder.load_state_dict(state)
    except RuntimeError as err:
        raise RuntimeError(f"{path}: not a ResNet-{encoder.num_layers} ImageNet state dict: "
                           f"{err}") from err
