"""Monodepth2's pose decoder: axis-angle and translation from the last encoder feature."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

POSE_SCALE = 0.01


class PoseDecoder(nn.Module):
    """1×1 squeeze per input, two 3×3 convs, a 1×1 head, global average, ×0.01.

    State-dict keys: `net.0` (squeeze), `net.1`, `net.2` (pose convs), `net.3` (head, 6 values
    per predicted frame).
    """

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, num_input_features: int,
                 num_frames_to_predict_for: int | None = None, stride: int = 1) -> None:
        super().__init__()
        self.num_ch_enc = np.asarray(num_ch_enc)
        self.num_input_features = num_input_features
        if num_frames_to_predict_for is None:
            num_frames_to_predict_for = num_input_features - 1
        self.num_frames_to_predict_for = num_frames_to_predict_for
        self.net = nn.ModuleList([
            nn.Conv2d(int(self.num_ch_enc[-1]), 256, 1),
            nn.Conv2d(num_input_features * 256, 256, 3, stride, 1),
            nn.Conv2d(256, 256, 3, stride, 1),
            nn.Conv2d(256, 6 * num_frames_to_predict_for, 1),
        ])
        self.relu = nn.ReLU()

    def forward(self, input_features: Sequence[Sequence[torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One feature list per input -> `(axisangle, translation)`, each `(B, F, 1, 3)`."""
        squeeze, pose_0, pose_1, head = self.net
        out = torch.cat([self.relu(squeeze(features[-1])) for features in input_features], 1)
        out = self.relu(pose_0(out))
        out = self.relu(pose_1(out))
        out = head(out).mean(3).mean(2)
        out = POSE_SCALE * out.view(-1, self.num_frames_to_predict_for, 1, 6)
        return out[..., :3], out[..., 3:]
