"""KITTI odometry in monodepth2's `odom` split layout (its `KITTIOdomDataset`), for training and pose tests.

Split lines are `<seq> <frame> l|r` (`8 1430 r`); images are `sequences/<SS>/image_2|image_3/<frame:06d>.<ext>`
(`l` → camera 2, `r` → camera 3). Everything else is the KITTI raw loader's: the same sample keys, scale
pyramid, augmentation streams and stereo transform (`depthrepro.data.kitti_raw`). As in monodepth2 (and
FeatDepth, which inherits the class), the intrinsics are the dataset's KITTI-normalised matrix shared by
all frames, not the per-sequence `calib.txt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from depthrepro.data.kitti_raw import OTHER_SIDE, AugmentConfig, FrameId, KittiRawDataset, KittiTestSamples
from depthrepro.io.kitti_odometry import SIDE_TO_IMAGE_FOLDER, OdomSplitEntry, sequence_dir

NUM_SCALES = 4


def odom_image_path(root: Path, sequence: int, frame: int, side: str, ext: str) -> Path:
    """`root/sequences/<SS>/image_2|image_3/<frame:06d>.<ext>` of split side `l` or `r`."""
    if side not in SIDE_TO_IMAGE_FOLDER:
        raise ValueError(f"side must be one of {sorted(SIDE_TO_IMAGE_FOLDER)}, got {side!r}")
    return sequence_dir(root, sequence) / SIDE_TO_IMAGE_FOLDER[side] / f"{frame:06d}.{ext}"


def frame_path(root: Path, entry: OdomSplitEntry, frame_id: FrameId, ext: str) -> Path:
    """The image of `frame_id` (an offset, or "s" for the other camera) around a split line."""
    if frame_id == "s":
        return odom_image_path(root, entry.sequence, entry.frame, OTHER_SIDE[entry.side], ext)
    return odom_image_path(root, entry.sequence, entry.frame + int(frame_id), entry.side, ext)


class KittiOdometryDataset(KittiRawDataset):
    """Training samples of `odom` split lines: the KITTI raw samples (keys, scales, augmentation, stereo
    transform, `side`), read from the odometry tree."""

    def __init__(self, root: Path, entries: Sequence[OdomSplitEntry], height: int, width: int,
                 frame_ids: Sequence[FrameId], intrinsics: np.ndarray, *, is_train: bool = False,
                 image_ext: str = "png", augment: AugmentConfig | None = None, seed: int = 0) -> None:
        super().__init__(root, list(entries), height, width, list(frame_ids), intrinsics, num_scales=NUM_SCALES,
                         is_train=is_train, image_ext=image_ext, augment=augment, seed=seed)

    def _frame_path(self, entry: OdomSplitEntry, frame_id: FrameId) -> Path:  # type: ignore[override]
        return frame_path(self.root, entry, frame_id, self.image_ext)


class KittiOdometryTestSamples(KittiTestSamples):
    """Un-augmented test samples of `odom` split lines, as `KittiTestSamples` gives them for KITTI raw
    (Lanczos-resized colour of every frame id, a lookup frame outside the sequence all zeros, `K`/`inv_K`);
    `missing_frames` lists the absent images so that a caller needing every frame (pose pairs) can refuse."""

    def __init__(self, root: Path, entries: Sequence[OdomSplitEntry], height: int, width: int,
                 intrinsics: np.ndarray, frame_ids: Sequence[FrameId] = (0,), image_ext: str = "png") -> None:
        super().__init__(root, list(entries), height, width, intrinsics, list(frame_ids), image_ext)

    def _frame_path(self, entry: OdomSplitEntry, f: FrameId) -> Path:
        return frame_path(self.root, entry, f, self.image_ext)

    def missing_frames(self) -> list[Path]:
        """Images of the requested frames that do not exist, in line order."""
        return [path for entry in self.entries for f in self.frame_ids
                if not (path := self._frame_path(entry, f)).is_file()]
