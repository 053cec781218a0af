"""SE(3) transforms from the pose networks' axis-angle and translation outputs."""
from __future__ import annotations

import torch


def rot_from_axisangle(vec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: axis-angle `(B, 1, 3)` to a homogeneous rotation `(B, 4, 4)`."""
    angle = torch.norm(vec, 2, 2, True)
    axis = vec / (angle + 1e-7)
    cos = torch.cos(angle)
    sin = torch.sin(angle)
    one_minus_cos = 1 - cos

    x = axis[..., 0].unsqueeze(1)
    y = axis[..., 1].unsqueeze(1)
    z = axis[..., 2].unsqueeze(1)
    xs, ys, zs = x * sin, y * sin, z * sin
    xc, yc, zc = x * one_minus_cos, y * one_minus_cos, z * one_minus_cos
    xyc, yzc, zxc = x * yc, y * zc, z * xc

    rot = torch.zeros((vec.shape[0], 4, 4), dtype=vec.dtype, device=vec.device)
    rot[:, 0, 0] = (x * xc + cos).reshape(-1)
    rot[:, 0, 1] = (xyc - zs).reshape(-1)
    rot[:, 0, 2] = (zxc + ys).reshape(-1)
    rot[:, 1, 0] = (xyc + zs).reshape(-1)
    rot[:, 1, 1] = (y * yc + cos).reshape(-1)
    rot[:, 1, 2] = (yzc - xs).reshape(-1)
    rot[:, 2, 0] = (zxc - ys).reshape(-1)
    rot[:, 2, 1] = (yzc + xs).reshape(-1)
    rot[:, 2, 2] = (z * zc + cos).reshape(-1)
    rot[:, 3, 3] = 1
    return rot


def get_translation_matrix(translation: torch.Tensor) -> torch.Tensor:
    """Translation vector `(B, 1, 3)` or `(B, 3)` to a homogeneous transform `(B, 4, 4)`."""
    batch = translation.shape[0]
    T = torch.eye(4, dtype=translation.dtype, device=translation.device).repeat(batch, 1, 1)
    T[:, :3, 3] = translation.reshape(batch, 3)
    return T


def transformation_from_parameters(axisangle: torch.Tensor, translation: torch.Tensor,
                                   invert: bool = False) -> torch.Tensor:
    """Pose `(B, 4, 4)` from axis-angle and translation, each `(B, 1, 3)`.

    `T · R` (rotate, then translate); with `invert`, the exact inverse `Rᵀ · T(-t)`.
    """
    R = rot_from_axisangle(axisangle)
    if invert:
        return torch.matmul(R.transpose(1, 2), get_translation_matrix(-translation))
    return torch.matmul(get_translation_matrix(translation), R)
