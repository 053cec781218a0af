"""KITTI raw as monodepth2 reads it: frame triplets and stereo pairs at 4 scales, with intrinsics.

Samples are dicts with monodepth2's keys — `("color", f, s)`, `("color_aug", f, s)` (3, H/2^s, W/2^s),
`("K", s)`, `("inv_K", s)` (4, 4) and `"stereo_T"` (4, 4) — so the methods' losses read them unchanged,
plus `"side"` (0 = left, 1 = right camera, before any flip) and, with a hint tree, `"depth_hint"` (1, H, W).
Augmentation draws from a generator seeded by (seed, epoch, index): a sample is the same whatever the
number of loader workers, and resuming an epoch replays it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from depthrepro.data.augment import ColorJitter, JitterConfig
from depthrepro.io.kitti import SplitEntry, depth_hint_path, image_path

FrameId = int | str
OTHER_SIDE = {"l": "r", "r": "l"}
# monodepth2 trains with a unit-less stereo baseline of 0.1; evaluation rescales by 0.54 / 0.1 = 5.4.
TRAIN_STEREO_BASELINE = 0.1


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation probabilities and colour-jitter ranges."""

    flip_prob: float = 0.5
    color_prob: float = 0.5
    jitter: JitterConfig = field(default_factory=JitterConfig)
    per_frame_jitter: bool = False
    """False: one jitter per sample for all frames and scales (monodepth2); True: an independent draw for
    every frame and scale (a ColorJitter object applied per image, as DualRefine's loader does)."""

    @staticmethod
    def from_dict(d: dict) -> AugmentConfig:
        jitter = JitterConfig(**{k: d[k] for k in ("brightness", "contrast", "saturation", "hue") if k in d})
        return AugmentConfig(flip_prob=d.get("flip_prob", 0.5), color_prob=d.get("color_prob", 0.5),
                             jitter=jitter, per_frame_jitter=bool(d.get("per_frame_jitter", False)))


