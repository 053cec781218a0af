"""Pinhole camera geometry: disparity to depth, back-projection and projection."""
from __future__ import annotations

import torch
from torch import nn


def disp_to_depth(disp: torch.Tensor, min_depth: float, max_depth: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Map a sigmoid output in [0, 1] linearly onto disparities in [1/max_depth, 1/min_depth].

    Returns `(scaled_disp, depth)`, both shaped like `disp`, with `depth = 1 / scaled_disp`.
    """
    min_disp = 1 / max_depth
    max_disp = 1 / min_depth
    scaled_disp = min_disp + (max_disp - min_disp) * disp
    return scaled_disp, 1 / scaled_disp


def pixel_grid(height: int, width: int) -> torch.Tensor:
    """Homogeneous pixel coordinates `(3, H*W)`: rows x (column index), y (row index), 1."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones(height * width)], 0)


class BackprojectDepth(nn.Module):
    """Lift a depth map to homogeneous camera-frame points.

    `forward(depth (B, 1, H, W), inv_K (B, 4, 4)) -> (B, 4, H*W)`; the batch size is fixed at
    construction, as the pixel grid is stored per batch element.
    """

    pix_coords: torch.Tensor
    ones: torch.Tensor

    def __init__(self, batch_size: int, height: int, width: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.height = height
        self.width = width
        grid = pixel_grid(height, width).unsqueeze(0).repeat(batch_size, 1, 1)
        self.register_buffer("pix_coords", grid, persistent=False)
        self.register_buffer("ones", torch.ones(batch_size, 1, height * width), persistent=False)

    def forward(self, depth: torch.Tensor, inv_K: torch.Tensor) -> torch.Tensor:
        """Points `depth · K⁻¹ [u, v, 1]ᵀ`, with a fourth row of ones: `(B, 4, H*W)`."""
        if depth.shape[0] != self.batch_size:
            raise ValueError(f"BackprojectDepth was built for batch size {self.batch_size}, "
                             f"got depth of shape {tuple(depth.shape)}")
        rays = torch.matmul(inv_K[:, :3, :3], self.pix_coords)
        points = depth.view(self.batch_size, 1, -1) * rays
        return torch.cat([points, self.ones], 1)


class Project3D(nn.Module):
    """Project homogeneous points into a camera `K · T` and normalise to `grid_sample` coordinates.

    `forward(points (B, 4, H*W), K (B, 4, 4), T (B, 4, 4)) -> (B, H, W, 2)`, x first, with
    pixel u mapped to `2 · u / (W - 1) - 1` (so the image spans [-1, 1]).
    """

    def __init__(self, batch_size: int, height: int, width: int, eps: float = 1e-7) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.height = height
        self.width = width
        self.eps = eps

    def forward(self, points: torch.Tensor, K: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
        """Sampling grid `(B, H, W, 2)` for `F.grid_sample`."""
        P = torch.matmul(K, T)[:, :3, :]
        cam_points = torch.matmul(P, points)
        pix = cam_points[:, :2, :] / (cam_points[:, 2, :].unsqueeze(1) + self.eps)
        pix = pix.view(self.batch_size, 2, self.height, self.width).permute(0, 2, 3, 1)
        scale = pix.new_tensor([self.width - 1, self.height - 1])
        return (pix / scale - 0.5) * 2


class WarperCache:
    """`BackprojectDepth` / `Project3D` pairs per (batch size, height, width, device), built on first use."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[int, int, int, torch.device], tuple[BackprojectDepth, Project3D]] = {}

    def get(self, batch_size: int, height: int, width: int, device: torch.device
            ) -> tuple[BackprojectDepth, Project3D]:
        key = (batch_size, height, width, device)
        if key not in self._pairs:
            self._pairs[key] = (BackprojectDepth(batch_size, height, width).to(device),
                                Project3D(batch_size, height, width).to(device))
        return self._pairs[key]
