"""EPCDepth's data grafting: swap the bottom rows between same-side samples of a batch.

Per batch: a ratio r is drawn from {0, 0.2, 0.4, 0.6, 0.8} and g = int(r·H); for g > 0, within the
left-camera samples and within the right-camera samples separately, rows g…H−1 of every sample are
replaced by those of a randomly permuted partner; then, with probability 0.5, every tensor is rolled
up by g rows so that the grafted block comes first. The same draw applies to every tensor given.
All draws come from torch's global CPU generator, in the official order (ratio, left permutation,
right permutation, shift), so a saved RNG state replays the same grafts.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

import torch

Key = TypeVar("Key", bound=Hashable)
NUM_RATIOS = 5          # r = k / 5 for k in 0..4
SIDES = (0, 1)          # 0 = left camera, 1 = right camera
SHIFT_PROBABILITY = 0.5


def graft_batch(tensors: Mapping[Key, torch.Tensor], side: torch.Tensor) -> dict[Key, torch.Tensor]:
    """Grafted copies of `tensors` (each `(B, C, H, W)`, same B and H), grouped by `side` `(B,)`.

    Samples are only paired with samples of the same `side` value (0 left, 1 right). Returns the
    inputs themselves (no copy) when the drawn cut is 0 rows.
    """
    if not tensors:
        raise ValueError("graft_batch: no tensors to graft")
    shapes = {key: tuple(t.shape) for key, t in tensors.items()}
    first = next(iter(tensors.values()))
    batch, height = first.shape[0], first.shape[2]
    for key, shape in shapes.items():
        if len(shape) != 4 or shape[0] != batch or shape[2] != height:
            raise ValueError(f"graft_batch: tensor {key!r} has shape {shape}; every tensor must be "
                             f"(B, C, H, W) with B={batch} and H={height}")
    if side.shape != (batch,):
        raise ValueError(f"graft_batch: 'side' must have shape ({batch},), got {tuple(side.shape)}")
    unknown = sorted(set(side.tolist()) - set(SIDES))
    if unknown:
        raise ValueError(f"graft_batch: 'side' values must be 0 (left) or 1 (right), got {unknown}")

    ratio = int(torch.randint(NUM_RATIOS, ()).item()) / NUM_RATIOS
    cut = int(ratio * height)
    if cut == 0:
        return dict(tensors)
    side_cpu = side.cpu()
    order = torch.arange(batch)
    for value in SIDES:
        members = torch.nonzero(side_cpu == value).flatten()
        order[members] = members[torch.randperm(len(members))]
    shift = torch.rand(()).item() < SHIFT_PROBABILITY

    grafted: dict[Key, torch.Tensor] = {}
    for key, t in tensors.items():
        out = t.clone()
        out[:, :, cut:] = t[order.to(t.device), :, cut:]
        grafted[key] = torch.roll(out, shifts=-cut, dims=2) if shift else out
    return grafted
