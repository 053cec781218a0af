"""Supervised depth losses of the dynamic multi-frame method (Li et al., CVPR 2023): scale-invariant
log error (SILog) and the Virtual Normal Loss of Yin et al. (ICCV 2019) as that method codes them.

* SILog over the valid pixels of the whole batch: `g = log(pred depth) − log(GT depth)`,
  `10 · sqrt(Var(g) + 0.15 · mean(g)²)` with the unbiased variance.
* VNL: random pixel triplets (15 % of H·W per call, drawn with replacement and shared by the images
  of the batch) are lifted to 3-D with the image centre `(W // 2, H // 2)` as principal point; a
  triplet counts when its three GT depths exceed 1e-4, its GT edges are not nearly collinear and
  its GT points are not all within 5 mm of each other. The loss of a triplet is the L1 distance
  of the GT and predicted unit normals; the smallest 25 % are dropped and the rest averaged.
"""
from __future__ import annotations

import torch

SILOG_VARIANCE_FOCUS = 0.15
SILOG_SCALE = 10.0
VNL_SAMPLE_RATIO = 0.15
VNL_MIN_DEPTH = 1e-4
VNL_COLLINEAR_COS = 0.867
VNL_NEAR = 0.005
VNL_DROP_FRACTION = 0.25
VNL_ZERO_NORM = 0.01
GRAM_EPS = 1e-8


def silog_loss(pred_inverse_depth: torch.Tensor, gt_inverse_depth: torch.Tensor) -> torch.Tensor:
    """SILog between `(B, 1, H, W)` inverse depths on the pixels where `gt_inverse_depth != 0`."""
    valid = gt_inverse_depth != 0
    g = torch.log(1.0 / pred_inverse_depth[valid]) - torch.log(1.0 / gt_inverse_depth[valid])
    return SILOG_SCALE * torch.sqrt(torch.var(g) + SILOG_VARIANCE_FOCUS * torch.mean(g) ** 2)


def sample_triplets(height: int, width: int, ratio: float = VNL_SAMPLE_RATIO,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """`(3, N)` flat pixel indices of N = int(ratio·H·W) triplets, drawn uniformly with replacement
    (from the global RNG when `generator` is None)."""
    count = int(height * width * ratio)
    return torch.randint(height * width, (3, count), generator=generator)


def _points(depth: torch.Tensor, fx: float, fy: float) -> torch.Tensor:
    """`(B, 1, H, W)` depth -> `(B, H·W, 3)` camera points with the image centre as principal point."""
    _, _, height, width = depth.shape
    v, u = torch.meshgrid(torch.arange(height, dtype=depth.dtype, device=depth.device),
                          torch.arange(width, dtype=depth.dtype, device=depth.device), indexing="ij")
    x = (u - width // 2) * torch.abs(depth) / fx
    y = (v - height // 2) * torch.abs(depth) / fy
    return torch.cat([x, y, depth], 1).flatten(2).transpose(1, 2)


def _edges(points: torch.Tensor) -> torch.Tensor:
    """`(B, N, 3 points, 3 xyz)` -> `(B, N, 3 edges, 3 xyz)`: p2−p1, p3−p1, p3−p2."""
    return torch.stack([points[:, :, 1] - points[:, :, 0], points[:, :, 2] - points[:, :, 0],
                        points[:, :, 2] - points[:, :, 1]], 2)


def valid_triplets(gt_points: torch.Tensor) -> torch.Tensor:
    """`(B, N, 3 points, 3 xyz)` GT triplets -> `(B, N)` bool: usable for the normal loss."""
    edges = _edges(gt_points)
    norms = edges.norm(dim=3)
    cosines = (edges @ edges.transpose(2, 3)) / (norms.unsqueeze(3) * norms.unsqueeze(2) + GRAM_EPS)
    # The diagonal (each edge with itself) contributes 3, so more than 3 means two collinear edges.
    collinear = ((cosines > VNL_COLLINEAR_COS) | (cosines < -VNL_COLLINEAR_COS)).flatten(2).sum(2) > 3
    near = (edges.abs() < VNL_NEAR).any(2).all(2)
    in_range = (gt_points[..., 2] > VNL_MIN_DEPTH).all(2)
    return in_range & ~(near | collinear)


def _unit_normals(points: torch.Tensor) -> torch.Tensor:
    """`(M, 3 points, 3 xyz)` -> `(M, 3)` unit normals (a degenerate triplet's norm counts as 0.01)."""
    normal = torch.cross(points[:, 1] - points[:, 0], points[:, 2] - points[:, 0], dim=1)
    norm = normal.norm(dim=1, keepdim=True)
    return normal / (norm + (norm == 0).to(norm.dtype) * VNL_ZERO_NORM)


def virtual_normal_loss(gt_depth: torch.Tensor, pred_depth: torch.Tensor, fx: float, fy: float,
                        triplets: torch.Tensor) -> torch.Tensor:
    """VNL between `(B, 1, H, W)` depths (GT 0 = invalid) on the `(3, N)` flat-index `triplets`.

    `fx`, `fy`: focal lengths in pixels at H×W. Without any usable triplet the loss is 0 (connected
    to the prediction's graph).
    """
    gt = _points(gt_depth, fx, fy)[:, triplets.T]      # (B, N, 3 points, 3 xyz)
    pred = _points(pred_depth, fx, fy)[:, triplets.T]
    keep = valid_triplets(gt)
    if not keep.any():
        return pred_depth.sum() * 0.0
    errors = (_unit_normals(gt[keep]) - _unit_normals(pred[keep])).abs().sum(1)
    errors = torch.sort(errors).values
    return errors[int(errors.numel() * VNL_DROP_FRACTION):].mean()
