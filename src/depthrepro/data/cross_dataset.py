"""Cross-dataset prediction: a checkpoint run on the test split of another data format.

The ``test_inputs:`` section of ``params/protocols.yaml`` holds, per test split, how a model trained on
another format is fed that split's images and how its prediction is brought onto the split's
ground-truth frame (keys explained there). Two readers exist:

- ``nyu_h5``: P2Net's NYUv2 h5 files (single images), cut to ``window`` and resized to ``size``
  (``depthrepro.data.nyu_h5``).
- ``odometry_keyframes``: the keyframes of a MonoRec-style odometry split (``<SS> <frame>``), each read
  with its lookup frames as monodepth2's odometry loader reads frames: camera 2 (``image_2``), the
  whole image resized with Lanczos, and the dataset's KITTI-normalised intrinsics.

An ``output`` of kind ``centre_crop`` re-samples each full-frame prediction over the centre crop that the
protocol's ``centre_crop_sparse`` GT transform keeps, at that transform's output size: output pixel ``o`` samples
the image position ``top + o * crop / size`` (the position whose GT the transform rounds to ``o``),
bilinearly between the prediction's pixel centres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from PIL import Image

from depthrepro.data.formats import test_dataset, test_image_paths
from depthrepro.data.kitti_odometry import KittiOdometryTestSamples
from depthrepro.io.kitti_odometry import OdomSplitEntry, centre_crop_box, read_keyframes
from depthrepro.io.mapping_keys import check_mapping_keys

READERS = ("nyu_h5", "odometry_keyframes")
MODEL_SIZE = "model"
CENTRE_CROP = "centre_crop"
_REQUIRED = ("reader", "size", "source", "notes")
_OPTIONAL = ("window", "depth_range", "output")
ODOMETRY_CAMERA_SIDE = "l"
"""Split side of the odometry keyframes: the left colour camera (image_2), the one the GT belongs to."""
ODOMETRY_IMAGE_EXT = "png"
"""The odometry tree's images are the PNGs as KITTI ships them (no JPEG conversion)."""


@dataclass(frozen=True)
class CrossDatasetInput:
    """How a foreign checkpoint is tested on ``split`` (see the module docstring).

    ``size`` is the network input ``(H, W)``, or None for the checkpoint's own training size;
    ``window`` ``(top, bottom, left, right)`` pixels of the stored image; ``depth_range`` the
    ``(min, max)`` depth of ``disp_to_depth`` at test time (None: the model's own); ``crop_size`` the
    ``(H, W)`` of a ``centre_crop`` output (None: the prediction is stored as the network gives it).
    """

    split: str
    reader: str
    size: tuple[int, int] | None
    source: str
    notes: str
    window: tuple[int, int, int, int] | None = None
    depth_range: tuple[float, float] | None = None
    crop_size: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


def _ints(where: str, key: str, value: Any, length: int) -> tuple[int, ...]:
    if (not isinstance(value, list) or len(value) != length
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value)):
        raise ValueError(f"{where}: '{key}' must be a list of {length} non-negative integers, got {value!r}")
    return tuple(value)


def _parse(where: str, split: str, entry: Any) -> CrossDatasetInput:
    check_mapping_keys(where, entry, _REQUIRED, _OPTIONAL)
    reader = entry["reader"]
    if reader not in READERS:
        raise ValueError(f"{where}: 'reader' must be one of {list(READERS)}, got {reader!r}")
    size = None if entry["size"] == MODEL_SIZE else _ints(where, "size", entry["size"], 2)
    window = None
    if "window" in entry:
        if reader != "nyu_h5":
            raise ValueError(f"{where}: 'window' applies to reader nyu_h5 only")
        window = _ints(where, "window", entry["window"], 4)
        if not (window[0] < window[1] and window[2] < window[3]):
            raise ValueError(f"{where}: 'window' {list(window)} must satisfy top < bottom and left < right")
    depth_range = None
    if "depth_range" in entry:
        value = entry["depth_range"]
        if (not isinstance(value, list) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
                or not 0 < value[0] < value[1]):
            raise ValueError(f"{where}: 'depth_range' must be [min, max] with 0 < min < max, got {value!r}")
        depth_range = (float(value[0]), float(value[1]))
    crop_size = None
    if "output" in entry:
        output = entry["output"]
        if not isinstance(output, dict) or output.get("kind") != CENTRE_CROP or set(output) != {"kind", "size"}:
            raise ValueError(f"{where}: 'output' must be {{kind: {CENTRE_CROP}, size: [H, W]}}, got {output!r}")
        crop_size = _ints(where, "output.size", output["size"], 2)
    return CrossDatasetInput(split=split, reader=reader, size=size, source=" ".join(str(entry["source"]).split()),
                     notes=" ".join(str(entry["notes"]).split()), window=window, depth_range=depth_range,
                     crop_size=crop_size)


