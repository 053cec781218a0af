"""Coarse (structure-from-motion) relative poses refined by a predicted scale and residual translation."""
from __future__ import annotations

import torch


def align_coarse_pose(coarse: torch.Tensor, scale: torch.Tensor, residual: torch.Tensor,
                      invert: bool = False) -> torch.Tensor:
    """GasMono's `transformation_from_gtmsrtpose`: keep the coarse rotation, translation
    `t = scale · t_coarse + residual` (residual negated when `invert`).

    `coarse (B, 4, 4)`, `scale` B values (e.g. `(B, 1, 1)`), `residual` `(B, 1, 3)` or `(B, 3)`.
    Returns a new `(B, 4, 4)`; `coarse` is left unchanged (the official function writes into its
    argument, which its caller passes as a clone).
    """
    batch = coarse.shape[0]
    if scale.numel() != batch or residual.numel() != 3 * batch:
        raise ValueError(f"align_coarse_pose: expected {batch} scales and {batch}x3 residuals, got "
                         f"shapes {tuple(scale.shape)} and {tuple(residual.shape)}")
    residual = residual.reshape(batch, 3)
    if invert:
        residual = -residual
    aligned = coarse.clone()
    aligned[:, :3, 3] = coarse[:, :3, 3] * scale.reshape(batch, 1) + residual
    return aligned
