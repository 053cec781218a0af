"""Self-distillation towards a per-pixel best prediction (EPCDepth's SPP labels).

The label takes, per pixel, the disparity of the candidate with the lowest photometric error; each
prediction is then pulled towards the (detached) label by a log-L1 penalty.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def lowest_error_label(disps: Sequence[torch.Tensor], errors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per pixel, the disparity whose error is lowest; ties keep the earlier candidate.

    `disps` and `errors`: equally long sequences of `(B, 1, H, W)` maps. Returns a detached map.
    """
    if len(disps) != len(errors) or not disps:
        raise ValueError(f"lowest_error_label: need as many errors as disparities (at least one), "
                         f"got {len(disps)} disparities and {len(errors)} errors")
    with torch.no_grad():
        label, lowest = disps[0], errors[0]
        for disp, error in zip(disps[1:], errors[1:]):
            label = torch.where(error < lowest, disp, label)
            lowest = torch.minimum(error, lowest)
    return label.detach()


def log_l1(label: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Mean of `log(1 + |label − pred|)`: a scalar."""
    return torch.log(torch.abs(label - pred) + 1).mean()
