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


_PAD = 2


@dataclass(frozen=True)
class NoiseTexture:
    """A periodic noise tile's mip pyramid packed in one atlas (every level wrap-padded by ``_PAD``
    texels, so bilinear lookups never leave a level). ``texel`` is a level-0 texel in metres;
    ``sizes``, ``origin_x``, ``origin_y`` (L,) give each level's size and atlas position."""

    atlas: np.ndarray
    sizes: np.ndarray
    origin_x: np.ndarray
    origin_y: np.ndarray
    texel: float

    @staticmethod
    def from_tile(tile: np.ndarray, texel: float) -> NoiseTexture:
        levels = _mip_pyramid(tile)
        first = TILE + 2 * _PAD
        heights = [lvl.shape[0] + 2 * _PAD for lvl in levels[1:]]
        atlas = np.zeros((max(first, sum(heights)), first + heights[0]), np.float32)
        origin_x, origin_y, y = [], [], 0
        for index, level in enumerate(levels):
            x0, y0 = (0, 0) if index == 0 else (first, y)
            padded = np.pad(level, _PAD, mode="wrap")
            atlas[y0: y0 + padded.shape[0], x0: x0 + padded.shape[1]] = padded
            origin_x.append(x0 + _PAD)
            origin_y.append(y0 + _PAD)
            if index > 0:
                y += padded.shape[0]
        sizes = np.array([lvl.shape[0] for lvl in levels], np.float32)
        return NoiseTexture(atlas, sizes, np.array(origin_x, np.float32), np.array(origin_y, np.float32), texel)

    def sample(self, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Trilinear sample at surface coordinates ``u``, ``v`` (N,) metres for pixel footprints (N,) m."""
        if u.shape[0] == 0:
            return np.zeros(0, np.float32)
        top = len(self.sizes) - 1
        level = np.clip(np.log2(np.maximum(footprint, 1e-9) / self.texel), 0.0, top).astype(np.float32)
        base = np.minimum(level.astype(np.int64), top - 1)
        lo = self._fetch(base, u, v)
        hi = self._fetch(base + 1, u, v)
        return lo + (level - base) * (hi - lo)

    def _fetch(self, level: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        size = np.take(self.sizes, level)
        scale = size / np.float32(TILE * self.texel)
        x = u * scale - 0.5
        y = v * scale - 0.5
        x -= np.floor(x / size) * size
        y -= np.floor(y / size) * size
        x += np.take(self.origin_x, level)
        y += np.take(self.origin_y, level)
        n = u.shape[0]
        rows = -(-n // _REMAP_COLS)
        map_x = np.zeros(rows * _REMAP_COLS, np.float32)
        map_y = np.zeros(rows * _REMAP_COLS, np.float32)
        map_x[:n], map_y[:n] = x, y
        sampled = cv2.remap(self.atlas, map_x.reshape(rows, _REMAP_COLS), map_y.reshape(rows, _REMAP_COLS),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
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
    fine = NoiseTexture.from_tile(_periodic_noise(rng, 0.9), FINE_TEXEL)
    coarse = NoiseTexture.from_tile(_periodic_noise(rng, 0.6), COARSE_TEXEL)
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