def load_rgb(path: Path) -> Image.Image:
    """An RGB PIL image, with an error naming the file when it is missing or unreadable."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image not found") from None
    except OSError as err:
        raise OSError(f"{path}: cannot decode image ({err})") from None


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB → (3, H, W) float32 in [0, 1]."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def scale_pyramid(img: Image.Image, height: int, width: int, num_scales: int) -> list[Image.Image]:
    """monodepth2's pyramid: full image → (H, W) → each next scale from the previous, Lanczos."""
    levels = [img.resize((width, height), Image.LANCZOS)]
    for s in range(1, num_scales):
        levels.append(levels[-1].resize((width // 2**s, height // 2**s), Image.LANCZOS))
    return levels


def intrinsics_at(normalised: np.ndarray, height: int, width: int) -> np.ndarray:
    """4×4 pixel intrinsics from KITTI-normalised (2, 3) rows, for an image of (height, width)."""
    K = np.eye(4, dtype=np.float32)
    K[0, :3] = np.asarray(normalised[0], dtype=np.float32) * width
    K[1, :3] = np.asarray(normalised[1], dtype=np.float32) * height
    return K


class KittiRawDataset(torch.utils.data.Dataset):
    """Split entries of a KITTI-raw-format tree (real or synthetic) as monodepth2 training samples."""

    def __init__(self, root: Path, entries: list[SplitEntry], height: int, width: int,
                 frame_ids: list[FrameId], intrinsics: np.ndarray, *, num_scales: int = 4,
                 is_train: bool = False, image_ext: str = "jpg", augment: AugmentConfig | None = None,
                 seed: int = 0, depth_hints_root: Path | None = None) -> None:
        if height % 32 or width % 32:
            raise ValueError(f"height {height} and width {width} must be multiples of 32")
        self.root, self.entries = Path(root), list(entries)
        self.height, self.width, self.num_scales = height, width, num_scales
        self.frame_ids = list(frame_ids)
        self.intrinsics = np.asarray(intrinsics, dtype=np.float32)
        self.is_train, self.image_ext = is_train, image_ext
        self.augment = augment or AugmentConfig()
        self.seed, self.epoch = seed, 0
        self.depth_hints_root = depth_hints_root

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (call before creating the epoch's iterator)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def _frame_path(self, entry: SplitEntry, frame_id: FrameId) -> Path:
        if frame_id == "s":
            return image_path(self.root, entry.folder, entry.frame, OTHER_SIDE[entry.side], self.image_ext)
        return image_path(self.root, entry.folder, entry.frame + int(frame_id), entry.side, self.image_ext)

    def __getitem__(self, index: int) -> dict:
        entry = self.entries[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        do_color = self.is_train and rng.random() < self.augment.color_prob
        do_flip = self.is_train and rng.random() < self.augment.flip_prob
        per_image = self.augment.per_frame_jitter
        jitter = ColorJitter.sample(self.augment.jitter, rng) if do_color and not per_image else None

        sample: dict = {"side": torch.tensor(0 if entry.side == "l" else 1)}
        for f in self.frame_ids:
            img = load_rgb(self._frame_path(entry, f))
            if do_flip:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            for s, level in enumerate(scale_pyramid(img, self.height, self.width, self.num_scales)):
                t = to_tensor(level)
                sample[("color", f, s)] = t
                if do_color and per_image:
                    sample[("color_aug", f, s)] = ColorJitter.sample(self.augment.jitter, rng)(t)
                else:
                    sample[("color_aug", f, s)] = jitter(t) if jitter else t
        if self.depth_hints_root is not None:
            sample["depth_hint"] = self._depth_hint(entry, do_flip)

        for s in range(self.num_scales):
            K = intrinsics_at(self.intrinsics, self.height // 2**s, self.width // 2**s)
            sample[("K", s)] = torch.from_numpy(K)
            sample[("inv_K", s)] = torch.from_numpy(np.linalg.pinv(K).astype(np.float32))

        if "s" in self.frame_ids:
            stereo_T = np.eye(4, dtype=np.float32)
            baseline_sign = -1.0 if do_flip else 1.0
            side_sign = -1.0 if entry.side == "l" else 1.0
            stereo_T[0, 3] = side_sign * baseline_sign * TRAIN_STEREO_BASELINE
            sample["stereo_T"] = torch.from_numpy(stereo_T)
        return sample


    def _depth_hint(self, entry: SplitEntry, flip: bool) -> torch.Tensor:
        """The precomputed hint `(1, H, W)`, flipped with the image and nearest-resized (EPCDepth's loader)."""
        path = depth_hint_path(self.depth_hints_root, entry.folder, entry.frame, entry.side)
        try:
            hint = np.load(path)
        except (OSError, ValueError) as err:
            raise OSError(f"{path}: cannot read depth hint ({err})") from None
        if hint.ndim != 3 or hint.shape[0] != 1:
            raise ValueError(f"{path}: expected a (1, H, W) depth hint, got shape {hint.shape}")
        t = torch.from_numpy(np.ascontiguousarray(hint, dtype=np.float32))
        if flip:
            t = t.flip(-1)
        return F.interpolate(t[None], size=(self.height, self.width), mode="nearest")[0]


class KittiTestSamples(torch.utils.data.Dataset):
    """Test-split samples as monodepth2-style evaluations load them: `("color", f, 0)` (3, H, W) in [0, 1]
    for each frame id in `frame_ids` (a lookup frame missing from the drive is all zeros, as ManyDepth's
    evaluation does), and `("K", s)`, `("inv_K", s)` (4, 4) for s in 0..3."""

    def __init__(self, root: Path, entries: list[SplitEntry], height: int, width: int,
                 intrinsics: np.ndarray, frame_ids: list[FrameId] = (0,), image_ext: str = "jpg") -> None:
        self.root, self.entries = Path(root), list(entries)
        self.height, self.width, self.image_ext = height, width, image_ext
        self.intrinsics = np.asarray(intrinsics, dtype=np.float32)
        self.frame_ids = list(frame_ids)

    def __len__(self) -> int:
        return len(self.entries)

    def _frame_path(self, e: SplitEntry, f: FrameId) -> Path:
        return image_path(self.root, e.folder, e.frame + int(f), e.side, self.image_ext)

    def __getitem__(self, index: int) -> dict:
        e = self.entries[index]
        sample: dict = {}
        for f in self.frame_ids:
            path = self._frame_path(e, f)
            if f != 0 and not path.is_file():
                sample[("color", f, 0)] = torch.zeros(3, self.height, self.width)
                continue
            sample[("color", f, 0)] = to_tensor(load_rgb(path).resize((self.width, self.height), Image.LANCZOS))
        for s in range(4):
            K = intrinsics_at(self.intrinsics, self.height // 2**s, self.width // 2**s)
            sample[("K", s)] = torch.from_numpy(K)
            sample[("inv_K", s)] = torch.from_numpy(np.linalg.pinv(K).astype(np.float32))
        return sample
