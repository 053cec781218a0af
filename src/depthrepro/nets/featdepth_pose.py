"""FeatDepth's pose decoder: one relative pose from the deepest feature of a two-frame encoder."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

POSE_SCALE = 0.01


class SinglePoseDecoder(nn.Module):
    """1×1 squeeze (+ReLU), two 3×3 convs (+ReLU), 1×1 head to 6 values, spatial mean, ×0.01.

    State-dict keys follow FeatDepth's `mono_fm` `PoseDecoder`: `reduce`, `conv1`, `conv2`, `conv3`.
    """

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, stride: int = 1) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(int(num_ch_enc[-1]), 256, 1)
        self.conv1 = nn.Conv2d(256, 256, 3, stride, 1)
        self.conv2 = nn.Conv2d(256, 256, 3, stride, 1)
        self.conv3 = nn.Conv2d(256, 6, 1)
        self.relu = nn.ReLU()

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder features of one frame pair -> `(axisangle, translation)`, each `(B, 1, 1, 3)`."""
        out = self.relu(self.reduce(features[-1]))
        out = self.relu(self.conv1(out))
        out = self.relu(self.conv2(out))
        out = self.conv3(out).mean(3).mean(2)
        out = POSE_SCALE * out.view(-1, 1, 1, 6)
        return out[..., :3], out[..., 3:]
