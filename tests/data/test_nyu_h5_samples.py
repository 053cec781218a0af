"""The NYUv2 h5 test samples as EPCDepth's loader makes them (window, then Lanczos resize) and the
`nyu_h5` branch of the data formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthrepro.data import formats
from depthrepro.data.nyu_h5 import NyuH5TestSamples
from depthrepro.io.nyu_h5 import h5_relative_path, write_h5_list, write_nyu_h5

WINDOW = [4, 20, 3, 27]


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, Path, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    images = []
    for index in (3, 8):
        rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        write_nyu_h5(tmp_path / h5_relative_path(index), rgb, np.full((24, 32), 2.0))
        images.append(rgb)
    split = tmp_path / "splits" / "nyu_h5" / "test_files.txt"
    write_h5_list(split, [3, 8])
    return tmp_path, split, images


def test_window_then_lanczos_resize(tree: tuple[Path, Path, list[np.ndarray]]) -> None:
    root, split, images = tree
    samples = NyuH5TestSamples(root, split, 12, 18, WINDOW)
    assert len(samples) == 2
    for index, rgb in enumerate(images):
        top, bottom, left, right = WINDOW
        expected = np.asarray(Image.fromarray(rgb[top:bottom, left:right]).resize((18, 12), Image.LANCZOS))
        color = samples[index][("color", 0, 0)]
        assert color.shape == (3, 12, 18)
        np.testing.assert_allclose(color.numpy().transpose(1, 2, 0), expected / 255.0, atol=1e-6)
    whole = NyuH5TestSamples(root, split, 12, 16)[0][("color", 0, 0)]
    expected = np.asarray(Image.fromarray(images[0]).resize((16, 12), Image.LANCZOS))
    np.testing.assert_allclose(whole.numpy().transpose(1, 2, 0), expected / 255.0, atol=1e-6)


def test_a_window_beyond_the_image_is_refused(tree: tuple[Path, Path, list[np.ndarray]]) -> None:
    root, split, _ = tree
    with pytest.raises(ValueError, match=r"00003\.h5: window \[0, 30, 0, 10\] exceeds the 24x32 image"):
        NyuH5TestSamples(root, split, 8, 8, [0, 30, 0, 10])[0]


def test_formats_branch(tree: tuple[Path, Path, list[np.ndarray]]) -> None:
    root, split, _ = tree
    data = {"format": "nyu_h5", "window": WINDOW}
    samples = formats.test_dataset(data, root, split, 12, 18, [0], None, "test")
    assert isinstance(samples, NyuH5TestSamples) and samples.window == tuple(WINDOW)
    paths = formats.test_image_paths(data, root, split, "test")
    assert paths == [root / "nyu_test/00003.h5", root / "nyu_test/00008.h5"]
    with pytest.raises(ValueError, match=r"where: data.format nyu_h5 holds test images only"):
        formats.training_dataset(data, formats.DataSources(root, split), 12, 18, [0], None, 0, "where")
