"""KITTI raw file formats: calibration text, Velodyne scans, OXTS records, split lists, depth PNGs, paths.

Everything here is numpy only. Writers are atomic: they write a temporary file next to the target
and move it into place with ``os.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text
from depthrepro.io.depth_png import read_scaled_depth_png, write_scaled_depth_png
from depthrepro.io.split_lines import read_split_lines

OXTS_FIELDS: tuple[str, ...] = (
    "lat", "lon", "alt", "roll", "pitch", "yaw",
    "vn", "ve", "vf", "vl", "vu",
    "ax", "ay", "az", "af", "al", "au",
    "wx", "wy", "wz", "wf", "wl", "wu",
    "posacc", "velacc", "navstat", "numsats", "posmode", "velmode", "orimode",
)
"""The 30 values of one OXTS record, in file order."""

SIDE_TO_CAMERA: dict[str, str] = {"l": "image_02", "r": "image_03"}
"""Split-file side letter to KITTI raw colour camera folder."""

DEPTH_PNG_SCALE = 256.0
"""KITTI depth PNGs store ``round(depth_m * 256)`` as uint16; 0 marks a missing value."""


def _parse_floats(text: str) -> np.ndarray | None:
    """Parse whitespace-separated floats; None when any token is not a number."""
    try:
        return np.array([float(token) for token in text.split()], dtype=np.float64)
    except ValueError:
        return None


def read_calib_file(path: Path) -> dict[str, np.ndarray]:
    """Read a KITTI ``key: v1 v2 ...`` calibration file into ``{key: (N,) float64}``.

    Entries whose values are not all numbers (e.g. ``calib_time``) are skipped; blank lines are ignored.
    Raises ValueError naming the file and line for a line without ``key:``.
    """
    path = Path(path)
    entries: dict[str, np.ndarray] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise ValueError(f"{path}:{number}: expected 'key: values', got {line!r}")
        values = _parse_floats(rest)
        if values is None or values.size == 0:
            continue
        entries[key] = values
    return entries


def _format_calib_value(value: np.ndarray | str) -> str:
    """KITTI writes every number as ``%.6e``; strings (e.g. a date) go through unchanged."""
    if isinstance(value, str):
        return value
    flat = np.asarray(value, dtype=np.float64).reshape(-1) + 0.0
    return " ".join(f"{v:.6e}" for v in flat)


def write_calib_file(path: Path, entries: dict[str, np.ndarray | str]) -> None:
    """Write a KITTI calibration file, one ``key: values`` line per entry, in the dict's order.

    Arrays of any shape are flattened row-major, as KITTI stores matrices.
    """
    lines = []
    for key, value in entries.items():
        if not key or ":" in key or any(c.isspace() for c in key):
            raise ValueError(f"{path}: calibration key {key!r} must be non-empty without ':' or spaces")
        lines.append(f"{key}: {_format_calib_value(value)}")
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def read_velodyne(path: Path) -> np.ndarray:
    """Read a Velodyne ``.bin`` scan as ``(N, 4)`` float32 ``x, y, z, reflectance`` (LiDAR frame, metres)."""
    path = Path(path)
    size = path.stat().st_size
    if size % 16 != 0:
        raise ValueError(
            f"{path}: size {size} bytes is not a multiple of 16 (4 float32 per point); file truncated?"
        )
    return np.fromfile(path, dtype="<f4").reshape(-1, 4)


def write_velodyne(path: Path, points: np.ndarray) -> None:
    """Write ``(N, 4)`` points (x, y, z, reflectance) as little-endian float32 ``.bin``."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 4:
        raise ValueError(f"{path}: expected points of shape (N, 4), got {points.shape}")
    atomic_write_bytes(Path(path), np.ascontiguousarray(points, dtype="<f4").tobytes())


def read_oxts(path: Path) -> np.ndarray:
    """Read one OXTS record (a single line of 30 numbers, order ``OXTS_FIELDS``) as ``(30,)`` float64."""
    path = Path(path)
    text = path.read_text().strip()
    values = _parse_floats(text)
    if values is None or values.size != len(OXTS_FIELDS) or "\n" in text:
        raise ValueError(f"{path}: expected one line of {len(OXTS_FIELDS)} numbers ({' '.join(OXTS_FIELDS)})")
    return values


