"""NYUv2 file formats in SC-Depth's pre-processed layout, as GasMono reads it.

Layout under a dataset root::

    Training/<scene>/%06d.jpg, cam.txt, poses.txt      training video frames, 3x3 K, camera-to-world poses
    Testing/color/%04d.png, Testing/depth/%04d.png     test images and 16-bit depth (metres * 5000)
    splits/nyu/train_files.txt, val_files.txt          ``<scene> <frame:04d> l``
    splits/nyu/test_files.txt                          ``color <index:04d> l``
    splits/nyu/gt_depths.npz                           key ``data``: (N, H, W) float32 metres, test order

Frames are named with 6 digits from 0 as GasMono's loader expects; whether SC-Depth's own files use
that naming is not documented. ``poses.txt`` has KITTI's pose format (one row-major 3x4
camera-to-world per line, see ``depthrepro.io.kitti_odometry.read_poses``).

Numpy and OpenCV only. Writers are atomic (temporary sibling, then ``os.replace``).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text
from depthrepro.io.depth_png import read_scaled_depth_png, write_scaled_depth_png
from depthrepro.io.split_lines import read_split_lines

DEPTH_PNG_SCALE = 5000.0
"""SC-Depth's NYU depth PNGs store ``round(depth_m * 5000)`` as uint16 (its loader divides by 5000);
0 marks a missing value. The largest storable depth is 13.107 m."""

TEST_FOLDER = "color"
"""First token of every test split line: the folder of the test images."""

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Fixed member timestamp, so that the same arrays always give the same ``.npz`` bytes."""


def training_image_path(root: Path, scene: str, frame: int, ext: str = "jpg") -> Path:
    """``root/Training/<scene>/<frame:06d>.<ext>``."""
    return Path(root) / "Training" / scene / f"{frame:06d}.{ext}"


def cam_path(root: Path, scene: str) -> Path:
    """``root/Training/<scene>/cam.txt``."""
    return Path(root) / "Training" / scene / "cam.txt"


def scene_poses_path(root: Path, scene: str) -> Path:
    """``root/Training/<scene>/poses.txt``."""
    return Path(root) / "Training" / scene / "poses.txt"


def labelled_color_path(root: Path, index: int) -> Path:
    """``root/Testing/color/<index:04d>.png``."""
    return Path(root) / "Testing" / "color" / f"{index:04d}.png"


def labelled_depth_path(root: Path, index: int) -> Path:
    """``root/Testing/depth/<index:04d>.png``."""
    return Path(root) / "Testing" / "depth" / f"{index:04d}.png"


def read_cam_txt(path: Path) -> np.ndarray:
    """Read a 3x3 intrinsics matrix (three rows of three numbers) as (3, 3) float64."""
    path = Path(path)
    try:
        values = np.array([float(token) for token in path.read_text().split()], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path}: expected 9 numbers (a 3x3 intrinsics matrix)") from None
    if values.size != 9:
        raise ValueError(f"{path}: expected 9 numbers (a 3x3 intrinsics matrix), got {values.size}")
    return values.reshape(3, 3)


def write_cam_txt(path: Path, K: np.ndarray) -> None:
    """Write (3, 3) intrinsics as three lines of three ``%.9e`` numbers."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"{path}: expected a (3, 3) intrinsics matrix, got shape {K.shape}")
    atomic_write_text(Path(path), "".join(" ".join(f"{v:.9e}" for v in row + 0.0) + "\n" for row in K))


def read_depth_png(path: Path) -> np.ndarray:
    """Read an NYU uint16 depth PNG as (H, W) float32 metres (value / 5000); 0 marks missing depth."""
    return read_scaled_depth_png(path, DEPTH_PNG_SCALE)


def write_depth_png(path: Path, depth: np.ndarray) -> None:
    """Write (H, W) depth in metres as uint16 ``round(d * 5000)``; non-finite or <= 0 gives 0.

    Raises ValueError for depth beyond 13.107 m, which the format cannot hold.
    """
    write_scaled_depth_png(path, depth, DEPTH_PNG_SCALE, clip=False)


@dataclass(frozen=True)
class NyuSplitEntry:
    """One split line: ``scene`` (``color`` for test lines), frame or test index, side (always ``l``)."""

    scene: str
    frame: int
    side: str = "l"

    def __post_init__(self) -> None:
        if self.side not in ("l", "r"):
            raise ValueError(f"split side must be 'l' or 'r', got {self.side!r}")


def read_nyu_split(path: Path) -> list[NyuSplitEntry]:
    """Read ``<scene> <frame> l`` lines (``kitchen_0045a 0009 l``); errors name the file and line."""
    return [NyuSplitEntry(scene, frame, side) for scene, frame, side in read_split_lines(path, "scene")]


def write_nyu_split(path: Path, entries: list[NyuSplitEntry]) -> None:
    """Write ``<scene> <frame:04d> <side>`` lines, the frame zero-padded to 4 digits as GasMono's lists."""
    atomic_write_text(Path(path), "".join(f"{e.scene} {e.frame:04d} {e.side}\n" for e in entries))


def write_gt_depths(path: Path, depths: np.ndarray) -> None:
    """Write (N, H, W) metres as a compressed ``.npz`` with key ``data`` (float32), byte-reproducibly."""
    depths = np.asarray(depths, dtype=np.float32)
    if depths.ndim != 3:
        raise ValueError(f"{path}: expected (N, H, W) depth maps, got shape {depths.shape}")
    array = io.BytesIO()
    np.lib.format.write_array(array, np.ascontiguousarray(depths), allow_pickle=False)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("data.npy", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, array.getvalue())
    atomic_write_bytes(Path(path), archive.getvalue())


def read_gt_depths(path: Path) -> np.ndarray:
    """Read the ``data`` array, (N, H, W) float32 metres, of a ground-truth ``.npz``."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as archive:
        if "data" not in archive:
            raise ValueError(f"{path}: no 'data' array; found {sorted(archive.files)}")
        data = archive["data"]
    if data.ndim != 3:
        raise ValueError(f"{path}: 'data' must be (N, H, W), got shape {data.shape}")
    return data.astype(np.float32)
