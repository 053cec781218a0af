"""The NYUv2 test images of P2Net's h5 files, as EPCDepth's NYUv2 generalisation test feeds them to a model.

Each listed file's ``rgb`` is cut to a pixel window (EPCDepth: rows 44:471, columns 40:601 of the
480x640 image) and resized with Lanczos (PIL, the ``Image.ANTIALIAS`` of EPCDepth's loader) to the
network input, as ``("color", 0, 0)`` (3, H, W) in [0, 1]. Without a window the whole image is resized.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from depthrepro.data.kitti_raw import to_tensor
from depthrepro.io.nyu_h5 import read_h5_list, read_nyu_h5


class NyuH5TestSamples(torch.utils.data.Dataset):
    """`("color", 0, 0)` of every file of an h5 list; `window` is `(top, bottom, left, right)` pixels."""

    def __init__(self, root: Path, split_file: Path, height: int, width: int,
                 window: Sequence[int] | None = None) -> None:
        self.root, self.height, self.width = Path(root), height, width
        self.files = read_h5_list(split_file)
        if not self.files:
            raise ValueError(f"{split_file}: no test files")
        if window is not None and len(window) != 4:
            raise ValueError(f"window must be [top, bottom, left, right], got {list(window)}")
        self.window = None if window is None else tuple(int(v) for v in window)

    def __len__(self) -> int:
        return len(self.files)

    def image_paths(self) -> list[Path]:
        """The h5 file of every sample, in list order."""
        return [self.root / name for name in self.files]

    def __getitem__(self, index: int) -> dict:
        path = self.root / self.files[index]
        rgb = read_nyu_h5(path).rgb
        if self.window is not None:
            top, bottom, left, right = self.window
            if bottom > rgb.shape[0] or right > rgb.shape[1]:
                raise ValueError(f"{path}: window {list(self.window)} exceeds the {rgb.shape[0]}x{rgb.shape[1]} image")
            rgb = rgb[top:bottom, left:right]
        image = Image.fromarray(rgb).resize((self.width, self.height), Image.LANCZOS)
        return {("color", 0, 0): to_tensor(image)}
