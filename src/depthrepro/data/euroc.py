"""EuRoC stereo sequences as FeatDepth's EuRoC loader serves them, in the KITTI raw loader's sample layout.

Split lines `<sequence folder> <frame> l|r` (`MH_02_easy/mav0 17 l`, see `depthrepro.io.euroc`) name a frame by
its position in the sequence's sorted `cam0/data` listing. A frame offset reads the same camera's neighbour;
"s" reads the other camera's image with the same file name. Samples carry the KITTI raw loader's keys, scale
pyramid, augmentation (flip and one colour jitter per sample) and stereo transform (`depthrepro.data.kitti_raw`):
for an `l` line (cam0, the only target of the official loader) stereo_T's x-translation is -0.1, and +0.1
when the sample is flipped. Grayscale PNGs become three equal channels (PIL's RGB conversion, as officially).

Intrinsics: the official loader's constant pinhole — fx = fy = 435.2047 at 752x480, principal point at the
image centre — normalised by that size and scaled to each pyramid level. It comes from the params file
(`data.intrinsics`) and presumes rectified images: the loader neither rectifies nor reads `sensor.yaml`.

Checked when the dataset is built, each error naming the file: every camera folder a sample needs and its
`sensor.yaml`, every split line's frames inside its sequence, and every image's size against its camera's
`sensor.yaml` resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthrepro.data.kitti_raw import OTHER_SIDE, AugmentConfig, FrameId, KittiRawDataset
from depthrepro.io.euroc import CAMERA_OF_SIDE, camera_dir, frame_names, image_path, read_sensor_yaml
from depthrepro.io.kitti import SplitEntry

NUM_SCALES = 4
INTRINSICS_KEYS = ("fx", "fy", "width", "height")


def normalised_intrinsics(camera: Any, where: str) -> np.ndarray:
    """(2, 3) normalised rows of a pinhole `{fx, fy, width, height}` (pixels at that image size) whose principal
    point is the image centre."""
    if not isinstance(camera, Mapping) or set(camera) != set(INTRINSICS_KEYS):
        raise ValueError(f"{where}: data.intrinsics must be a mapping with keys {list(INTRINSICS_KEYS)}, "
                         f"got {camera!r}")
    values = {k: camera[k] for k in INTRINSICS_KEYS}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values.values()):
        raise ValueError(f"{where}: data.intrinsics values must be positive numbers, got {values}")
    return np.array([[values["fx"] / values["width"], 0.0, 0.5],
                     [0.0, values["fy"] / values["height"], 0.5]])


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, with an error naming the file when it cannot be read."""
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image not found") from None
    except OSError as err:
        raise OSError(f"{path}: cannot read image ({err})") from None


class EurocDataset(KittiRawDataset):
    """Split lines over EuRoC sequences as training samples; see the module docstring."""

    def __init__(self, root: Path, entries: Sequence[SplitEntry], height: int, width: int,
                 frame_ids: Sequence[FrameId], intrinsics: np.ndarray, *, is_train: bool = False,
                 augment: AugmentConfig | None = None, seed: int = 0) -> None:
        super().__init__(root, list(entries), height, width, list(frame_ids), intrinsics, num_scales=NUM_SCALES,
                         is_train=is_train, image_ext="png", augment=augment, seed=seed)
        if not self.entries:
            raise ValueError(f"{self.root}: no split lines to read")
        folders = dict.fromkeys(e.folder for e in self.entries)
        self.names = {folder: frame_names(self.root, folder) for folder in folders}
        self._check_images()

    def _camera(self, entry: SplitEntry, frame_id: FrameId) -> str:
        return CAMERA_OF_SIDE[OTHER_SIDE[entry.side] if frame_id == "s" else entry.side]

    def _frame_index(self, entry: SplitEntry, frame_id: FrameId) -> int:
        return entry.frame if frame_id == "s" else entry.frame + int(frame_id)

    def _frame_path(self, entry: SplitEntry, frame_id: FrameId) -> Path:
        name = self.names[entry.folder][self._frame_index(entry, frame_id)]
        return image_path(self.root, entry.folder, self._camera(entry, frame_id), name)

    def _check_images(self) -> None:
        """Every image the samples read exists inside its sequence and has its camera's resolution."""
        resolutions: dict[tuple[str, str], tuple[Path, tuple[int, int]]] = {}
        paths: dict[Path, tuple[str, str]] = {}
        for entry in self.entries:
            count = len(self.names[entry.folder])
            for f in self.frame_ids:
                index = self._frame_index(entry, f)
                if not 0 <= index < count:
                    raise ValueError(f"{self.root / entry.folder}: split line '{entry.folder} {entry.frame} "
                                     f"{entry.side}' needs frame {index} (frame id {f}), but cam0/data holds "
                                     f"frames 0..{count - 1}")
                key = (entry.folder, self._camera(entry, f))
                if key not in resolutions:
                    resolutions[key] = self._resolution(*key)
                paths.setdefault(self._frame_path(entry, f), key)
        for path, key in paths.items():
            sensor, expected = resolutions[key]
            size = _image_size(path)
            if size != expected:
                raise ValueError(f"{path}: image is {size[0]}x{size[1]}, but {sensor} gives the resolution "
                                 f"{expected[0]}x{expected[1]}")

    def _resolution(self, folder: str, camera: str) -> tuple[Path, tuple[int, int]]:
        """The camera's `sensor.yaml` and its (width, height), after checking the camera folder exists."""
        cam = camera_dir(self.root, folder, camera)
        if not (cam / "data").is_dir():
            raise FileNotFoundError(f"{cam / 'data'}: camera folder not found (the split's frame ids need {camera})")
        sensor = cam / "sensor.yaml"
        return sensor, read_sensor_yaml(sensor).resolution
