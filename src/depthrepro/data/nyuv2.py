"""NYUv2 video in SC-Depth's layout as GasMono trains on it, and the labelled test images.

Training samples are frame triplets [0, -1, +1] of `Training/<scene>/<frame:06d>.jpg` with monodepth2's
keys — `("color", f, s)`, `("color_aug", f, s)` (3, H/2^s, W/2^s), `("K", s)`, `("inv_K", s)` (4, 4) —
plus the coarse (structure-from-motion) relative poses `("coarse_pose", f)` (4, 4) for f in {-1, +1},
which map target-camera points into camera f.

- Images are resized with Lanczos to (H, W), each smaller scale from the previous one.
- Intrinsics come from the scene's `cam.txt`, normalised by the stored image size and scaled per
  pyramid level (GasMono hard-codes the rounded normalised NYUv2 values 0.81, 1.08, 0.51, 0.53).
- Coarse poses are read from `<cpose_root>/<scene>/<frame:04d>.npy`: a (2, 4, 4) array holding
  T_{(-1)←0} and T_{(+1)←0}. As in the official loader, every listed frame needs one: the lists are the
  frames the structure-from-motion step registered, and a missing file is an error (raised when the
  dataset is built).
- No flips (GasMono disables them). With probability `color_prob` a sample is colour-augmented, and
  then every frame and every scale gets its own independent draw of the operation chain
  (`depthrepro.data.gasmono_augment`). Draws come from a generator seeded by (seed, epoch, index).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from depthrepro.data.gasmono_augment import ColourPipeline
from depthrepro.data.kitti_raw import intrinsics_at, load_rgb, scale_pyramid, to_tensor
from depthrepro.io.nyuv2 import (TEST_FOLDER, NyuSplitEntry, cam_path, labelled_color_path, read_cam_txt,
                                 read_nyu_split, training_image_path)

FRAME_IDS = (0, -1, 1)
NUM_SCALES = 4
COARSE_POSE_SHAPE = (2, 4, 4)


def coarse_pose_path(cpose_root: Path, scene: str, frame: int) -> Path:
    """`<cpose_root>/<scene>/<frame:04d>.npy` (GasMono's `splits/nyu/cpose` layout)."""
    return Path(cpose_root) / scene / f"{frame:04d}.npy"


def read_coarse_poses(path: Path) -> dict[int, torch.Tensor]:
    """`{-1: T_(-1)←0, 1: T_(+1)←0}` as float32 (4, 4) tensors from one (2, 4, 4) `.npy` file."""
    poses = np.load(path, allow_pickle=False)
    if poses.shape != COARSE_POSE_SHAPE:
        raise ValueError(f"{path}: expected a coarse-pose array of shape {COARSE_POSE_SHAPE}, "
                         f"got {poses.shape}")
    if not np.isfinite(poses).all():
        raise ValueError(f"{path}: coarse poses contain non-finite values")
    poses = poses.astype(np.float32)
    return {-1: torch.from_numpy(poses[0]), 1: torch.from_numpy(poses[1])}


def normalised_intrinsics(K: np.ndarray, image_width: int, image_height: int) -> np.ndarray:
    """(2, 3) rows of a pixel K divided by the image width and height."""
    return np.stack([K[0] / image_width, K[1] / image_height])


class NyuTrainDataset(torch.utils.data.Dataset):
    """GasMono's training (or validation) samples over one split file; see the module docstring."""

    def __init__(self, root: Path, split_file: Path, cpose_root: Path, height: int, width: int, *,
                 is_train: bool, augment: dict[str, Any] | None, seed: int = 0,
                 image_ext: str = "jpg") -> None:
        if height % 32 or width % 32:
            raise ValueError(f"height {height} and width {width} must be multiples of 32")
        self.root, self.cpose_root = Path(root), Path(cpose_root)
        self.entries: list[NyuSplitEntry] = read_nyu_split(split_file)
        if not self.entries:
            raise ValueError(f"{split_file}: no samples")
        self.height, self.width, self.image_ext = height, width, image_ext
        self.is_train = is_train
        self.augment = ColourPipeline.from_dict(augment) if augment is not None else None
        self.seed, self.epoch = seed, 0
        missing = [coarse_pose_path(self.cpose_root, e.scene, e.frame) for e in self.entries
                   if not coarse_pose_path(self.cpose_root, e.scene, e.frame).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{split_file}: {len(missing)} of {len(self.entries)} frames have no coarse pose, e.g. "
                f"{[str(p) for p in missing[:3]]}; list only frames the pose step registered")
        self.intrinsics = {scene: read_cam_txt(cam_path(self.root, scene))
                           for scene in sorted({e.scene for e in self.entries})}

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (call before creating the epoch's iterator)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[Any, torch.Tensor]:
        entry = self.entries[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        augment = self.augment if (self.is_train and self.augment is not None
                                   and rng.random() < self.augment.color_prob) else None

        sample: dict[Any, torch.Tensor] = {}
        image_size = (0, 0)
        for f in FRAME_IDS:
            img = load_rgb(training_image_path(self.root, entry.scene, entry.frame + f, self.image_ext))
            if f == 0:
                image_size = img.size
            for s, level in enumerate(scale_pyramid(img, self.height, self.width, NUM_SCALES)):
                sample[("color", f, s)] = to_tensor(level)
                sample[("color_aug", f, s)] = (
                    to_tensor(Image.fromarray(augment(np.asarray(level), rng))) if augment
                    else sample[("color", f, s)])

        normalised = normalised_intrinsics(self.intrinsics[entry.scene], *image_size)
        for s in range(NUM_SCALES):
            K = intrinsics_at(normalised, self.height // 2**s, self.width // 2**s)
            sample[("K", s)] = torch.from_numpy(K)
            sample[("inv_K", s)] = torch.from_numpy(np.linalg.pinv(K).astype(np.float32))

        poses = read_coarse_poses(coarse_pose_path(self.cpose_root, entry.scene, entry.frame))
        for f, pose in poses.items():
            sample[("coarse_pose", f)] = pose
        return sample


class NyuTestSamples(torch.utils.data.Dataset):
    """The labelled test images of a `color <index:04d> l` list: `("color", 0, 0)` (3, H, W) in [0, 1],
    `Testing/color/<index:04d>.png` resized with Lanczos as GasMono's evaluation does."""

    def __init__(self, root: Path, split_file: Path, height: int, width: int) -> None:
        self.root, self.height, self.width = Path(root), height, width
        self.entries = read_nyu_split(split_file)
        wrong = [e for e in self.entries if e.scene != TEST_FOLDER]
        if wrong:
            raise ValueError(f"{split_file}: test lines must start with {TEST_FOLDER!r}, got "
                             f"{wrong[0].scene!r} (and {len(wrong) - 1} more)")

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[Any, torch.Tensor]:
        img = load_rgb(labelled_color_path(self.root, self.entries[index].frame))
        return {("color", 0, 0): to_tensor(img.resize((self.width, self.height), Image.LANCZOS))}
