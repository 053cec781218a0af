"""DualRefine's epipolar sampling: depth hypotheses around the current depth, projected into the
lookup frame, and the L1 feature cost of each hypothesis.

All pixel coordinates here are at the matching-feature resolution `(h, w)` (1/4 of the image),
with `(0, 0)` the centre of the top-left pixel; sampling uses `align_corners=False`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAX_INVERSE_DEPTH = 100.0
CONSISTENCY_FACTOR = 2.0


class PinholeCamera:
    """Intrinsics `K (B, 4, 4)` at the feature resolution, with the back-projected pixel rays."""

    def __init__(self, K: torch.Tensor, height: int, width: int) -> None:
        self.fx, self.fy = K[:, 0, 0], K[:, 1, 1]
        self.cx, self.cy = K[:, 0, 2], K[:, 1, 2]
        ys, xs = torch.meshgrid(torch.arange(height, device=K.device, dtype=K.dtype),
                                torch.arange(width, device=K.device, dtype=K.dtype), indexing="ij")
        # (B, 1, 1, h, w): normalised image coordinates of every pixel centre
        self.rays_x = ((xs[None] - self.cx[:, None, None]) / self.fx[:, None, None])[:, None, None]
        self.rays_y = ((ys[None] - self.cy[:, None, None]) / self.fy[:, None, None])[:, None, None]

    def backproject(self, depths: torch.Tensor) -> torch.Tensor:
        """Homogeneous points `(B, 4, D, h, w)` from depths `(B, 1, D, h, w)`."""
        return torch.cat([depths * self.rays_x, depths * self.rays_y, depths,
                          torch.ones_like(depths)], 1)

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """Pixel coordinates `(B, 2, N)` of homogeneous points `(B, 4, N)`; 1/Z is capped at 100."""
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        inv_z = torch.clamp(1.0 / z, max=MAX_INVERSE_DEPTH)
        u = self.fx[:, None] * (x * inv_z) + self.cx[:, None]
        v = self.fy[:, None] * (y * inv_z) + self.cy[:, None]
        return torch.stack([u, v], 1)

    def transform_and_project(self, pose: torch.Tensor, depths: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Depths `(B, 1, D, h, w)` seen from the lookup camera `pose (B, 4, 4)`: pixel
        coordinates `(B, 2, D, h, w)` and the transformed points `(B, 4, D·h·w)`."""
        b = depths.shape[0]
        points = pose.to(depths.dtype) @ self.backproject(depths).reshape(b, 4, -1)
        return self.project(points).reshape(b, 2, *depths.shape[2:]), points


def sample_at_pixels(features: torch.Tensor, coords: torch.Tensor, height: int, width: int
                     ) -> torch.Tensor:
    """Bilinear samples (zero outside) of `features (B, C, h', w')` at pixel coordinates
    `(B, N, K, 2)` given on a `height × width` grid -> `(B, C, N, K)`."""
    x, y = coords.split(1, dim=-1)
    grid = torch.cat([2 * (x + 0.5) / width - 1, 2 * (y + 0.5) / height - 1], -1)
    return F.grid_sample(features, grid, align_corners=False)


class EpipolarSampler(nn.Module):
    """Depth hypotheses `D + k·g·2^l`, k = −r..r, l = 0..levels−1, with the spacing
    `g = softplus(delta) · D / depth_ratio / r` learned through the scalar `delta`.

    `delta_p` belongs to the official checkpoint but not to its computation.
    """

    def __init__(self, radius: int, num_levels: int, depth_ratio: float) -> None:
        super().__init__()
        self.radius = radius
        self.num_levels = num_levels
        self.depth_ratio = depth_ratio
        self.delta = nn.Parameter(torch.tensor([1.0]))
        self.delta_p = nn.Parameter(torch.tensor([1.0]))

    def hypotheses(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth hypotheses `(B, 1, levels·(2r+1), h, w)` (level-major) around `depth (B, 1, h, w)`,
        and the largest level-0 offset `(B, 1, h, w)` (the bound of one depth step)."""
        r = self.radius
        offsets = torch.linspace(-r, r, 2 * r + 1, device=depth.device)[None, None, :, None, None]
        depth = depth[:, None]
        gap = F.softplus(self.delta) * depth / self.depth_ratio / r
        steps = [offsets * ((2 ** level) * gap) for level in range(self.num_levels)]
        max_step = steps[0].max(dim=2, keepdim=True)[0][:, 0]
        return depth + torch.cat(steps, 2), max_step


class LocalCost:
    """L1 matching cost between the current frame's features and an average-pooled pyramid of
    the lookup frame's features, sampled at projected depth hypotheses."""

    def __init__(self, current: torch.Tensor, lookup: torch.Tensor, num_levels: int) -> None:
        self.current = current[..., None]
        self.height, self.width = current.shape[-2:]
        self.pyramid = [lookup]
        for _ in range(num_levels - 1):
            self.pyramid.append(F.avg_pool2d(self.pyramid[-1], 2, stride=2))

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """Coordinates `(B, 2, L, D, h, w)` of D hypotheses on each of L levels (level l sampled
        from pyramid level l) -> channel-mean |difference| `(B, L·D, h, w)`, level-major."""
        b, _, levels, d, h, w = coords.shape
        coords = coords.permute(2, 0, 4, 5, 3, 1).reshape(levels, b, h * w, d, 2)
        costs = []
        for level in range(levels):
            sampled = sample_at_pixels(self.pyramid[level], coords[level], self.height,
                                       self.width).view(b, -1, h, w, d)
            costs.append(torch.abs(self.current - sampled).mean(1))
        return torch.cat(costs, -1).permute(0, 3, 1, 2).contiguous()


def consistency_hypotheses(depth: torch.Tensor, min_depth: float, max_depth: float,
                           num_bins: int) -> torch.Tensor:
    """`num_bins` depths per pixel, linear from `min_depth` to `min(8·(D − min) + min, max)`:
    `(B, 1, num_bins, h, w)` for `depth (B, 1, h, w)`."""
    t = torch.linspace(0, 1, num_bins, device=depth.device)
    far = torch.clamp(8 * (depth - min_depth) + min_depth, max=max_depth)
    scale = (far - min_depth) / (depth - min_depth)
    return t[None, None, :, None, None] * scale[:, None] * (depth[:, None] - min_depth) + min_depth


def consistency_mask(depth: torch.Tensor, pose: torch.Tensor, camera: PinholeCamera,
                     cost: LocalCost, min_depth: float, max_depth: float, num_bins: int
                     ) -> torch.Tensor:
    """Where the lowest-cost depth among `consistency_hypotheses` (level-0 cost, lookup camera
    `pose (B, 4, 4)`) lies within a factor 2 of `depth (B, 1, h, w)`: bool, same shape."""
    hypotheses = consistency_hypotheses(depth, min_depth, max_depth, num_bins)
    coords, _ = camera.transform_and_project(pose, hypotheses)
    costs = cost(coords[:, :, None])
    matched = torch.gather(hypotheses[:, 0], 1, costs.argmin(1, keepdim=True))
    limit = CONSISTENCY_FACTOR - 1
    return ((matched - depth) / depth < limit) & ((depth - matched) / matched < limit)
