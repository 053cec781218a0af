"""Axis-angle rotations and SE(3) transforms built from pose-network outputs."""
from __future__ import annotations

import math

import torch

from depthrepro.geometry.pose import (
    get_translation_matrix,
    rot_from_axisangle,
    transformation_from_parameters,
)


def test_rotation_about_z_matches_closed_form() -> None:
    angle = 0.3
    R = rot_from_axisangle(torch.tensor([[[0.0, 0.0, angle]]]))
    c, s = math.cos(angle), math.sin(angle)
    expected = torch.tensor([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    torch.testing.assert_close(R[0], expected)


def test_rotations_are_orthonormal_and_zero_is_identity() -> None:
    torch.manual_seed(0)
    R = rot_from_axisangle(torch.randn(5, 1, 3))[:, :3, :3]
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(5, 3, 3),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(5))
    identity = rot_from_axisangle(torch.zeros(2, 1, 3))
    torch.testing.assert_close(identity, torch.eye(4).expand(2, 4, 4))


def test_translation_matrix() -> None:
    T = get_translation_matrix(torch.tensor([[[1.0, 2.0, 3.0]]]))
    expected = torch.eye(4)
    expected[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(T[0], expected)


def test_inverted_transformation_is_the_inverse() -> None:
    torch.manual_seed(0)
    axisangle = 0.5 * torch.randn(4, 1, 3)
    translation = torch.randn(4, 1, 3)
    M = transformation_from_parameters(axisangle, translation)
    M_inv = transformation_from_parameters(axisangle, translation, invert=True)
    torch.testing.assert_close(M @ M_inv, torch.eye(4).expand(4, 4, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(M_inv, torch.linalg.inv(M), atol=1e-5, rtol=0)
    torch.testing.assert_close(M[:, :3, 3], translation[:, 0])  # rotate first, then translate
    assert translation.abs().sum() > 0 and not torch.allclose(M_inv, M)
