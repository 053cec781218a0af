"""GasMono's photometric augmentation: a chain of albumentations-style operations on uint8 RGB images.

The official loader runs an `albumentations.Compose` of 16 operations, each with its own probability,
on every frame and pyramid scale separately. Here each operation is written with numpy/OpenCV after the
albumentations 1.x defaults (the parameter ranges below), and the chain — which operations, in which
order, with which probability — comes from the params file::

    augment: {color_prob: 0.5, ops: [[rgb_shift, 0.5], [channel_dropout, 0.1], ...]}

All randomness comes from the `numpy.random.Generator` passed in, so a sample is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

Image = np.ndarray
"""(H, W, 3) uint8 RGB."""
AugmentOp = Callable[[Image, np.random.Generator], Image]

RGB_SHIFT_LIMIT = 20.0
HUE_SHIFT_LIMIT, SAT_SHIFT_LIMIT, VAL_SHIFT_LIMIT = 20.0, 30.0, 20.0
BRIGHTNESS_LIMIT, CONTRAST_LIMIT = 0.2, 0.2
GAMMA_LIMIT = (80.0, 120.0)
BLUR_KERNEL_SIZES = (3, 5, 7)
CLAHE_CLIP_LIMIT = (1.0, 4.0)
CLAHE_TILES = (8, 8)
JPEG_QUALITY = (99, 100)
NOISE_VARIANCE = (10.0, 50.0)


def _lut(img: Image, table: np.ndarray) -> Image:
    """Apply a per-value table (clipped to [0, 255], truncated to uint8), per channel if 2-D."""
    table = np.clip(table, 0, 255).astype(np.uint8)
    if table.ndim == 1:
        return table[img]
    return np.stack([table[c][img[..., c]] for c in range(img.shape[-1])], -1)


def rgb_shift(img: Image, rng: np.random.Generator) -> Image:
    """Add one uniform shift in [-20, 20] per channel."""
    shifts = rng.uniform(-RGB_SHIFT_LIMIT, RGB_SHIFT_LIMIT, 3)
    return _lut(img, np.arange(256, dtype=np.float32)[None, :] + shifts[:, None])


def channel_dropout(img: Image, rng: np.random.Generator) -> Image:
    """Set one random channel to 0."""
    out = img.copy()
    out[..., rng.integers(3)] = 0
    return out


def equalize(img: Image, rng: np.random.Generator) -> Image:
    """Histogram equalisation of each channel (OpenCV)."""
    return np.stack([cv2.equalizeHist(np.ascontiguousarray(img[..., c])) for c in range(3)], -1)


def hue_saturation_value(img: Image, rng: np.random.Generator) -> Image:
    """Shift hue (OpenCV's 0..179 scale, cyclic) by [-20, 20], saturation by [-30, 30] and value by
    [-20, 20]."""
    hue, sat, val = (rng.uniform(-HUE_SHIFT_LIMIT, HUE_SHIFT_LIMIT),
                     rng.uniform(-SAT_SHIFT_LIMIT, SAT_SHIFT_LIMIT),
                     rng.uniform(-VAL_SHIFT_LIMIT, VAL_SHIFT_LIMIT))
    hsv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2HSV)
    values = np.arange(256, dtype=np.int16)
    hsv[..., 0] = np.mod(values + hue, 180.0).astype(np.uint8)[hsv[..., 0]]
    hsv[..., 1] = _lut(hsv[..., 1], values + sat)
    hsv[..., 2] = _lut(hsv[..., 2], values + val)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def channel_shuffle(img: Image, rng: np.random.Generator) -> Image:
    """Random permutation of the three channels."""
    return np.ascontiguousarray(img[..., rng.permutation(3)])


def brightness_contrast(img: Image, rng: np.random.Generator) -> Image:
    """`alpha · x + 255 · beta`, alpha in 1 ± 0.2, beta in ± 0.2."""
    alpha = 1.0 + rng.uniform(-CONTRAST_LIMIT, CONTRAST_LIMIT)
    beta = rng.uniform(-BRIGHTNESS_LIMIT, BRIGHTNESS_LIMIT)
    return _lut(img, np.arange(256, dtype=np.float32) * alpha + 255.0 * beta)


def gamma(img: Image, rng: np.random.Generator) -> Image:
    """`255 · (x / 255)^g`, g in [0.8, 1.2]."""
    g = rng.uniform(*GAMMA_LIMIT) / 100.0
    return _lut(img, np.power(np.arange(256) / 255.0, g) * 255.0)


def _kernel_size(rng: np.random.Generator) -> int:
    return int(rng.choice(BLUR_KERNEL_SIZES))


def motion_blur(img: Image, rng: np.random.Generator) -> Image:
    """Convolve with a normalised one-pixel line between two random points of a k×k kernel."""
    k = _kernel_size(rng)
    x0, x1 = (int(v) for v in rng.integers(0, k, 2))
    y0, y1 = ((int(v) for v in rng.choice(k, 2, replace=False)) if x0 == x1
              else (int(v) for v in rng.integers(0, k, 2)))
    kernel = np.zeros((k, k), dtype=np.uint8)
    cv2.line(kernel, (x0, y0), (x1, y1), 1, thickness=1)
    kernel = kernel.astype(np.float32) / kernel.sum()
    return cv2.filter2D(np.ascontiguousarray(img), -1, kernel)


def blur(img: Image, rng: np.random.Generator) -> Image:
    """Box filter of random odd size 3..7."""
    k = _kernel_size(rng)
    return cv2.blur(np.ascontiguousarray(img), (k, k))


def to_gray(img: Image, rng: np.random.Generator) -> Image:
    """Luma replicated to three channels."""
    gray = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def median_blur(img: Image, rng: np.random.Generator) -> Image:
    """Median filter of random odd size 3..7."""
    return cv2.medianBlur(np.ascontiguousarray(img), _kernel_size(rng))


def jpeg_compression(img: Image, rng: np.random.Generator) -> Image:
    """JPEG round trip at quality 99 or 100."""
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    bgr = np.ascontiguousarray(img[..., ::-1])
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed during augmentation")
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def gauss_noise(img: Image, rng: np.random.Generator) -> Image:
    """Per-pixel, per-channel Gaussian noise with a variance drawn from [10, 50] (uint8 units)."""
    sigma = np.sqrt(rng.uniform(*NOISE_VARIANCE))
    noisy = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def gaussian_blur(img: Image, rng: np.random.Generator) -> Image:
    """Gaussian filter of random odd size 3..7, sigma from the size (OpenCV's rule)."""
    k = _kernel_size(rng)
    return cv2.GaussianBlur(np.ascontiguousarray(img), (k, k), 0)


def clahe(img: Image, rng: np.random.Generator) -> Image:
    """Contrast-limited adaptive histogram equalisation of the L channel (LAB), clip limit in [1, 4]."""
    lab = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2LAB)
    equaliser = cv2.createCLAHE(clipLimit=float(rng.uniform(*CLAHE_CLIP_LIMIT)), tileGridSize=CLAHE_TILES)
    lab[..., 0] = equaliser.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


OPS: dict[str, AugmentOp] = {
    "rgb_shift": rgb_shift,
    "channel_dropout": channel_dropout,
    "equalize": equalize,
    "hue_saturation_value": hue_saturation_value,
    "channel_shuffle": channel_shuffle,
    "brightness_contrast": brightness_contrast,
    "gamma": gamma,
    "motion_blur": motion_blur,
    "blur": blur,
    "to_gray": to_gray,
    "median_blur": median_blur,
    "jpeg_compression": jpeg_compression,
    "gauss_noise": gauss_noise,
    "gaussian_blur": gaussian_blur,
    "clahe": clahe,
}
"""Operation names usable in the params file's `ops` list (albumentations: RGBShift, ChannelDropout,
Equalize, HueSaturationValue, ChannelShuffle, RandomBrightnessContrast, RandomGamma, MotionBlur, Blur,
ToGray, MedianBlur, ImageCompression, GaussNoise, GaussianBlur, CLAHE)."""


@dataclass(frozen=True)
class ColourPipeline:
    """`color_prob`: chance that a sample is augmented at all; `ops`: (name, probability) in order."""

    color_prob: float
    ops: tuple[tuple[str, float], ...]

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ColourPipeline:
        """From the params file's `augment` mapping; unknown keys or operation names raise."""
        unknown = sorted(set(d) - {"color_prob", "ops"})
        if unknown:
            raise KeyError(f"augment: unknown keys {unknown}; expected color_prob and ops")
        ops = []
        for item in d.get("ops", []):
            if len(item) != 2 or item[0] not in OPS or not 0.0 <= float(item[1]) <= 1.0:
                raise ValueError(f"augment.ops: expected [name, probability] with a name in {sorted(OPS)} "
                                 f"and a probability in [0, 1], got {item!r}")
            ops.append((str(item[0]), float(item[1])))
        color_prob = float(d.get("color_prob", 0.5))
        if not 0.0 <= color_prob <= 1.0:
            raise ValueError(f"augment.color_prob must lie in [0, 1], got {color_prob}")
        return ColourPipeline(color_prob=color_prob, ops=tuple(ops))

    def __call__(self, img: Image, rng: np.random.Generator) -> Image:
        """Run every operation with its own probability, in order, on `(H, W, 3)` uint8 RGB."""
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
        for name, prob in self.ops:
            if rng.random() < prob:
                img = OPS[name](img, rng)
        return img
