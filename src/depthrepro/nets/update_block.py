"""DualRefine's update operator: motion encoder, global-context ConvGRU and output heads.

One call maps (hidden state, context, local cost, depth) to a new hidden state and a raw depth
step. The motion encoder, GRU and depth head are weight-normalised; the convex-upsampling mask
and the "evolving" pose-weight heads are plain convolutions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.nets.weight_norm import weight_norm

POSE_VECTOR = 6
UPSAMPLE_FACTOR = 4
CONVEX_NEIGHBOURS = 9


class MotionEncoder(nn.Module):
    """Encodes the local cost `(B, cost_channels, h, w)` and the metric depth `(B, 1, h, w)` into
    64 channels (63 learned + the depth itself).

    `convp1`/`convp2` (a pose embedding) are part of the official checkpoint but not of its
    forward pass.
    """

    def __init__(self, cost_channels: int) -> None:
        super().__init__()
        self.convc1 = weight_norm(nn.Conv2d(cost_channels, 96, 1))
        self.convc2 = weight_norm(nn.Conv2d(96, 64, 3, padding=1))
        self.convf1 = weight_norm(nn.Conv2d(1, 64, 7, padding=3))
        self.convf2 = weight_norm(nn.Conv2d(64, 32, 3, padding=1))
        self.convp1 = weight_norm(nn.Linear(POSE_VECTOR, 128))
        self.convp2 = weight_norm(nn.Linear(128, 128))
        self.conv = weight_norm(nn.Conv2d(96, 63, 3, padding=1))

    def forward(self, depth: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
        """`(B, 1, h, w)`, `(B, cost_channels, h, w)` -> `(B, 64, h, w)`."""
        cor = F.relu(self.convc2(F.relu(self.convc1(cost))))
        dep = F.relu(self.convf2(F.relu(self.convf1(depth))))
        out = F.relu(self.conv(torch.cat([cor, dep], 1)))
        return torch.cat([out, depth], 1)


class ConvGRU(nn.Module):
    """Convolutional GRU whose gates also see a global context vector.

    `g = mean_xy(sigmoid(w h) · h)`; `z, r = σ(conv_net(h) + conv_inp(x) + W_{z,r} g)`;
    `q = tanh(convq([r·h, x]) + W_q g)`; `h' = (1 − z) h + z q`.
    """

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.conv_net = weight_norm(nn.Conv2d(hidden_dim, 2 * hidden_dim, 3, padding=1))
        self.conv_inp = weight_norm(nn.Conv2d(input_dim, 2 * hidden_dim, 3, padding=1))
        self.convq = weight_norm(nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1))
        self.w = weight_norm(nn.Conv2d(hidden_dim, hidden_dim, 1))
        self.convz_glo = weight_norm(nn.Conv2d(hidden_dim, hidden_dim, 1))
        self.convr_glo = weight_norm(nn.Conv2d(hidden_dim, hidden_dim, 1))
        self.convq_glo = weight_norm(nn.Conv2d(hidden_dim, hidden_dim, 1))

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """`h (B, hidden, h, w)`, `x (B, input, h, w)` -> new `h`."""
        glo = (torch.sigmoid(self.w(h)) * h).mean(dim=(2, 3), keepdim=True)
        z_net, r_net = self.conv_net(h).split(self.hidden_dim, 1)
        z_inp, r_inp = self.conv_inp(x).split(self.hidden_dim, 1)
        z = torch.sigmoid(z_net + z_inp + self.convz_glo(glo))
        r = torch.sigmoid(r_net + r_inp + self.convr_glo(glo))
        q = torch.tanh(self.convq(torch.cat([r * h, x], 1)) + self.convq_glo(glo))
        return (1 - z) * h + z * q


class ConvHead(nn.Module):
    """3×3 conv, ReLU, 3×3 conv (weight-normalised): the raw depth step."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = weight_norm(nn.Conv2d(in_channels, hidden, 3, padding=1))
        self.conv2 = weight_norm(nn.Conv2d(hidden, out_channels, 3, padding=1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x)))


class UpdateBlock(nn.Module):
    """Motion encoder + ConvGRU + depth head, plus the upsampling-mask and pose-weight heads."""

    def __init__(self, cost_channels: int, context_dim: int = 64, hidden_dim: int = 64) -> None:
        super().__init__()
        self.encoder = MotionEncoder(cost_channels)
        self.gru = ConvGRU(hidden_dim, 64 + context_dim)
        self.conv_head = ConvHead(hidden_dim, 64, 1)
        self.mask = nn.Sequential(
            nn.Conv2d(hidden_dim, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, UPSAMPLE_FACTOR ** 2 * CONVEX_NEIGHBOURS, 1))
        self.weight = nn.Sequential(
            nn.Conv2d(hidden_dim, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 1, 1), nn.Sigmoid())

    def forward(self, hidden: torch.Tensor, context: torch.Tensor, cost: torch.Tensor,
                depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """New hidden state `(B, hidden, h, w)` and raw depth step `(B, 1, h, w)`."""
        motion = self.encoder(depth, cost)
        hidden = self.gru(hidden, torch.cat([context, motion], 1))
        return hidden, self.conv_head(hidden)

    def convex_upsample(self, disp: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """×4 upsampling of `disp (B, 1, h, w)` as a softmax-weighted combination of each pixel's
        3×3 neighbourhood, weights from `hidden` -> `(B, 1, 4h, 4w)`."""
        n, _, h, w = disp.shape
        f = UPSAMPLE_FACTOR
        mask = (0.25 * self.mask(hidden)).view(n, 1, CONVEX_NEIGHBOURS, f, f, h, w)
        mask = torch.softmax(mask, dim=2)
        patches = F.unfold(disp, [3, 3], padding=1).view(n, 1, CONVEX_NEIGHBOURS, 1, 1, h, w)
        up = torch.sum(mask * patches, dim=2).permute(0, 1, 4, 2, 5, 3)
        return up.reshape(n, 1, f * h, f * w)
