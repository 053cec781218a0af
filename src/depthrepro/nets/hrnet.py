"""HRNet-W18 (Wang et al., TPAMI 2020) as the DIFFNet / DualRefine depth encoders use it.

The module tree (`conv1`, `bn1`, `conv2`, `bn2`, `layer1`, `transition1..3`, `stage2..4` with
`branches` and `fuse_layers`) mirrors the HRNet-Image-Classification / timm naming, so the
ImageNet HRNetV2-W18 file loads unchanged (its classification head keys are ignored). There is no
classification head: the encoder returns its multi-resolution features.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.nets.resnet import BasicBlock, Bottleneck

STEM_CHANNELS = 64
STAGE1_BLOCKS = 4
BLOCKS_PER_BRANCH = 4
# HRNet-W18: branch widths of stages 2, 3 and 4, and how many modules each stage stacks.
W18_STAGE_CHANNELS: tuple[tuple[int, ...], ...] = ((18, 36), (18, 36, 72), (18, 36, 72, 144))
W18_STAGE_MODULES = (1, 4, 3)


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int, relu: bool
             ) -> nn.Sequential:
    """Convolution without bias, BatchNorm and optionally ReLU (`0`, `1` in the state dict)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by an all-to-all fusion of their outputs.

    `fuse_layers[i][j]` brings branch j to branch i's resolution and width: a 1×1 conv + BN
    (then bilinear upsampling) for a lower-resolution j, a chain of stride-2 3×3 convs for a
    higher-resolution j, and `None` for j == i.
    """

    def __init__(self, channels: Sequence[int], num_blocks: int = BLOCKS_PER_BRANCH) -> None:
        super().__init__()
        self.num_branches = len(channels)
        self.branches = nn.ModuleList([
            nn.Sequential(*(BasicBlock(c, c) for _ in range(num_blocks))) for c in channels])
        fuse_layers = []
        for i, c_out in enumerate(channels):
            row: list[nn.Module | None] = []
            for j, c_in in enumerate(channels):
                if j > i:
                    row.append(_conv_bn(c_in, c_out, 1, 1, relu=False))
                elif j == i:
                    row.append(None)
                else:
                    steps = [_conv_bn(c_in, c_in, 3, 2, relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(c_in, c_out, 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse_layers)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        """One tensor per branch `(B, C_i, H/2^i, W/2^i)` -> the fused tensors, same shapes."""
        x = [branch(t) for branch, t in zip(self.branches, x, strict=True)]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                if j == i:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(row[j](x[j]), size=x[i].shape[-2:], mode="bilinear",
                                          align_corners=False)
                else:
                    y = y + row[j](x[j])
            fused.append(F.relu(y))
        return fused


def transition_layer(previous: Sequence[int], current: Sequence[int]) -> nn.ModuleList:
    """Per new branch: a 3×3 conv adapting the width (or `None`), or for an extra branch a
    stride-2 3×3 conv (chain) from the lowest-resolution previous branch."""
    layers: list[nn.Module | None] = []
    for i, c_out in enumerate(current):
        if i < len(previous):
            layers.append(None if c_out == previous[i]
                          else _conv_bn(previous[i], c_out, 3, 1, relu=True))
        else:
            extra = i + 1 - len(previous)
            layers.append(nn.Sequential(*(
                _conv_bn(previous[-1], c_out if k == extra - 1 else previous[-1], 3, 2, relu=True)
                for k in range(extra))))
    return nn.ModuleList(layers)


def hrnet_stage(channels: Sequence[int], num_modules: int) -> nn.Sequential:
    """`num_modules` stacked `HighResolutionModule`s with the given branch widths."""
    return nn.Sequential(*(HighResolutionModule(channels) for _ in range(num_modules)))


def run_stages(x: torch.Tensor, transitions: Sequence[nn.ModuleList],
               stages: Sequence[nn.Sequential]) -> list[list[torch.Tensor]]:
    """Stages 2..4 on the stage-1 output `(B, 256, h, w)`: the branch outputs of every stage.

    Branch i of a stage has resolution `(h/2^i, w/2^i)`; a new branch starts from the previous
    stage's lowest-resolution output.
    """
    outputs: list[list[torch.Tensor]] = []
    inputs = [x]
    for transition, stage in zip(transitions, stages, strict=True):
        branches = []
        for i, layer in enumerate(transition):
            source = inputs[min(i, len(inputs) - 1)]
            branches.append(source if layer is None else layer(source))
        inputs = stage(branches)
        outputs.append(inputs)
    return outputs


class HRNetW18(nn.Module):
    """HRNet-W18 backbone: stride-4 stem (two stride-2 3×3 convs), a Bottleneck stage at 256
    channels, then stages of 2, 3 and 4 branches (18/36/72/144 channels at strides 4..32).

    `forward` returns the stem features at stride 2 and 4 and each stage's branch outputs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_CHANNELS)
        width = STEM_CHANNELS * Bottleneck.expansion
        downsample = nn.Sequential(nn.Conv2d(STEM_CHANNELS, width, 1, bias=False),
                                   nn.BatchNorm2d(width))
        self.layer1 = nn.Sequential(
            Bottleneck(STEM_CHANNELS, STEM_CHANNELS, downsample=downsample),
            *(Bottleneck(width, STEM_CHANNELS) for _ in range(STAGE1_BLOCKS - 1)))
        c2, c3, c4 = W18_STAGE_CHANNELS
        m2, m3, m4 = W18_STAGE_MODULES
        self.transition1 = transition_layer((width,), c2)
        self.stage2 = hrnet_stage(c2, m2)
        self.transition2 = transition_layer(c2, c3)
        self.stage3 = hrnet_stage(c3, m3)
        self.transition3 = transition_layer(c3, c4)
        self.stage4 = hrnet_stage(c4, m4)

    def transitions(self) -> list[nn.ModuleList]:
        return [self.transition1, self.transition2, self.transition3]

    def stages(self) -> list[nn.Sequential]:
        return [self.stage2, self.stage3, self.stage4]

    def forward(self, x: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, list[list[torch.Tensor]]]:
        """Normalised image `(B, 3, H, W)` -> stem `(B, 64, H/2, W/2)`, `(B, 64, H/4, W/4)` and
        the branch outputs of stages 2, 3, 4."""
        x0a = F.relu(self.bn1(self.conv1(x)))
        x0b = F.relu(self.bn2(self.conv2(x0a)))
        return x0a, x0b, run_stages(self.layer1(x0b), self.transitions(), self.stages())


def read_hrnet_imagenet_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The HRNet-W18 entries of an ImageNet classification checkpoint, keyed as `HRNetW18`.

    The file's head (`incre_modules`, `downsamp_modules`, `final_layer`, `classifier`) is dropped;
    every backbone key must be present with the backbone's shape.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise TypeError(f"{path}: expected a state dict, got {type(state).__name__}")
    expected = HRNetW18().state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise KeyError(f"{path}: not an HRNet-W18 ImageNet state dict; missing {len(missing)} "
                       f"backbone keys, e.g. {missing[:3]}")
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if wrong:
        got, want = tuple(state[wrong[0]].shape), tuple(expected[wrong[0]].shape)
        raise ValueError(f"{path}: shapes differ from HRNet-W18 for {wrong[:3]} "
                         f"(e.g. {got} != {want})")
    return {k: state[k] for k in expected if k in state}
