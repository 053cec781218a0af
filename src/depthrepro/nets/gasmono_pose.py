"""GasMono's two pose heads over a two-image ResNet encoder (`nets.resnet.ResnetEncoder`).

Both have monodepth2's pose-decoder layout (`net.0` 1×1 squeeze, `net.1`, `net.2` 3×3 convs, `net.3`
1×1 head; ReLU between; spatial mean; ×0.01) and differ in the values per predicted frame:

- `PoseDecoder` (residual PoseNet): 7 — axis-angle (3), translation (3), an unused scalar (1).
- `TransDecoder` (AlignNet): 4 — residual translation (3), scale of the coarse translation (1).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

OUTPUT_SCALE = 0.01


class _ConvPoseHead(nn.Module):
    """Shared layout; `forward` returns the raw `(B, F, 1, values_per_frame)` outputs × 0.01."""

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, values_per_frame: int,
                 num_input_features: int = 1, num_frames_to_predict_for: int = 2) -> None:
        super().__init__()
        self.values_per_frame = values_per_frame
        self.num_frames_to_predict_for = num_frames_to_predict_for
        self.net = nn.ModuleList([
            nn.Conv2d(int(num_ch_enc[-1]), 256, 1),
            nn.Conv2d(num_input_features * 256, 256, 3, 1, 1),
            nn.Conv2d(256, 256, 3, 1, 1),
            nn.Conv2d(256, values_per_frame * num_frames_to_predict_for, 1),
        ])
        self.relu = nn.ReLU()

    def raw(self, input_features: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """One feature list per input image pair -> `(B, F, 1, values_per_frame)`."""
        squeeze, conv0, conv1, head = self.net
        out = torch.cat([self.relu(squeeze(features[-1])) for features in input_features], 1)
        out = head(self.relu(conv1(self.relu(conv0(out)))))
        out = out.mean(3).mean(2)
        return OUTPUT_SCALE * out.view(-1, self.num_frames_to_predict_for, 1, self.values_per_frame)


class PoseDecoder(_ConvPoseHead):
    """GasMono's residual PoseNet head: `(axisangle, translation, scalor)`, `(B, F, 1, 3/3/1)`."""

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, num_input_features: int = 1,
                 num_frames_to_predict_for: int = 2) -> None:
        super().__init__(num_ch_enc, 7, num_input_features, num_frames_to_predict_for)

    def forward(self, input_features: Sequence[Sequence[torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.raw(input_features)
        return out[..., :3], out[..., 3:6], out[..., 6:]


class TransDecoder(_ConvPoseHead):
    """AlignNet head: `(translation, scalor)`, `(B, F, 1, 3)` and `(B, F, 1, 1)`. Only frame slot 0
    is used in training: the residual translation and the scale applied to the coarse translation."""

    def __init__(self, num_ch_enc: Sequence[int] | np.ndarray, num_input_features: int = 1,
                 num_frames_to_predict_for: int = 2) -> None:
        super().__init__(num_ch_enc, 4, num_input_features, num_frames_to_predict_for)

    def forward(self, input_features: Sequence[Sequence[torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.raw(input_features)
        return out[..., :3], out[..., 3:]
