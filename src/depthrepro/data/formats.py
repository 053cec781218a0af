"""Training and test datasets by a method's data format (`data.format` in its params file).

`kitti_raw`: monodepth2's KITTI raw loader (optionally with depth hints); `kitti_odometry`: the same
loader over monodepth2's `odom` split of KITTI odometry; `kitti_odometry_mr`: the MonoRec-layout odometry
branch of the dynamic multi-frame method; `nyuv2`: GasMono's SC-Depth-layout NYUv2 with COLMAP coarse poses;
`nyu_h5`: P2Net's NYUv2 test h5 files (test only; `data.window` cuts the image before the resize);
`euroc`: FeatDepth's EuRoC stereo loader over ASL-layout sequences (training only: no EuRoC depth evaluation
is defined), with the loader's constant pinhole from `data.intrinsics` instead of the dataset's intrinsics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthrepro.data.euroc import EurocDataset, normalised_intrinsics
from depthrepro.data.kitti_odometry import KittiOdometryDataset, KittiOdometryTestSamples, frame_path
from depthrepro.data.kitti_odometry_mr import KittiOdometryMR
from depthrepro.data.kitti_raw import AugmentConfig, KittiRawDataset, KittiTestSamples
from depthrepro.data.nyu_h5 import NyuH5TestSamples
from depthrepro.data.nyuv2 import NyuTestSamples, NyuTrainDataset
from depthrepro.io import kitti, kitti_odometry, nyuv2
from depthrepro.io.nyu_h5 import read_h5_list

FORMATS = ("kitti_raw", "kitti_odometry", "kitti_odometry_mr", "nyuv2", "nyu_h5", "euroc")


@dataclass(frozen=True)
class DataSources:
    """Where a run reads from: the image tree, the split file, and the auxiliary trees some formats need."""

    images: Path
    split_file: Path
    depth_hints: Path | None = None
    coarse_poses: Path | None = None


class EvenSubset(torch.utils.data.Dataset):
    """`count` samples spread evenly over a dataset (a smoke profile's `train_samples`); epochs pass through."""

    def __init__(self, dataset: torch.utils.data.Dataset, count: int) -> None:
        if count < 1:
            raise ValueError(f"train_samples must be positive, got {count}")
        self.dataset = dataset
        total = len(dataset)
        self.indices = sorted({int(i) for i in np.linspace(0, total - 1, min(count, total))})

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]


def check_format(data: Mapping[str, Any], where: str) -> str:
    """The params file's `data.format` (default `kitti_raw`), validated."""
    fmt = data.get("format", "kitti_raw")
    if fmt not in FORMATS:
        raise ValueError(f"{where}: data.format {fmt!r} is not one of {FORMATS}")
    return fmt


def _require(value: Any, what: str, fmt: str) -> Any:
    if value is None:
        raise ValueError(f"data format {fmt!r} with these params needs {what}; none was given")
    return value


def _testable_format(data: Mapping[str, Any], where: str) -> str:
    fmt = check_format(data, where)
    if fmt == "euroc":
        raise ValueError(f"{where}: data.format euroc has no test split (no EuRoC depth evaluation is defined)")
    return fmt


def training_dataset(data: Mapping[str, Any], sources: DataSources, height: int, width: int,
                     frame_ids: Sequence[Any], intrinsics: Any, seed: int,
                     where: str) -> torch.utils.data.Dataset:
    """The augmented training samples of a method's `data:` section."""
    fmt = check_format(data, where)
    if fmt == "nyu_h5":
        raise ValueError(f"{where}: data.format nyu_h5 holds test images only; it cannot train")
    augment = data.get("augment")
    if fmt == "kitti_odometry_mr":
        return KittiOdometryMR(sources.images, sources.split_file, height, width, is_train=True,
                               augment=augment, seed=seed)
    if fmt == "nyuv2":
        return NyuTrainDataset(sources.images, sources.split_file,
                               _require(sources.coarse_poses, "COLMAP coarse poses", fmt), height, width,
                               is_train=True, augment=augment, seed=seed)
    if fmt == "euroc":
        return EurocDataset(sources.images, kitti.read_split_file(sources.split_file), height, width,
                            list(frame_ids), normalised_intrinsics(data.get("intrinsics"), where), is_train=True,
                            augment=AugmentConfig.from_dict(augment or {}), seed=seed)
    K = np.asarray(_require(intrinsics, "the dataset's intrinsics", fmt))
    if fmt == "kitti_odometry":
        if data.get("depth_hints"):
            raise ValueError(f"{where}: data.depth_hints is not available for data.format kitti_odometry")
        return KittiOdometryDataset(sources.images, kitti_odometry.read_odom_split(sources.split_file), height,
                                    width, list(frame_ids), K, is_train=True, image_ext=data["image_ext"],
                                    augment=AugmentConfig.from_dict(augment or {}), seed=seed)
    hints = _require(sources.depth_hints, "a depth-hint tree", fmt) if data.get("depth_hints") else None
    return KittiRawDataset(sources.images, kitti.read_split_file(sources.split_file), height, width,
                           list(frame_ids), K, is_train=True, image_ext=data["image_ext"],
                           augment=AugmentConfig.from_dict(augment or {}), seed=seed, depth_hints_root=hints)


def test_dataset(data: Mapping[str, Any], images: Path, split_file: Path, height: int, width: int,
                 frames: Sequence[Any], intrinsics: Any, where: str) -> torch.utils.data.Dataset:
    """Un-augmented test samples with the frames a method's prediction needs."""
    fmt = _testable_format(data, where)
    if fmt == "kitti_odometry_mr":
        return KittiOdometryMR(images, split_file, height, width, is_train=False, augment=None)
    if fmt == "nyuv2":
        return NyuTestSamples(images, split_file, height, width)
    if fmt == "nyu_h5":
        return NyuH5TestSamples(images, split_file, height, width, data.get("window"))
    if fmt == "kitti_odometry":
        return KittiOdometryTestSamples(images, kitti_odometry.read_odom_split(split_file), height, width,
                                        np.asarray(_require(intrinsics, "the dataset's intrinsics", fmt)),
                                        list(frames), data["image_ext"])
    return KittiTestSamples(images, kitti.read_split_file(split_file), height, width,
                            np.asarray(_require(intrinsics, "the dataset's intrinsics", fmt)),
                            list(frames), data["image_ext"])


def test_image_paths(data: Mapping[str, Any], images: Path, split_file: Path, where: str) -> list[Path]:
    """The frame-t image of every test line, in split order (what figures show beside a prediction)."""
    fmt = _testable_format(data, where)
    if fmt == "kitti_odometry_mr":
        return [kitti_odometry.image_path(images, k.sequence, k.frame)
                for k in kitti_odometry.read_keyframes(split_file)]
    if fmt == "nyuv2":
        return [nyuv2.labelled_color_path(images, e.frame) for e in nyuv2.read_nyu_split(split_file)]
    if fmt == "nyu_h5":
        return [Path(images) / name for name in read_h5_list(split_file)]
    if fmt == "kitti_odometry":
        return [frame_path(images, e, 0, data["image_ext"]) for e in kitti_odometry.read_odom_split(split_file)]
    return [kitti.image_path(images, e.folder, e.frame, e.side, data["image_ext"])
            for e in kitti.read_split_file(split_file)]
