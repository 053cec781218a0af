"""KITTI odometry as MonoRec's loader reads it, for the dynamic multi-frame method (Li et al., CVPR 2023).

Keyframes come from a MonoRec-style split file (`<SS> <frame>` lines: frames 5 .. N−6 of each sequence,
those with annotated depth); each sample holds keyframe k and its source frames k−1 and k+1 of camera 2.
Images are centre-cropped to the aspect of the output size using the full height, resized bilinearly
(PIL) and shifted to [-0.5, 0.5]; the intrinsics follow the crop and resize. Poses are the DVSO
camera-to-world poses (`poses_dvso/<SS>.txt`). The target is the annotated depth as sparse inverse
depth: every valid pixel inside the crop moves to its rounded output position (`centre_crop_sparse`),
0 where there is none. Moving-object masks are read as stored (256×512, the crop at the reference
resolution) and resized nearest for other 1:2 output sizes.

Sample keys (the official model's data-dict names; the two source frames are stacked so that default
collation and device moves apply):

    keyframe             (3, H, W)     float32 in [-0.5, 0.5]
    keyframe_pose        (4, 4)        camera-to-world
    keyframe_intrinsics  (4, 4)        pixel intrinsics at H×W
    frames               (2, 3, H, W)  frames k−1, k+1
    poses                (2, 4, 4)
    intrinsics           (2, 4, 4)
    target               (1, H, W)     inverse depth in 1/m, 0 = no GT
    mvobj_mask           (1, H, W)     1 on moving objects

Training colour jitter draws one set of factors per sample (applied to all three frames) from a generator
seeded by (seed, epoch, index): a sample is the same whatever the number of loader workers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from depthrepro.data.augment import ColorJitter, JitterConfig
from depthrepro.data.kitti_raw import load_rgb, to_tensor
from depthrepro.io.kitti_odometry import centre_crop_sparse
from depthrepro.io.kitti import read_depth_png
from depthrepro.io.kitti_odometry import (
    MASK_SIZE,
    Keyframe,
    annotated_depth_path,
    centre_crop_box,
    cropped_intrinsics,
    dvso_poses_path,
    image_path,
    load_odometry_sequence,
    mvobj_mask_path,
    read_keyframes,
    read_mvobj_mask,
)

SOURCE_OFFSETS = (-1, 1)
CAMERA = 2
JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class _SequenceGeometry:
    """What every sample of one sequence shares: crop box, output intrinsics, DVSO poses, length."""

    crop_box: tuple[int, int, int, int]
    intrinsics: torch.Tensor   # (4, 4)
    poses: torch.Tensor        # (N, 4, 4) float32
    frames: int


def jitter_config(augment: dict[str, Any], where: str) -> JitterConfig:
    """Colour-jitter ranges from an `augment` mapping of the params file; unknown keys raise."""
    unknown = sorted(set(augment) - set(JITTER_KEYS))
    if unknown:
        raise KeyError(f"{where}: unknown augment keys {unknown}; expected a subset of {list(JITTER_KEYS)}")
    return JitterConfig(**augment)


def sparse_inverse_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """`(H0, W0)` depth in metres (0 = none) -> `(height, width)` float32 sparse inverse depth of the
    centre crop (computed in float64, as the reference does from the PNG values)."""
    sparse = centre_crop_sparse(depth.astype(np.float64), (height, width))
    inverse = np.zeros_like(sparse)
    valid = sparse > 0
    inverse[valid] = 1.0 / sparse[valid]
    return inverse.astype(np.float32)


class KittiOdometryMR(torch.utils.data.Dataset):
    """Keyframes of a MonoRec-style split of a KITTI-odometry-format tree (real or synthetic).

    `augment`: colour-jitter ranges (`brightness`, `contrast`, `saturation`, `hue`), applied to every
    sample when `is_train` (the reference jitters all training samples); None for none.
    """

    def __init__(self, root: Path, split_file: Path, height: int, width: int, *, is_train: bool,
                 augment: dict | None, seed: int = 0) -> None:
        self.root, self.height, self.width = Path(root), height, width
        if (height, width) != MASK_SIZE and 2 * height != width:
            raise ValueError(f"output size {height}x{width}: moving-object masks are defined on the 1:2 crop "
                             f"({MASK_SIZE[0]}x{MASK_SIZE[1]}), so width must be twice the height")
        self.keyframes: list[Keyframe] = read_keyframes(Path(split_file))
        if not self.keyframes:
            raise ValueError(f"{split_file}: no keyframes")
        self.jitter = jitter_config(augment, f"{split_file} augment") if is_train and augment else None
        self.seed, self.epoch = seed, 0
        self.sequences = {s: self._geometry(s) for s in sorted({k.sequence for k in self.keyframes})}
        for keyframe in self.keyframes:
            frames = self.sequences[keyframe.sequence].frames
            if not 1 <= keyframe.frame < frames - 1:
                raise ValueError(f"{split_file}: keyframe {keyframe.sequence:02d} {keyframe.frame} needs frames "
                                 f"{keyframe.frame - 1} and {keyframe.frame + 1}, but the sequence has {frames}")

    def _geometry(self, sequence: int) -> _SequenceGeometry:
        loaded = load_odometry_sequence(self.root, sequence)
        if loaded.dvso_poses is None:
            raise FileNotFoundError(f"{dvso_poses_path(self.root, sequence)}: DVSO poses not found")
        with Image.open(image_path(self.root, sequence, 0, CAMERA)) as first:
            full_width, full_height = first.size
        K = np.eye(4, dtype=np.float32)
        K[:3, :3] = cropped_intrinsics(loaded.calib.K(CAMERA), full_width, full_height, (self.height, self.width))
        return _SequenceGeometry(crop_box=centre_crop_box(full_width, full_height, (self.height, self.width)),
                                 intrinsics=torch.from_numpy(K),
                                 poses=torch.from_numpy(loaded.dvso_poses.astype(np.float32)),
                                 frames=loaded.frames)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (call before creating the epoch's iterator)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.keyframes)

    def _image(self, sequence: int, frame: int, jitter: ColorJitter | None) -> torch.Tensor:
        """Cropped, resized image `(3, H, W)` in [-0.5, 0.5]."""
        box = self.sequences[sequence].crop_box
        img = load_rgb(image_path(self.root, sequence, frame, CAMERA)).crop(box)
        tensor = to_tensor(img.resize((self.width, self.height), Image.BILINEAR))
        return (jitter(tensor) if jitter else tensor) - 0.5

    def _mask(self, sequence: int, frame: int) -> torch.Tensor:
        mask = torch.from_numpy(read_mvobj_mask(mvobj_mask_path(self.root, sequence, frame))).view(1, 1, *MASK_SIZE)
        if (self.height, self.width) != MASK_SIZE:
            mask = F.interpolate(mask, size=(self.height, self.width), mode="nearest")
        return mask[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        keyframe = self.keyframes[index]
        seq, frame = keyframe.sequence, keyframe.frame
        geometry = self.sequences[seq]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        jitter = ColorJitter.sample(self.jitter, rng) if self.jitter else None
        depth = read_depth_png(annotated_depth_path(self.root, seq, frame))
        target = sparse_inverse_depth(depth, self.height, self.width)
        return {
            "keyframe": self._image(seq, frame, jitter),
            "keyframe_pose": geometry.poses[frame].clone(),
            "keyframe_intrinsics": geometry.intrinsics,
            "frames": torch.stack([self._image(seq, frame + o, jitter) for o in SOURCE_OFFSETS]),
            "poses": torch.stack([geometry.poses[frame + o] for o in SOURCE_OFFSETS]),
            "intrinsics": geometry.intrinsics.expand(len(SOURCE_OFFSETS), 4, 4).clone(),
            "target": torch.from_numpy(target).unsqueeze(0),
            "mvobj_mask": self._mask(seq, frame),
        }


class KittiOdometryMRTestSamples(KittiOdometryMR):
    """The test keyframes of a split, without augmentation (same sample keys)."""

    def __init__(self, root: Path, split_file: Path, height: int, width: int) -> None:
        super().__init__(root, split_file, height, width, is_train=False, augment=None)
