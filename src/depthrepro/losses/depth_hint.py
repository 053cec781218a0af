"""Depth-hint proxy supervision with per-pixel selection (Depth Hints, as EPCDepth uses it).

Per pixel, the photometric errors of the prediction, of the unwarped source (auto-masking) and of
the hint-warped source compete: the reprojection term keeps pixels where the identity did not win,
and the hint term supervises the predicted depth with log(1 + |hint − depth|) where the hint won.
Invalid hints (depth ≤ 0) get a large error so that they never win.
"""
from __future__ import annotations

import torch

INVALID_HINT_PENALTY = 1000.0
MASKED_MEAN_EPS = 1e-7


def hint_error(warped_by_hint: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
    """Photometric error of the hint-warped source `(B, 1, H, W)`, penalised where `hint` ≤ 0."""
    return warped_by_hint + INVALID_HINT_PENALTY * (hint <= 0).to(warped_by_hint.dtype)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`Σ(values·mask) / (Σmask + 1e-7)`: a scalar (0 when the mask is empty)."""
    return (values * mask).sum() / (mask.sum() + MASKED_MEAN_EPS)


def select_pixels(pred_error: torch.Tensor, identity_error: torch.Tensor | None,
                  hint_err: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Masks `(B, 1, H, W)` (float) for the reprojection and the hint term.

    The candidates are `[pred_error, identity_error, hint_err]`, leaving out those that are None;
    per pixel the lowest wins (first on ties). The reprojection mask is "identity did not win"
    (all ones without auto-masking); the hint mask (None without hints) is "hint won".
    """
    candidates = [e for e in (pred_error, identity_error, hint_err) if e is not None]
    winner = torch.argmin(torch.cat(candidates, 1), dim=1, keepdim=True)
    if identity_error is None:
        reprojection_mask = torch.ones_like(pred_error)
    else:
        reprojection_mask = (winner != 1).to(pred_error.dtype)
    hint_mask = None
    if hint_err is not None:
        hint_mask = (winner == len(candidates) - 1).to(pred_error.dtype)
    return reprojection_mask, hint_mask


def depth_hint_loss(depth: torch.Tensor, hint: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `log(1 + |hint − depth|)` over the pixels of `mask` (all `(B, 1, H, W)`)."""
    return masked_mean(torch.log(torch.abs(hint - depth) + 1), mask)
