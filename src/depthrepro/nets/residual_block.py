"""RAFT's residual block: two 3×3 convolutions with bias, each followed by a norm and ReLU."""
from __future__ import annotations

import torch
from torch import nn

NORMS = ("instance", "batch")


class ResidualBlock(nn.Module):
    """`relu(x + relu(norm2(conv2(relu(norm1(conv1(x)))))))`, stride 1, fixed width.

    `norm`: "instance" (InstanceNorm2d without affine parameters or statistics, so no state) or
    "batch" (BatchNorm2d).
    """

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"ResidualBlock: norm must be one of {NORMS}, got {norm!r}")
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        make_norm = nn.InstanceNorm2d if norm == "instance" else nn.BatchNorm2d
        self.norm1 = make_norm(channels)
        self.norm2 = make_norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W) -> (B, C, H, W)`."""
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        return self.relu(x + y)
