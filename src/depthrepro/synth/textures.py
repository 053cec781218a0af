"""Procedural textures attached to surfaces in metric surface coordinates, filtered against aliasing.

Two periodic multi-octave noise tiles (fine: 1 cm texels, 5.12 m period; coarse: 7.3 cm texels,
37 m period, incommensurate with the fine one) are sampled through a mip pyramid, choosing the level
from each pixel's footprint on the surface. Regular patterns (mortar, paving joints, windows) use
box-filtered pulse trains, which are exact box filters of the ideal pattern over the footprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

TILE = 512
FINE_TEXEL = 0.01
COARSE_TEXEL = 0.073
_REMAP_COLS = 1024


def _periodic_noise(rng: np.random.Generator, persistence: float) -> np.ndarray:
    """(TILE, TILE) float32 zero-mean unit-std noise, periodic in both axes, octaves 4..TILE cells."""
    total = np.zeros((TILE, TILE), np.float32)
    amplitude = 1.0
    cells = 4
    while cells <= TILE:
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        scale = TILE // cells
        pad = 3
        padded = np.pad(grid, pad, mode="wrap")
        size = (cells + 2 * pad) * scale
        upsampled = cv2.resize(padded, (size, size), interpolation=cv2.INTER_CUBIC)
        total += amplitude * upsampled[pad * scale: pad * scale + TILE, pad * scale: pad * scale + TILE]
        amplitude *= persistence
        cells *= 2
    total -= total.mean()
    return (total / total.std()).astype(np.float32)


def _mip_pyramid(tile: np.ndarray) -> list[np.ndarray]:
    """Levels halved by 2x2 averaging (which keeps the tile periodic) down to 1x1."""
    levels = [tile]
    while levels[-1].shape[0] > 1:
        a = levels[-1]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return levels


@dataclass(frozen=True)
class NoiseTexture:
    """A periodic noise tile with its mip pyramid; ``texel`` is the size of one level-0 texel in metres."""

    levels: tuple[np.ndarray, ...]
    texel: float

    def sample(self, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Trilinear sample at surface coordinates ``u``, ``v`` (N,) metres for pixel footprints (N,) m."""
        n = u.shape[0]
        out = np.zeros(n, np.float32)
        if n == 0:
            return out
        level = np.clip(np.log2(np.maximum(footprint, 1e-9) / self.texel), 0.0, len(self.levels) - 1.0)
        base = np.minimum(level.astype(np.int64), len(self.levels) - 2)
        frac = (level - base).astype(np.float32)
        for lvl in np.nonzero(np.bincount(base))[0]:
            idx = np.nonzero(base == lvl)[0]
            lo = self._remap(int(lvl), u[idx], v[idx])
            hi = self._remap(int(lvl) + 1, u[idx], v[idx])
            out[idx] = lo + frac[idx] * (hi - lo)
        return out

    def _remap(self, level: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        image = self.levels[level]
        size = image.shape[0]
        texel = self.texel * (TILE // size)
        n = u.shape[0]
        rows = -(-n // _REMAP_COLS)
        map_x = np.zeros(rows * _REMAP_COLS, np.float32)
        map_y = np.zeros(rows * _REMAP_COLS, np.float32)
        map_x[:n] = np.mod(u / texel - 0.5, size)
        map_y[:n] = np.mod(v / texel - 0.5, size)
        sampled = cv2.remap(image, map_x.reshape(rows, _REMAP_COLS), map_y.reshape(rows, _REMAP_COLS),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        return sampled.reshape(-1)[:n]


@dataclass(frozen=True)
class TextureBank:
    """The noise textures shared by all materials of one seed."""

    fine: NoiseTexture
    coarse: NoiseTexture


@lru_cache(maxsize=4)
def texture_bank(seed: int) -> TextureBank:
    """Deterministic textures for ``seed`` (cached per process)."""
    rng = np.random.default_rng([seed, 7001])
    fine = NoiseTexture(tuple(_mip_pyramid(_periodic_noise(rng, 0.9))), FINE_TEXEL)
    coarse = NoiseTexture(tuple(_mip_pyramid(_periodic_noise(rng, 0.6))), COARSE_TEXEL)
    return TextureBank(fine=fine, coarse=coarse)


def pulse_train(x: np.ndarray, period: float | np.ndarray, width: float | np.ndarray,
                footprint: np.ndarray) -> np.ndarray:
    """Box-filtered coverage (N,) in [0, 1] of pulses ``[k * period, k * period + width)`` over a
    window of size ``footprint`` centred on ``x``."""
    def integral(t: np.ndarray) -> np.ndarray:
        cell = np.floor(t / period)
        return cell * width + np.minimum(t - cell * period, width)

    f = np.maximum(footprint, 1e-6)
    return np.clip((integral(x + 0.5 * f) - integral(x - 0.5 * f)) / f, 0.0, 1.0)


def cell_hash(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) (N,) per integer triple (cell indices, object id)."""
    h = (a.astype(np.int64) * 73856093) ^ (b.astype(np.int64) * 19349663) ^ (c.astype(np.int64) * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).astype(np.float32) / 65536.0
