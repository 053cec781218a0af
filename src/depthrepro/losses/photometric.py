"""Photometric reconstruction error: SSIM + L1 as in monodepth2, and GasMono's relative-L1 variant."""
from __future__ import annotations

import torch
from torch import nn

SSIM_WEIGHT = 0.85
L1_WEIGHT = 0.15


class SSIM(nn.Module):
    """Per-pixel SSIM dissimilarity `(1 - SSIM) / 2` clamped to [0, 1].

    3×3 mean filters on a 1-pixel reflection-padded input, C1 = 0.01², C2 = 0.03².
    `forward(x, y)`: two `(B, C, H, W)` images -> `(B, C, H, W)`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1)
        self.refl = nn.ReflectionPad2d(1)
        self.C1 = 0.01 ** 2
        self.C2 = 0.03 ** 2

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """SSIM dissimilarity map `(B, C, H, W)`."""
        x = self.refl(x)
        y = self.refl(y)
        mu_x = self.pool(x)
        mu_y = self.pool(y)
        sigma_x = self.pool(x ** 2) - mu_x ** 2
        sigma_y = self.pool(y ** 2) - mu_y ** 2
        sigma_xy = self.pool(x * y) - mu_x * mu_y
        numerator = (2 * mu_x * mu_y + self.C1) * (2 * sigma_xy + self.C2)
        denominator = (mu_x ** 2 + mu_y ** 2 + self.C1) * (sigma_x + sigma_y + self.C2)
        return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def reprojection_loss(pred: torch.Tensor, target: torch.Tensor, ssim: SSIM) -> torch.Tensor:
    """`0.85 · SSIM + 0.15 · L1`, each averaged over channels.

    `pred`, `target`: `(B, C, H, W)` -> `(B, 1, H, W)`.
    """
    l1 = torch.abs(target - pred).mean(1, True)
    ssim_loss = ssim(pred, target).mean(1, True)
    return SSIM_WEIGHT * ssim_loss + L1_WEIGHT * l1


def relative_reprojection_loss(pred: torch.Tensor, target: torch.Tensor, ssim: SSIM,
                               offset: float = 0.01) -> torch.Tensor:
    """GasMono's photometric error: `0.85 · SSIM + 0.15 · |target - pred| / (target + offset)`,
    each averaged over channels (the L1 term relative to the target intensity).

    `pred`, `target`: `(B, C, H, W)` -> `(B, 1, H, W)`.
    """
    l1 = (torch.abs(target - pred) / (target + offset)).mean(1, True)
    ssim_loss = ssim(pred, target).mean(1, True)
    return SSIM_WEIGHT * ssim_loss + L1_WEIGHT * l1
