"""disp_to_depth, back-projection and projection."""
from __future__ import annotations

import torch

from depthrepro.geometry.camera import BackprojectDepth, Project3D, disp_to_depth
from depthrepro.geometry.pose import transformation_from_parameters


def kitti_intrinsics(batch: int, height: int, width: int) -> torch.Tensor:
    """Normalised KITTI intrinsics scaled to pixels, `(B, 4, 4)`."""
    K = torch.tensor([[0.58, 0, 0.5, 0], [0, 1.92, 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    K[0] *= width
    K[1] *= height
    return K.expand(batch, 4, 4).clone()


def test_disp_to_depth_range() -> None:
    scaled, depth = disp_to_depth(torch.tensor([0.0, 0.5, 1.0]), 0.1, 100.0)
    torch.testing.assert_close(depth[[0, 2]], torch.tensor([100.0, 0.1]))
    torch.testing.assert_close(scaled * depth, torch.ones(3))
    assert depth[0] > depth[1] > depth[2]


def test_backproject_then_project_with_identity_gives_pixel_grid() -> None:
    batch, height, width = 2, 12, 20
    K = kitti_intrinsics(batch, height, width)
    depth = 1 + 10 * torch.rand(batch, 1, height, width)
    points = BackprojectDepth(batch, height, width)(depth, torch.linalg.inv(K))
    assert points.shape == (batch, 4, height * width)
    torch.testing.assert_close(points[:, 2], depth.view(batch, -1))
    torch.testing.assert_close(points[:, 3], torch.ones(batch, height * width))

    grid = Project3D(batch, height, width)(points, K, torch.eye(4).expand(batch, 4, 4))
    assert grid.shape == (batch, height, width, 2)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    torch.testing.assert_close(grid[..., 0], (2 * xs / (width - 1) - 1).expand(batch, -1, -1),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(grid[..., 1], (2 * ys / (height - 1) - 1).expand(batch, -1, -1),
                               atol=1e-5, rtol=0)


def test_project_applies_the_pose() -> None:
    """A pure x-translation shifts the image by f_x · t_x / z pixels."""
    batch, height, width, z, tx = 1, 8, 16, 4.0, 0.5
    K = kitti_intrinsics(batch, height, width)
    points = BackprojectDepth(batch, height, width)(
        torch.full((batch, 1, height, width), z), torch.linalg.inv(K))
    T = transformation_from_parameters(torch.zeros(1, 1, 3), torch.tensor([[[tx, 0.0, 0.0]]]))
    moved = Project3D(batch, height, width)(points, K, T)
    still = Project3D(batch, height, width)(points, K, torch.eye(4)[None])
    shift_px = (moved[..., 0] - still[..., 0]) * (width - 1) / 2
    torch.testing.assert_close(shift_px, torch.full_like(shift_px, K[0, 0, 0].item() * tx / z))
    torch.testing.assert_close(moved[..., 1], still[..., 1])
