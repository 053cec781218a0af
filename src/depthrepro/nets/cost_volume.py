"""MonoRec's plane-sweep photometric cost volume (no learned parameters).

For every depth hypothesis the keyframe pixels are back-projected, moved into each source frame with
the given camera-to-world poses and projected; the source image is warped there bilinearly. The
per-pixel SSIM dissimilarity to the keyframe is averaged over a 3×3 patch with fixed channel weights
(5/32, 16/32, 11/32 for R, G, B). Source frames are fused with a per-pixel weight that favours peaked
cost curves, and the result is mapped to `1 - 2·cost` (higher = better match; 0 where no source
frame sees the pixel at every depth).

Two quirks of the reference are kept because trained weights depend on them: projected pixel
coordinates are normalised by (W - 1, H - 1) while `grid_sample` runs with `align_corners=False`,
and they are clamped to [-2, 2].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.losses.photometric import SSIM

CHANNEL_WEIGHTS = (5 / 32, 16 / 32, 11 / 32)
PEAK_SHARPNESS = 10.0
PROJECTION_EPS = 1e-7
GRID_CLAMP = 2.0


def cost_volume_depths(inv_depth_min_max: tuple[float, float], steps: int,
                       device: torch.device | None = None) -> torch.Tensor:
    """`(steps,)` depths uniform in inverse depth, far to near.

    `inv_depth_min_max` = (largest inverse depth, smallest inverse depth), e.g. (0.33, 0.0025) gives
    400 m … 3.03 m.
    """
    near_inv, far_inv = inv_depth_min_max
    return 1 / torch.linspace(far_inv, near_inv, steps, device=device)


class PhotometricCostVolume(nn.Module):
    """SSIM plane-sweep cost volume of a keyframe against its source frames.

    `patch_size`: side of the averaging patch; source pixels within `patch_size // 2 + 1` of the
    border count as invalid.
    """

    def __init__(self, patch_size: int = 3, alpha: float = PEAK_SHARPNESS) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.border_radius = patch_size // 2 + 1
        self.alpha = alpha
        kernel = (torch.tensor(CHANNEL_WEIGHTS) / patch_size ** 2).view(1, 3, 1, 1, 1)
        self.register_buffer("patch_kernel", kernel.repeat(1, 1, 1, patch_size, patch_size), persistent=False)
        self.ssim = SSIM()

    def forward(self, keyframe: torch.Tensor, keyframe_pose: torch.Tensor, keyframe_intrinsics: torch.Tensor,
                frames: list[torch.Tensor], poses: list[torch.Tensor], intrinsics: list[torch.Tensor],
                depths: torch.Tensor) -> torch.Tensor:
        """Cost volume `(B, D, H, W)` in [-1, 1].

        `keyframe`, `frames[i]` `(B, 3, H, W)` in [-0.5, 0.5]; `keyframe_pose`, `poses[i]` `(B, 4, 4)`
        camera-to-world; `keyframe_intrinsics`, `intrinsics[i]` `(B, 4, 4)` pixel intrinsics at H×W;
        `depths (D,)` the hypotheses.
        """
        batch, _, height, width = keyframe.shape
        pixels = self._pixel_grid(height, width, keyframe.device, keyframe.dtype)
        valid_region = self._valid_region(height, width, keyframe.device, keyframe.dtype)
        extrinsics = [torch.inverse(pose) for pose in poses]
        volumes = []
        for b in range(batch):
            rays = torch.inverse(keyframe_intrinsics[b])[:3, :3] @ pixels
            points = depths.view(-1, 1, 1) * rays
            points = torch.cat([points, points.new_ones(len(depths), 1, height * width)], 1)
            warped, masks = [], []
            for image, extrinsic, K in zip(frames, extrinsics, intrinsics, strict=True):
                grid = self._project(points, K[b], extrinsic[b] @ keyframe_pose[b], height, width)
                source = image[b].unsqueeze(0).expand(len(depths), -1, -1, -1)
                warped.append(F.grid_sample(source, grid, align_corners=False))
                seen = F.grid_sample(valid_region.expand(len(depths), -1, -1, -1), grid, align_corners=False)
                masks.append(valid_region[0] * torch.min(seen != 0, dim=0)[0])
            volumes.append(self._fuse(torch.stack(warped, 1), torch.stack(masks), keyframe[b]))
        return torch.stack(volumes)

    @staticmethod
    def _pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """`(3, H·W)` homogeneous pixel coordinates (x, y, 1), row-major."""
        ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                                torch.arange(width, device=device, dtype=dtype), indexing="ij")
        return torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)])

    def _valid_region(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """`(1, 1, H, W)`: ones except a zero border of `border_radius` pixels."""
        r = self.border_radius
        inner = torch.ones(1, 1, height - 2 * r, width - 2 * r, device=device, dtype=dtype)
        return F.pad(inner, [r, r, r, r])

    @staticmethod
    def _project(points: torch.Tensor, K: torch.Tensor, T: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """`(D, 4, H·W)` keyframe points -> sampling grid `(D, H, W, 2)` in the source frame."""
        cam = (K @ T)[:3, :] @ points
        xy = cam[:, :2, :] / (cam[:, 2:3, :] + PROJECTION_EPS)
        xy = xy / xy.new_tensor([width - 1, height - 1]).view(1, 2, 1)
        grid = ((xy - 0.5) * 2).view(-1, 2, height, width).permute(0, 2, 3, 1)
        return grid.clamp(-GRID_CLAMP, GRID_CLAMP)

    def _fuse(self, warped: torch.Tensor, masks: torch.Tensor, keyframe: torch.Tensor) -> torch.Tensor:
        """`warped (D, F, 3, H, W)`, `masks (F, 1, H, W)`, `keyframe (3, H, W)` -> `(D, H, W)`."""
        depths, frames, channels, height, width = warped.shape
        n = depths * frames
        dissimilarity = self.ssim(warped.reshape(n, channels, height, width) + 0.5,
                                  keyframe.unsqueeze(0).expand(n, -1, -1, -1) + 0.5)
        dissimilarity = dissimilarity.view(depths, frames, channels, height, width).permute(1, 2, 0, 3, 4)
        pad = self.patch_size // 2
        cost = F.conv3d(dissimilarity, self.patch_kernel, padding=(0, pad, pad)).squeeze(1)  # (F, D, H, W)
        peakedness = torch.exp(-self.alpha * (cost - cost.min(1, keepdim=True)[0]) ** 2)
        weight = (1 - 1 / (depths - 1) * (peakedness.sum(1, keepdim=True) - 1)) * masks
        volume = (cost * weight).sum(0)
        weight_sum = weight.sum(0)[0]
        seen = weight_sum != 0
        fused = 1 - 2 * (volume / torch.where(seen, weight_sum, torch.ones_like(weight_sum)))
        return torch.where(seen, fused, torch.zeros_like(fused))
