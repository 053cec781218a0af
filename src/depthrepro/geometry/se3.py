"""The exponential map of se(3): twist `(ρ, φ)` (translation part first) to a 4×4 transform."""
from __future__ import annotations

import torch


def skew(a: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices `[a]×` `(B, 3, 3)` of vectors `(B, 3, 1)`."""
    x, y, z = a[:, 0, 0], a[:, 1, 0], a[:, 2, 0]
    zero = torch.zeros_like(x)
    return torch.stack([torch.stack([zero, -z, y], 1),
                        torch.stack([z, zero, -x], 1),
                        torch.stack([-y, x, zero], 1)], 1)


def se3_exp(xi: torch.Tensor) -> torch.Tensor:
    """`exp(ξ^)` for twists `ξ = (ρ, φ)` `(B, 6, 1)` -> `(B, 4, 4)`.

    Rotation by Rodrigues' formula about `a = φ/θ`, `θ = ‖φ‖`; translation `J ρ` with the left
    Jacobian `J = (sin θ/θ) I + (1 − sin θ/θ) a aᵀ + ((1 − cos θ)/θ) [a]×`. θ must be non-zero.
    """
    rho, phi = xi[:, :3], xi[:, 3:]
    theta = torch.norm(phi, 2, 1, keepdim=True)
    a = phi / theta
    a_skew = skew(a)
    eye = torch.eye(3, dtype=xi.dtype, device=xi.device).unsqueeze(0)
    aat = torch.bmm(a, a.transpose(1, 2))
    cos, sin = torch.cos(theta), torch.sin(theta)
    rotation = cos * eye + (1 - cos) * aat + sin * a_skew
    left_jacobian = (sin / theta) * eye + (1 - sin / theta) * aat + (1 - cos) / theta * a_skew
    T = torch.eye(4, dtype=xi.dtype, device=xi.device).unsqueeze(0).repeat(xi.shape[0], 1, 1)
    T[:, :3, :3] = rotation
    T[:, :3, 3:] = torch.bmm(left_jacobian, rho)
    return T
