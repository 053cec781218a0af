"""P2Net's NYUv2 test set as HDF5 files, the layout EPCDepth's NYUv2 generalisation test reads.

Layout under a dataset root::

    nyu_test/<index:05d>.h5         one labelled test image: ``rgb`` (3, 480, 640) uint8, ``depth`` (480, 640)
                                    metres (0: no value); the real files also hold ``norm`` and ``mask``
    splits/nyu_h5/test_files.txt    one root-relative file per line, ``nyu_test/00001.h5`` (EPCDepth's
                                    ``nyuv2Testing/nyu_test.txt``), index = the NYUv2 labelled-set index

Only ``rgb`` and ``depth`` are read: EPCDepth scores depth only. Writers are atomic and byte-reproducible
(no timestamps in the file).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text

TEST_FOLDER = "nyu_test"
"""Folder of the h5 files under the dataset root (the first part of every list line)."""
IMAGE_SIZE = (480, 640)
"""(height, width) of NYUv2's Kinect colour images, the size of every map of the real files."""
_LINE = re.compile(rf"{TEST_FOLDER}/(\d{{5}})\.h5")


@dataclass(frozen=True)
class NyuH5Image:
    """One test image: ``rgb`` (H, W, 3) uint8 and ``depth`` (H, W) float32 metres."""

    rgb: np.ndarray
    depth: np.ndarray


def h5_relative_path(index: int) -> str:
    """``nyu_test/<index:05d>.h5``, the list-file line of labelled image ``index``."""
    if index < 0:
        raise ValueError(f"test index must be non-negative, got {index}")
    return f"{TEST_FOLDER}/{index:05d}.h5"


def read_h5_list(path: Path) -> list[str]:
    """The root-relative h5 files of a list (``nyu_test/00001.h5`` lines); errors name the file and line."""
    path = Path(path)
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if not _LINE.fullmatch(text):
            raise ValueError(f"{path}:{number}: expected '{TEST_FOLDER}/<index:05d>.h5', got {line!r}")
        lines.append(text)
    return lines


def write_h5_list(path: Path, indices: list[int]) -> None:
    """Write one ``nyu_test/<index:05d>.h5`` line per test index."""
    atomic_write_text(Path(path), "".join(h5_relative_path(i) + "\n" for i in indices))


def read_nyu_h5(path: Path) -> NyuH5Image:
    """Read ``rgb`` (stored channels first) as (H, W, 3) uint8 and ``depth`` as (H, W) float32 metres."""
    path = Path(path)
    with h5py.File(path, "r") as handle:
        missing = [key for key in ("rgb", "depth") if key not in handle]
        if missing:
            raise ValueError(f"{path}: missing dataset(s) {missing}; found {sorted(handle)}")
        rgb, depth = np.asarray(handle["rgb"]), np.asarray(handle["depth"])
    if rgb.ndim != 3 or rgb.shape[0] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{path}: 'rgb' must be (3, H, W) uint8, got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[1:]:
        raise ValueError(f"{path}: 'depth' {depth.shape} does not match the image size {rgb.shape[1:]}")
    return NyuH5Image(np.ascontiguousarray(rgb.transpose(1, 2, 0)), depth.astype(np.float32))


def read_nyu_h5_depth(path: Path) -> np.ndarray:
    """The ``depth`` map (H, W) float32 metres of one h5 file."""
    return read_nyu_h5(path).depth


def write_nyu_h5(path: Path, rgb: np.ndarray, depth: np.ndarray) -> None:
    """Write (H, W, 3) uint8 ``rgb`` (stored channels first) and (H, W) ``depth`` in metres (float32;
    non-finite or negative values become 0), gzip-compressed."""
    rgb, depth = np.asarray(rgb), np.asarray(depth, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{path}: rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[:2]:
        raise ValueError(f"{path}: depth {depth.shape} does not match the image size {rgb.shape[:2]}")
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_dataset("rgb", data=rgb.transpose(2, 0, 1), compression="gzip", compression_opts=4)
        handle.create_dataset("depth", data=depth, compression="gzip", compression_opts=4)
    atomic_write_bytes(Path(path), buffer.getvalue())
