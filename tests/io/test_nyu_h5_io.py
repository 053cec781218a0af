"""P2Net's NYUv2 h5 test files: the stored layout, reading the real files' extra keys, list lines, errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from depthrepro.io.nyu_h5 import (
    h5_relative_path,
    read_h5_list,
    read_nyu_h5,
    read_nyu_h5_depth,
    write_h5_list,
    write_nyu_h5,
)


def _image(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.0, (6, 8)).astype(np.float32)
    return rgb, depth


def test_written_files_have_p2nets_layout_and_read_back(tmp_path: Path) -> None:
    rgb, depth = _image(np.random.default_rng(0))
    depth[0, 0], depth[0, 1], depth[0, 2] = np.inf, np.nan, -1.0
    path = tmp_path / h5_relative_path(7)
    write_nyu_h5(path, rgb, depth)
    assert path == tmp_path / "nyu_test" / "00007.h5"
    with h5py.File(path, "r") as handle:  # channels first, as the real files store it
        assert handle["rgb"].shape == (3, 6, 8) and handle["rgb"].dtype == np.uint8
        assert handle["depth"].shape == (6, 8) and handle["depth"].dtype == np.float32
    image = read_nyu_h5(path)
    np.testing.assert_array_equal(image.rgb, rgb)
    expected = depth.copy()
    expected[0, :3] = 0  # non-finite and negative depth are stored as "no value"
    np.testing.assert_array_equal(image.depth, expected)
    np.testing.assert_array_equal(read_nyu_h5_depth(path), expected)


def test_writes_are_byte_reproducible(tmp_path: Path) -> None:
    rgb, depth = _image(np.random.default_rng(1))
    write_nyu_h5(tmp_path / "a.h5", rgb, depth)
    write_nyu_h5(tmp_path / "b.h5", rgb, depth)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_reads_a_file_with_the_real_sets_extra_keys(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rgb, depth = _image(rng)
    path = tmp_path / "00001.h5"
    with h5py.File(path, "w") as handle:  # P2Net's files also hold surface normals and their mask
        handle["rgb"] = rgb.transpose(2, 0, 1)
        handle["depth"] = depth.astype(np.float64)
        handle["norm"] = rng.normal(size=(3, 6, 8)).astype(np.float32)
        handle["mask"] = np.ones((6, 8), dtype=np.uint8)
    image = read_nyu_h5(path)
    np.testing.assert_array_equal(image.rgb, rgb)
    assert image.depth.dtype == np.float32
    np.testing.assert_allclose(image.depth, depth)


def test_malformed_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as handle:
        handle["rgb"] = np.zeros((3, 4, 5), np.uint8)
    with pytest.raises(ValueError, match=r"bad\.h5: missing dataset\(s\) \['depth'\]"):
        read_nyu_h5(path)
    with h5py.File(path, "w") as handle:
        handle["rgb"] = np.zeros((4, 5, 3), np.uint8)  # channels last: not the stored layout
        handle["depth"] = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"'rgb' must be \(3, H, W\) uint8"):
        read_nyu_h5(path)
    with h5py.File(path, "w") as handle:
        handle["rgb"] = np.zeros((3, 4, 5), np.uint8)
        handle["depth"] = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match=r"'depth' \(4, 6\) does not match the image size \(4, 5\)"):
        read_nyu_h5(path)
    with pytest.raises(ValueError, match=r"depth \(2, 2\) does not match"):
        write_nyu_h5(path, np.zeros((3, 3, 3), np.uint8), np.zeros((2, 2)))


def test_list_lines_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "splits" / "nyu_h5" / "test_files.txt"
    write_h5_list(path, [1, 2, 9, 1449])
    assert path.read_text() == "nyu_test/00001.h5\nnyu_test/00002.h5\nnyu_test/00009.h5\nnyu_test/01449.h5\n"
    assert read_h5_list(path) == ["nyu_test/00001.h5", "nyu_test/00002.h5", "nyu_test/00009.h5", "nyu_test/01449.h5"]
    path.write_text("nyu_test/00001.h5\n\ncolor 0002 l\n")
    with pytest.raises(ValueError, match=r"test_files\.txt:3: expected 'nyu_test/<index:05d>\.h5', got 'color 0002 l'"):
        read_h5_list(path)
