"""Edge-aware first-order disparity smoothness."""
from __future__ import annotations

import torch


def get_smooth_loss(disp: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """Mean |∂disp| weighted by `exp(-|∂img|)` (channel-averaged), along x plus along y.

    `disp (B, 1, H, W)`, usually already divided by its per-image mean; `img (B, 3, H, W)`.
    Returns a scalar.
    """
    grad_disp_x = torch.abs(disp[:, :, :, :-1] - disp[:, :, :, 1:])
    grad_disp_y = torch.abs(disp[:, :, :-1, :] - disp[:, :, 1:, :])
    grad_img_x = torch.mean(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]), 1, keepdim=True)
    grad_img_y = torch.mean(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :]), 1, keepdim=True)
    weighted_x = grad_disp_x * torch.exp(-grad_img_x)
    weighted_y = grad_disp_y * torch.exp(-grad_img_y)
    return weighted_x.mean() + weighted_y.mean()
