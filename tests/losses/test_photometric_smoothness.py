"""SSIM / reprojection loss and edge-aware smoothness."""
from __future__ import annotations

import torch

from depthrepro.losses.photometric import SSIM, reprojection_loss
from depthrepro.losses.smoothness import get_smooth_loss


def test_identical_images_have_zero_loss() -> None:
    torch.manual_seed(0)
    image = torch.rand(2, 3, 16, 24)
    ssim = SSIM()
    assert ssim(image, image).abs().max() < 1e-4
    loss = reprojection_loss(image, image, ssim)
    assert loss.shape == (2, 1, 16, 24)
    assert loss.abs().max() < 1e-4


def test_reprojection_loss_weights_ssim_and_l1() -> None:
    torch.manual_seed(0)
    a, b = torch.rand(1, 3, 16, 24), torch.rand(1, 3, 16, 24)
    ssim = SSIM()
    dissimilarity = ssim(a, b)
    assert dissimilarity.shape == a.shape
    assert dissimilarity.min() >= 0 and dissimilarity.max() <= 1 and dissimilarity.mean() > 0.1
    expected = 0.85 * dissimilarity.mean(1, True) + 0.15 * (a - b).abs().mean(1, True)
    torch.testing.assert_close(reprojection_loss(a, b, ssim), expected)


def test_constant_disparity_is_perfectly_smooth() -> None:
    image = torch.rand(2, 3, 16, 24)
    assert get_smooth_loss(torch.full((2, 1, 16, 24), 0.7), image) == 0


def test_smoothness_is_edge_aware() -> None:
    ramp = torch.linspace(0, 1, 24).expand(1, 1, 16, 24)
    flat_image = torch.zeros(1, 3, 16, 24)
    flat = get_smooth_loss(ramp, flat_image)
    torch.testing.assert_close(flat, torch.tensor(1 / 23))  # only x-gradients, weight 1
    striped_image = torch.zeros(1, 3, 16, 24)
    striped_image[..., 1::2] = 1.0
    assert get_smooth_loss(ramp, striped_image) < 0.5 * flat