def _format_oxts_value(value: float) -> str:
    """Shortest text that reads back to the same float; integral values without a decimal point."""
    if np.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def write_oxts(path: Path, values: np.ndarray) -> None:
    """Write one OXTS record of 30 values, exactly recoverable; integral values (status fields) as integers."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size != len(OXTS_FIELDS):
        raise ValueError(f"{path}: expected {len(OXTS_FIELDS)} OXTS values, got {values.size}")
    atomic_write_text(Path(path), " ".join(_format_oxts_value(float(v)) for v in values) + "\n")


@dataclass(frozen=True)
class SplitEntry:
    """One line of a monodepth2-style split file: drive folder, frame index, camera side ``l``/``r``."""

    folder: str
    frame: int
    side: str

    def __post_init__(self) -> None:
        if self.side not in SIDE_TO_CAMERA:
            raise ValueError(f"split side must be one of {sorted(SIDE_TO_CAMERA)}, got {self.side!r}")


def read_split_file(path: Path) -> list[SplitEntry]:
    """Read ``<folder> <frame> l|r`` lines (blank lines ignored); errors name the file and line."""
    return [SplitEntry(folder, frame, side) for folder, frame, side in read_split_lines(path, "folder")]


def write_split_file(path: Path, entries: list[SplitEntry]) -> None:
    """Write split entries as ``<folder> <frame> <side>`` lines."""
    atomic_write_text(Path(path), "".join(f"{e.folder} {e.frame} {e.side}\n" for e in entries))


def read_depth_png(path: Path) -> np.ndarray:
    """Read a KITTI uint16 depth PNG as ``(H, W)`` float32 metres; 0 marks missing depth."""
    return read_scaled_depth_png(path, DEPTH_PNG_SCALE)


def write_depth_png(path: Path, depth: np.ndarray) -> None:
    """Write ``(H, W)`` depth in metres as KITTI uint16 PNG (``round(d*256)``, clipped); non-finite or <= 0 → 0."""
    write_scaled_depth_png(path, depth, DEPTH_PNG_SCALE, clip=True)


def _camera_folder(side: str) -> str:
    if side not in SIDE_TO_CAMERA:
        raise ValueError(f"side must be one of {sorted(SIDE_TO_CAMERA)}, got {side!r}")
    return SIDE_TO_CAMERA[side]


def image_path(root: Path, folder: str, frame: int, side: str, ext: str) -> Path:
    """``root/folder/image_02|03/data/{frame:010d}.{ext}`` (side ``l`` → image_02, ``r`` → image_03)."""
    return Path(root) / folder / _camera_folder(side) / "data" / f"{frame:010d}.{ext}"


def depth_hint_path(root: Path, folder: str, frame: int, side: str) -> Path:
    """``root/folder/image_02|03/{frame:010d}.npy``: a ``(1, H, W)`` depth hint, as depth-hints and EPCDepth store them."""
    return Path(root) / folder / _camera_folder(side) / f"{frame:010d}.npy"


def velodyne_path(root: Path, folder: str, frame: int) -> Path:
    """``root/folder/velodyne_points/data/{frame:010d}.bin``."""
    return Path(root) / folder / "velodyne_points" / "data" / f"{frame:010d}.bin"


def oxts_path(root: Path, folder: str, frame: int) -> Path:
    """``root/folder/oxts/data/{frame:010d}.txt``."""
    return Path(root) / folder / "oxts" / "data" / f"{frame:010d}.txt"


def annotated_depth_path(root: Path, folder: str, frame: int, side: str) -> Path:
    """``root/folder/proj_depth/groundtruth/image_02|03/{frame:010d}.png`` (KITTI annotated depth layout)."""
    return Path(root) / folder / "proj_depth" / "groundtruth" / _camera_folder(side) / f"{frame:010d}.png"


def calib_dir(root: Path, folder: str) -> Path:
    """The date folder holding ``calib_*.txt``: ``root / folder.split('/')[0]``."""
    return Path(root) / folder.split("/")[0]
