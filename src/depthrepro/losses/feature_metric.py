"""FeatDepth's losses (Shu et al., ECCV 2020): robust L1 and the photometric error built on it, the
feature-metric error, the FeatureNet's discriminative/convergent feature regularisers and its
multi-scale reconstruction loss, and first- plus second-order edge-aware smoothness.

Derivatives are forward differences (`∂x D = D[..., 1:] - D[..., :-1]` along the width, `∂y` along
the height; second derivatives ∂xx, ∂xy, ∂yx, ∂yy differentiate those again). Edge weights are
`exp(-alpha · |∂I|)` with the image derivative averaged over its channels, after area-resizing the
image to the map's size.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from depthrepro.losses.photometric import L1_WEIGHT, SSIM, SSIM_WEIGHT

ROBUST_L1_EPS = 1e-3
SMOOTHNESS_EDGE_FACTOR = 0.5


def robust_l1(pred: torch.Tensor, target: torch.Tensor, eps: float = ROBUST_L1_EPS) -> torch.Tensor:
    """Element-wise `sqrt((target - pred)² + eps²)`, a differentiable |target - pred|."""
    return torch.sqrt((target - pred) ** 2 + eps ** 2)


def robust_reprojection_loss(pred: torch.Tensor, target: torch.Tensor, ssim: SSIM) -> torch.Tensor:
    """`0.85 · SSIM + 0.15 · robust L1`, each averaged over channels: `(B, C, H, W)` -> `(B, 1, H, W)`."""
    return (SSIM_WEIGHT * ssim(pred, target).mean(1, True)
            + L1_WEIGHT * robust_l1(pred, target).mean(1, True))


def feature_metric_error(target_feature: torch.Tensor, warped_feature: torch.Tensor) -> torch.Tensor:
    """Channel mean of the robust L1 between two feature maps: `(B, C, H, W)` -> `(B, 1, H, W)`."""
    return robust_l1(target_feature, warped_feature).mean(1, True)


def min_feature_metric_loss(target_feature: torch.Tensor,
                            warped_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over pixels of the per-pixel minimum feature-metric error over the warped sources."""
    errors = torch.cat([feature_metric_error(target_feature, w) for w in warped_features], 1)
    return errors.min(1)[0].mean()


def gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences `(∂x, ∂y)`: `(B, C, H, W-1)` and `(B, C, H-1, W)`."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_aware_derivative_terms(x: torch.Tensor, img: torch.Tensor, alpha: float
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge-weighted first- and second-order variation of `x (B, C, h, w)` against `img (B, 3, H, W)`.

    first = mean|∂x x|·e^{-α|∂x I|} + mean|∂y x|·e^{-α|∂y I|};
    second = the same sum over ∂xx, ∂xy, ∂yx, ∂yy. Means run over every element (channels included).
    """
    img = F.interpolate(img, x.shape[-2:], mode="area")
    x_dx, x_dy = gradients(x)
    i_dx, i_dy = gradients(img)
    x_second = (*gradients(x_dx), *gradients(x_dy))
    i_second = (*gradients(i_dx), *gradients(i_dy))

    def weighted(d: torch.Tensor, d_img: torch.Tensor) -> torch.Tensor:
        return torch.mean(d.abs() * torch.exp(-alpha * d_img.abs().mean(1, True)))

    first = weighted(x_dx, i_dx) + weighted(x_dy, i_dy)
    second = sum((weighted(d, di) for d, di in zip(x_second, i_second, strict=True)),
                 start=torch.zeros((), dtype=x.dtype, device=x.device))
    return first, second


def disparity_smoothness(disp: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """FeatDepth's disparity smoothness: first + second order, edge factor 0.5 (scalar)."""
    first, second = edge_aware_derivative_terms(disp, img, SMOOTHNESS_EDGE_FACTOR)
    return first + second


def feature_regularisation(feature: torch.Tensor, img: torch.Tensor, dis: float, cvt: float
                           ) -> torch.Tensor:
    """Discriminative plus convergent loss of one feature map (scalar), edge factor 1.

    `-dis · first` rewards large first derivatives (discriminative features); `+cvt · second`
    penalises second derivatives (smooth, convergent feature landscapes).
    """
    first, second = edge_aware_derivative_terms(feature, img, 1.0)
    return -dis * first + cvt * second


def multi_level_feature_regularisation(features: Sequence[torch.Tensor], img: torch.Tensor, dis: float,
                                       cvt: float) -> torch.Tensor:
    """Sum over the N feature levels i of `feature_regularisation(features[i]) / 2^i / N` (scalar)."""
    n = len(features)
    terms = [feature_regularisation(f, img, dis, cvt) / 2 ** i / n for i, f in enumerate(features)]
    return torch.stack(terms).sum()


def multi_scale_reconstruction_loss(recon: Mapping[int, torch.Tensor], target: torch.Tensor,
                                    scales: Sequence[int], ssim: SSIM, chained: bool) -> torch.Tensor:
    """Mean over scales of the mean robust photometric error of `recon[s]` against the target.

    The target is bilinearly resized to each reconstruction's size: from the full image, or with
    `chained` from the previous scale's resized target (H → H/2 → H/4 → H/8, as FeatDepth's
    stand-alone auto-encoder loop does by re-assigning its target).
    """
    total = torch.zeros((), dtype=target.dtype, device=target.device)
    resized = target
    for s in scales:
        source = resized if chained else target
        resized = F.interpolate(source, recon[s].shape[-2:], mode="bilinear", align_corners=False)
        total = total + robust_reprojection_loss(recon[s], resized, ssim).mean() / len(scales)
    return total
