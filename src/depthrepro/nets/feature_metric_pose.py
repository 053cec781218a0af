"""Feature-metric pose refinement (PixLoc-style direct alignment) as in DualRefine.

One Gauss–Newton step on `Σ_p w_p ‖F_cur(p) − F_lookup(π(T·X_p))‖²` over a left-multiplied se(3)
increment of the pose T, with per-pixel weights from a fixed confidence network on both frames
(and an optional extra weight map).
"""
from __future__ import annotations

import torch
from torch import nn

from depthrepro.geometry.se3 import se3_exp
from depthrepro.nets.epipolar_cost import PinholeCamera, sample_at_pixels
from depthrepro.nets.residual_block import ResidualBlock

# Sample offsets (pixels) around each projection: centre, +x, −x, +y, −y (central differences).
GRADIENT_OFFSETS = ((0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0))


class PoseUpdate(nn.Module):
    """Confidence network (`weights`) and the Gauss–Newton pose step.

    `norm1` and `feats` belong to the official checkpoint but not to its computation.
    """

    def __init__(self, channels: int = 64, feat_channels: int = 16) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.weights = nn.Sequential(
            nn.Sequential(ResidualBlock(channels, "batch"), ResidualBlock(channels, "batch")),
            nn.Conv2d(channels, 1, 1, bias=False), nn.ReLU())
        self.feats = nn.Sequential(
            nn.Sequential(ResidualBlock(channels, "batch"), ResidualBlock(channels, "batch")),
            nn.Conv2d(channels, feat_channels, 1, bias=False))

    def confidence(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`1 / (1 + relu(head))` for both frames: stem features `(2B, 64, h, w)` (current frames
        first) -> current `(B, 1, h, w)`, lookup `(B, 1, h, w)`."""
        current, lookup = self.weights(features).float().split(features.shape[0] // 2, 0)
        return 1 / (1 + current), 1 / (1 + lookup)

    @staticmethod
    def gauss_newton_step(pose: torch.Tensor, camera: PinholeCamera, depth: torch.Tensor,
                          current: torch.Tensor, lookup: torch.Tensor,
                          current_weight: torch.Tensor, lookup_weight: torch.Tensor,
                          weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One damping-free Gauss–Newton update of `pose (B, 4, 4)` (current → lookup camera).

        `depth (B, 1, h, w)`: current-frame depth; `current`, `lookup` `(B, C, h, w)`: matching
        features; `current_weight`, `lookup_weight`, `weight` `(B, 1, h, w)`: per-pixel weights
        (the lookup one is sampled at the projection). Returns the new pose and `‖ξ‖ (B,)` of
        the applied twist. The normal equations are solved by Cholesky, else by LU; if both
        fail the pose is kept and the returned norm is that of its first column.
        """
        b, c, h, w = current.shape
        coords, points = camera.transform_and_project(pose, depth[:, None])
        offsets = torch.tensor(GRADIENT_OFFSETS, dtype=coords.dtype, device=coords.device)
        coords = coords.reshape(b, 2, h * w)[:, None].permute(0, 3, 1, 2)  # (B, hw, 1, 2)
        coords = coords + offsets[None, None]  # (B, hw, 5, 2)
        samples = sample_at_pixels(lookup, coords, h, w).view(b, c, h, w, len(GRADIENT_OFFSETS))
        warped = samples[..., 0]
        gradient = torch.stack([(samples[..., 1] - samples[..., 2]) / 2,
                                (samples[..., 3] - samples[..., 4]) / 2], -1)
        warped_weight = sample_at_pixels(lookup_weight.to(coords.dtype), coords[:, :, :1], h, w)

        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        fx, fy = camera.fx.reshape(-1, 1), camera.fy.reshape(-1, 1)
        fx_z, fy_z = fx / z, fy / z
        fx_x_z2, fy_y_z2 = fx_z * x / z, fy_z * y / z
        zeros = torch.zeros_like(fx_x_z2)
        # d(pixel)/d(ξ) at each transformed point, ξ = (translation, rotation): (B, hw, 2, 6)
        pixel_jacobian = torch.stack((
            torch.stack((fx_z, zeros, -fx_x_z2, -fx_x_z2 * y, fx + fx_x_z2 * x, -fx_z * y), 1),
            torch.stack((zeros, fy_z, -fy_y_z2, -fy - fy_y_z2 * y, fy_y_z2 * x, fy_z * x), 1),
        ), 1).permute(0, 3, 1, 2)
        image_jacobian = gradient.reshape(b, c, h * w, 2).permute(0, 2, 1, 3)
        jacobian = -image_jacobian @ pixel_jacobian  # (B, hw, C, 6)
        residual = (current - warped).permute(0, 2, 3, 1).reshape(b, h * w, c, 1)

        pixel_weight = current_weight * warped_weight.reshape(b, 1, h, w) * weight
        weighted = jacobian * pixel_weight.reshape(b, h * w, 1, 1)
        hessian = (weighted.transpose(2, 3) @ jacobian).sum(1)
        gradient_b = (-residual * weighted).sum(2).sum(1)
        try:
            factor = torch.linalg.cholesky(hessian)
            if torch.isnan(factor).any():
                raise torch.linalg.LinAlgError("NaN in the Cholesky factor")
            update = torch.cholesky_solve(gradient_b[..., None], factor)
        except RuntimeError:
            try:
                update = torch.linalg.solve(hessian, gradient_b[..., None])
            except RuntimeError:
                return pose, torch.norm(pose, dim=1)[:, 0]
        new_pose = torch.bmm(se3_exp(update).to(pose.dtype), pose)
        return new_pose, torch.norm(update, dim=1)[:, 0]
