"""EuRoC MAV stereo images in the ASL dataset format, the layout FeatDepth's EuRoC loader reads.

An ASL archive (e.g. ``MH_02_easy.zip``) unpacks to a ``mav0`` folder; a sequence folder (``<root>/MH_02_easy/mav0``)
holds, per camera (``cam0`` left, ``cam1`` right)::

    cam0/data/<timestamp_ns>.png   8-bit grayscale frame, named by its 19-digit timestamp in nanoseconds
    cam0/data.csv                  ``#timestamp [ns],filename`` header, then ``<timestamp>,<timestamp>.png``
    cam0/sensor.yaml               rate_hz, resolution [width, height], camera_model, intrinsics
                                   [fu, fv, cu, cv], distortion_model, distortion_coefficients, T_BS
    cam1/...                       the right camera, with the same timestamps

Frames are numbered by their position in the sorted listing of ``cam0/data`` (names of equal length, so name
order is time order), as FeatDepth's loader numbers them; ``cam1/data`` holds the same file names. Split files
use KITTI's line format (``depthrepro.io.kitti``): ``<sequence folder> <frame> l|r``, e.g.
``MH_02_easy/mav0 17 l``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from depthrepro.io.atomic import atomic_write_text
from depthrepro.io.kitti import SplitEntry

CAMERA_OF_SIDE: dict[str, str] = {"l": "cam0", "r": "cam1"}
"""Split side letter to the ASL camera folder."""
REFERENCE_CAMERA = "cam0"
"""The camera whose sorted file names number the frames of a sequence."""
CSV_HEADER = "#timestamp [ns],filename"
SENSOR_KEYS = ("rate_hz", "resolution", "intrinsics", "distortion_coefficients", "T_BS")
"""Keys of a camera's ``sensor.yaml`` that the reader needs."""


def camera_dir(root: Path, folder: str, camera: str) -> Path:
    """``root/<folder>/<camera>`` (``camera``: ``cam0`` or ``cam1``)."""
    return Path(root) / folder / camera


def image_path(root: Path, folder: str, camera: str, name: str) -> Path:
    """``root/<folder>/<camera>/data/<name>``."""
    return camera_dir(root, folder, camera) / "data" / name


def frame_names(root: Path, folder: str) -> list[str]:
    """Sorted PNG names of ``cam0/data``: frame i of the sequence is the i-th name."""
    data = camera_dir(root, folder, REFERENCE_CAMERA) / "data"
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: camera folder not found (expected the ASL layout <sequence>/cam0/data)")
    names = sorted(p.name for p in data.glob("*.png"))
    if not names:
        raise ValueError(f"{data}: no PNG frames")
    return names


def neighbour_split(root: Path, folder: str, side: str = "l") -> list[SplitEntry]:
    """Split lines of every frame of a sequence that has both temporal neighbours (1 .. N-2)."""
    count = len(frame_names(root, folder))
    return [SplitEntry(folder, frame, side) for frame in range(1, count - 1)]


def read_frame_csv(path: Path) -> list[tuple[int, str]]:
    """``(timestamp_ns, filename)`` rows of a camera's ``data.csv``; errors name the file and line."""
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        stamp, sep, name = text.partition(",")
        if not sep or not stamp.strip().isdigit() or not name.strip():
            raise ValueError(f"{path}:{number}: expected '<timestamp_ns>,<filename>', got {line!r}")
        rows.append((int(stamp), name.strip()))
    return rows


def write_frame_csv(path: Path, timestamps: Sequence[int]) -> None:
    """A camera's ``data.csv`` for frames named ``<timestamp>.png``."""
    atomic_write_text(Path(path), CSV_HEADER + "\n" + "".join(f"{t},{t}.png\n" for t in timestamps))


@dataclass(frozen=True)
class CameraSensor:
    """A camera's ``sensor.yaml``: ``resolution`` (width, height), pinhole ``intrinsics`` (fu, fv, cu, cv) in
    pixels, radial-tangential ``distortion`` (k1, k2, p1, p2), ``T_BS`` (4, 4) camera pose in the body frame."""

    rate_hz: float
    resolution: tuple[int, int]
    intrinsics: tuple[float, float, float, float]
    distortion: tuple[float, float, float, float]
    T_BS: np.ndarray
    comment: str = ""


def _numbers(path: Path, entry: object, key: str, count: int) -> list[float]:
    """``entry`` as ``count`` floats, or an error naming the file and key."""
    if (not isinstance(entry, list) or len(entry) != count
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in entry)):
        raise ValueError(f"{path}: {key} must be a list of {count} numbers, got {entry!r}")
    return [float(v) for v in entry]


def read_sensor_yaml(path: Path) -> CameraSensor:
    """Read a camera's ``sensor.yaml``; a missing file or key raises an error naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: camera sensor file not found")
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: expected a mapping of sensor keys")
    missing = [k for k in SENSOR_KEYS if k not in entries]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    rate = entries["rate_hz"]
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate <= 0:
        raise ValueError(f"{path}: rate_hz must be a positive number, got {rate!r}")
    width, height = _numbers(path, entries["resolution"], "resolution", 2)
    if width != int(width) or height != int(height) or width < 1 or height < 1:
        raise ValueError(f"{path}: resolution must be two positive integers, got {entries['resolution']!r}")
    fu, fv, cu, cv = _numbers(path, entries["intrinsics"], "intrinsics", 4)
    k1, k2, p1, p2 = _numbers(path, entries["distortion_coefficients"], "distortion_coefficients", 4)
    T_BS = entries["T_BS"]
    if not isinstance(T_BS, dict) or T_BS.get("rows") != 4 or T_BS.get("cols") != 4:
        raise ValueError(f"{path}: T_BS must be a mapping with rows: 4, cols: 4 and data, got {T_BS!r}")
    return CameraSensor(
        rate_hz=float(rate),
        resolution=(int(width), int(height)),
        intrinsics=(fu, fv, cu, cv),
        distortion=(k1, k2, p1, p2),
        T_BS=np.array(_numbers(path, T_BS.get("data"), "T_BS.data", 16)).reshape(4, 4),
        comment=str(entries.get("comment") or ""),
    )


def _row(values: Sequence[float]) -> str:
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def write_sensor_yaml(path: Path, sensor: CameraSensor) -> None:
    """Write ``sensor.yaml`` with EuRoC's keys and layout (pinhole, radial-tangential)."""
    T_BS = np.asarray(sensor.T_BS, dtype=np.float64)
    if T_BS.shape != (4, 4):
        raise ValueError(f"{path}: T_BS must be (4, 4), got shape {T_BS.shape}")
    rows = ",\n         ".join(", ".join(repr(float(v) + 0.0) for v in row) for row in T_BS)
    text = (
        "# General sensor definitions.\n"
        "sensor_type: camera\n"
        f"comment: {sensor.comment}\n\n"
        "# Sensor extrinsics wrt. the body-frame.\n"
        "T_BS:\n  cols: 4\n  rows: 4\n"
        f"  data: [{rows}]\n\n"
        "# Camera specific definitions.\n"
        f"rate_hz: {sensor.rate_hz:g}\n"
        f"resolution: [{sensor.resolution[0]}, {sensor.resolution[1]}]\n"
        "camera_model: pinhole\n"
        f"intrinsics: {_row(sensor.intrinsics)} #fu, fv, cu, cv\n"
        "distortion_model: radial-tangential\n"
        f"distortion_coefficients: {_row(sensor.distortion)}\n"
    )
    atomic_write_text(Path(path), text)
