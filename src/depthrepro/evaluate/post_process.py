"""Flip post-processing of disparities (the Monodepth v1 blend used by monodepth2 and its heirs)."""

from __future__ import annotations

import numpy as np

EDGE_RAMP_START = 0.05
"""Normalised column where the left-edge ramp starts to fall."""

EDGE_RAMP_SLOPE = 20.0
"""The ramp falls from 1 to 0 over 1/20 of the width: columns 0.05..0.10."""


def batch_post_process_disparity(l_disp: np.ndarray, r_disp: np.ndarray) -> np.ndarray:
    """Blend ``(N, h, w)`` disparities of the images and of their mirrors into ``(N, h, w)`` float64.

    ``r_disp`` is the prediction on the horizontally flipped image, already flipped back so that it
    is aligned with ``l_disp``. Near the left border, where the direct prediction sees disocclusion
    artefacts, the flipped prediction is used; near the right border the direct one; elsewhere
    their mean.
    """
    if l_disp.ndim != 3 or l_disp.shape != r_disp.shape:
        raise ValueError(f"expected two (N, h, w) arrays of equal shape, got {l_disp.shape} and {r_disp.shape}")
    width = l_disp.shape[-1]
    column = np.linspace(0, 1, width)
    flipped_weight = 1.0 - np.clip(EDGE_RAMP_SLOPE * (column - EDGE_RAMP_START), 0, 1)
    direct_weight = flipped_weight[::-1]
    blend_weight = 1.0 - flipped_weight - direct_weight
    mean_disp = 0.5 * (l_disp + r_disp)
    return direct_weight * l_disp + flipped_weight * r_disp + blend_weight * mean_disp