def load_test_input(path: Path, split: str) -> CrossDatasetInput:
    """The ``test_inputs.<split>`` entry of the protocol file ``path``, validated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: protocol file not found")
    entries = (yaml.safe_load(path.read_text()) or {}).get("test_inputs") or {}
    if split not in entries:
        raise KeyError(f"{path}: no test_inputs.{split} (how checkpoints of another data format are tested on "
                       f"split {split!r}); defined: {sorted(entries)}")
    return _parse(f"{path}: test_inputs.{split}", split, entries[split])


def centre_crop_resample(inverse_depth: np.ndarray, image_size: tuple[int, int],
                         output_size: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` prediction over a whole ``image_size`` (H, W) image -> ``output_size`` map of its centre
    crop at the output's aspect (``centre_crop_box``), sampled bilinearly (edges replicated)."""
    height, width = image_size
    h, w = inverse_depth.shape
    left, top, right, bottom = centre_crop_box(width, height, output_size)
    rows = top + np.arange(output_size[0]) * (bottom - top) / output_size[0]
    cols = left + np.arange(output_size[1]) * (right - left) / output_size[1]
    map_y = ((rows + 0.5) * h / height - 0.5).astype(np.float32)
    map_x = ((cols + 0.5) * w / width - 0.5).astype(np.float32)
    grid_x, grid_y = np.meshgrid(map_x, map_y)
    return cv2.remap(np.ascontiguousarray(inverse_depth, dtype=np.float32), grid_x, grid_y, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


class CrossDatasetTest:
    """The samples, image files and output mapping of one checkpoint's test on a foreign split.

    ``model_size`` is the checkpoint's training ``(H, W)``; ``frames`` its test frames; ``intrinsics``
    the dataset's KITTI-normalised (2, 3) matrix (needed by the ``odometry_keyframes`` reader).
    """

    def __init__(self, spec: CrossDatasetInput, images: Path, split_file: Path, model_size: tuple[int, int],
                 frames: Sequence[Any], intrinsics: Any, where: str) -> None:
        self.spec = spec
        self.input_size = spec.size or tuple(model_size)
        height, width = self.input_size
        if spec.reader == "nyu_h5":
            if list(frames) != [0]:
                raise ValueError(f"{where}: test split {spec.split!r} holds single images; a method testing on "
                                 f"frames {list(frames)} cannot be run on it")
            data = {"format": "nyu_h5", **({"window": list(spec.window)} if spec.window else {})}
            self.samples = test_dataset(data, images, split_file, height, width, frames, None, where)
            self.image_paths = test_image_paths(data, images, split_file, where)
        else:
            if intrinsics is None:
                raise ValueError(f"{where}: reader odometry_keyframes needs the dataset's intrinsics; none given")
            entries = [OdomSplitEntry(k.sequence, k.frame, ODOMETRY_CAMERA_SIDE) for k in read_keyframes(split_file)]
            samples = KittiOdometryTestSamples(images, entries, height, width, np.asarray(intrinsics), list(frames),
                                               ODOMETRY_IMAGE_EXT)
            missing = samples.missing_frames()
            if missing:
                raise FileNotFoundError(f"{split_file}: {len(missing)} images of frames {list(frames)} around the "
                                        f"keyframes are missing, e.g. {[str(p) for p in missing[:3]]}")
            self.samples = samples
            self.image_paths = test_image_paths({"format": "kitti_odometry_mr"}, images, split_file, where)
        if len(self.image_paths) != len(self.samples):
            raise ValueError(f"{split_file}: {len(self.samples)} samples for {len(self.image_paths)} images")

    def gt_frame(self, inverse_depth: np.ndarray, first: int) -> np.ndarray:
        """``(B, h, w)`` predictions of samples ``first .. first + B - 1`` on the GT's frame: as given, or
        re-sampled over the centre crop (``(B, *crop_size)``)."""
        if self.spec.crop_size is None:
            return inverse_depth
        out = []
        for offset, prediction in enumerate(inverse_depth):
            with Image.open(self.image_paths[first + offset]) as image:
                width, height = image.size
            out.append(centre_crop_resample(prediction, (height, width), self.spec.crop_size))
        return np.stack(out)
