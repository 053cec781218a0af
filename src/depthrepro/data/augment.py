"""monodepth2's photometric augmentation: colour jitter with torchvision's semantics, in torch.

One set of jitter factors (and one order of the four operations) is drawn per sample and applied to every
frame and scale of it, so the frames of a sample stay photometrically consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_GRAY = (0.2989, 0.587, 0.114)


@dataclass(frozen=True)
class JitterConfig:
    """Ranges as torchvision's ColorJitter: factors in [1-x, 1+x], hue shift in [-x, x]."""

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.1


@dataclass(frozen=True)
class ColorJitter:
    """Fixed jitter factors and operation order for one sample."""

    order: tuple[int, ...]
    brightness: float
    contrast: float
    saturation: float
    hue: float

    @staticmethod
    def sample(cfg: JitterConfig, rng: np.random.Generator) -> ColorJitter:
        return ColorJitter(
            order=tuple(int(i) for i in rng.permutation(4)),
            brightness=float(rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)),
            contrast=float(rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)),
            saturation=float(rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)),
            hue=float(rng.uniform(-cfg.hue, cfg.hue)),
        )

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """`img` (3, H, W) in [0, 1] → jittered copy."""
        ops = (
            lambda x: _blend(x, torch.zeros_like(x), self.brightness),
            lambda x: _blend(x, _grayscale(x).mean().expand_as(x), self.contrast),
            lambda x: _blend(x, _grayscale(x).expand_as(x), self.saturation),
            lambda x: _shift_hue(x, self.hue),
        )
        for i in self.order:
            img = ops[i](img)
        return img


def _blend(img: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * img + (1.0 - factor) * other).clamp(0.0, 1.0)


def _grayscale(img: torch.Tensor) -> torch.Tensor:
    r, g, b = img.unbind(0)
    return (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b).unsqueeze(0)


def _shift_hue(img: torch.Tensor, shift: float) -> torch.Tensor:
    h, s, v = _rgb_to_hsv(img)
    return _hsv_to_rgb(torch.remainder(h + shift, 1.0), s, v)


def _rgb_to_hsv(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r, g, b = img.unbind(0)
    maxc, _ = img.max(0)
    minc, _ = img.min(0)
    delta = maxc - minc
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    safe = torch.where(delta == 0, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.remainder(h / 6.0, 1.0)
    h = torch.where(delta == 0, torch.zeros_like(h), h)
    return h, s, maxc


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = torch.stack([
        torch.stack([v, q, p, p, t, v]),
        torch.stack([t, v, v, q, p, p]),
        torch.stack([p, p, t, v, v, q]),
    ])  # (3, 6, H, W)
    return table.gather(1, i.expand(3, 1, *i.shape)).squeeze(1)
