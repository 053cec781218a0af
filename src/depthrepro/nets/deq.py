"""Deep-equilibrium helpers: a fixed-point solver (Anderson acceleration) and the phantom gradient.

The solver follows DEQ-flow's: it evaluates f exactly `threshold` times and returns, among the
iterates x_k (k ≥ 2) it fed to f, the one with the smallest mean |f(x_k) − x_k| over the whole
batch (no early stop).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

SOLVERS = ("anderson", "fixed_point")


def solve_fixed_point(f: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, threshold: int,
                      solver: str = "anderson", memory: int = 6, lam: float = 1e-4,
                      beta: float = 1.0) -> torch.Tensor:
    """Approximate fixed point of `f` for states `x0 (B, L)`.

    `"anderson"`: the next iterate mixes the last `memory` f-values with weights that minimise
    the (λ-regularised) norm of the combined residuals; when that small system cannot be solved
    the step falls back to x_k = f(x_{k−1}). `"fixed_point"` always takes that fallback, i.e.
    plain iteration x_k = f(x_{k−1}). The first two steps are plain iteration in both modes.
    With `threshold` ≤ 2 the last f-value is returned.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    bsz, length = x0.shape
    X = x0.new_zeros(bsz, memory, length, dtype=torch.float32)
    Fx = x0.new_zeros(bsz, memory, length, dtype=torch.float32)
    X[:, 0], Fx[:, 0] = x0, f(x0)
    if threshold == 1:
        return Fx[:, 0].clone()
    X[:, 1], Fx[:, 1] = Fx[:, 0], f(Fx[:, 0].clone())
    if threshold == 2:
        return Fx[:, 1].clone()

    H = x0.new_zeros(bsz, memory + 1, memory + 1, dtype=torch.float32)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = x0.new_zeros(bsz, memory + 1, 1, dtype=torch.float32)
    y[:, 0] = 1
    best, lowest = X[:, 0].clone(), float("inf")
    for k in range(2, threshold):
        n = min(k, memory)
        slot = k % memory
        mixed = None
        if solver == "anderson":
            with torch.autocast(x0.device.type, enabled=False):
                mixed = _anderson_mix(X[:, :n], Fx[:, :n], H[:, :n + 1, :n + 1], y[:, :n + 1],
                                      lam, beta)
        X[:, slot] = Fx[:, (k - 1) % memory] if mixed is None else mixed
        Fx[:, slot] = f(X[:, slot].clone())
        residual = (Fx[:, slot] - X[:, slot]).abs().mean().item()
        if residual < lowest or k == 2:
            best, lowest = X[:, slot].clone(), residual
    return best


def _anderson_mix(X: torch.Tensor, Fx: torch.Tensor, H: torch.Tensor, y: torch.Tensor,
                  lam: float, beta: float) -> torch.Tensor | None:
    """Anderson's next iterate from iterates `X` and f-values `Fx` `(B, n, L)`; `H` `(B, n+1,
    n+1)` is the bordered Gram matrix (filled in here), `y = (1, 0, ..., 0)`. None if the
    system is singular."""
    n = X.shape[1]
    G = Fx - X
    H[:, 1:, 1:] = torch.bmm(G, G.transpose(1, 2)) + lam * torch.eye(n, device=X.device)[None]
    try:
        alpha = torch.linalg.solve(H, y)[:, 1:, 0]
    except RuntimeError:
        return None
    return beta * (alpha[:, None] @ Fx)[:, 0] + (1 - beta) * (alpha[:, None] @ X)[:, 0]


def phantom_gradient(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, steps: int,
                     tau: float) -> torch.Tensor:
    """`steps` damped iterations `z ← (1 − τ) z + τ f(z)` with autograd on (from a detached z)."""
    for _ in range(steps):
        z = (1 - tau) * z + tau * f(z)
    return z
