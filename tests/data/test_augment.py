"""Colour jitter follows torchvision's definitions; identity factors leave images unchanged."""

from __future__ import annotations

import colorsys

import numpy as np
import torch

from depthrepro.data.augment import ColorJitter, JitterConfig


def _img(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 8, 10, generator=torch.Generator().manual_seed(seed))


def test_identity_factors_change_nothing() -> None:
    img = _img()
    jitter = ColorJitter(order=(0, 1, 2, 3), brightness=1.0, contrast=1.0, saturation=1.0, hue=0.0)
    torch.testing.assert_close(jitter(img), img, atol=2e-6, rtol=0)


def test_brightness_and_saturation_definitions() -> None:
    img = _img(1)
    bright = ColorJitter(order=(0,), brightness=1.5, contrast=1, saturation=1, hue=0)(img)
    torch.testing.assert_close(bright, (1.5 * img).clamp(0, 1))
    gray = ColorJitter(order=(2,), brightness=1, contrast=1, saturation=0.0, hue=0)(img)
    expected = 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    for c in range(3):
        torch.testing.assert_close(gray[c], expected)


def test_hue_shift_matches_colorsys() -> None:
    img = _img(2)
    out = ColorJitter(order=(3,), brightness=1, contrast=1, saturation=1, hue=0.1)(img)
    for y, x in [(0, 0), (3, 7), (7, 9)]:
        h, s, v = colorsys.rgb_to_hsv(*img[:, y, x].tolist())
        expected = colorsys.hsv_to_rgb((h + 0.1) % 1.0, s, v)
        np.testing.assert_allclose(out[:, y, x].numpy(), expected, atol=1e-5)


def test_sampling_is_deterministic_and_in_range() -> None:
    cfg = JitterConfig()
    a = ColorJitter.sample(cfg, np.random.default_rng(3))
    b = ColorJitter.sample(cfg, np.random.default_rng(3))
    assert a == b
    assert 0.8 <= a.brightness <= 1.2 and -0.1 <= a.hue <= 0.1 and sorted(a.order) == [0, 1, 2, 3]
