"""NYUv2 formats: cam.txt, 16-bit depth in 1/5000 m, GasMono split lines, a reproducible gt_depths.npz."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.io.nyuv2 import (
    NyuSplitEntry,
    read_cam_txt,
    read_depth_png,
    read_gt_depths,
    read_nyu_split,
    write_cam_txt,
    write_depth_png,
    write_gt_depths,
    write_nyu_split,
)


def test_cam_txt_round_trip_and_errors(tmp_path: Path) -> None:
    K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]])
    path = tmp_path / "cam.txt"
    write_cam_txt(path, K)
    assert len(path.read_text().splitlines()) == 3
    np.testing.assert_array_equal(read_cam_txt(path), K)
    np.testing.assert_array_equal(np.loadtxt(path), K)
    path.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(ValueError, match=r"cam\.txt: expected 9 numbers"):
        read_cam_txt(path)


def test_depth_png_is_sc_depth_scaled(tmp_path: Path) -> None:
    depth = np.array([[0.5, 1.23456], [9.99, np.inf]], np.float32)
    path = tmp_path / "0001.png"
    write_depth_png(path, depth)
    raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, [[2500, 6173], [49950, 0]])
    decoded = read_depth_png(path)
    assert np.abs(decoded[:, 0] - depth[:, 0]).max() <= 0.5 / 5000 + 1e-7
    with pytest.raises(ValueError, match="exceeds the PNG range"):
        write_depth_png(path, np.full((2, 2), 14.0))


def test_split_lines_follow_gasmono(tmp_path: Path) -> None:
    entries = [NyuSplitEntry("kitchen_0045a", 9), NyuSplitEntry("color", 1)]
    path = tmp_path / "train_files.txt"
    write_nyu_split(path, entries)
    assert path.read_text() == "kitchen_0045a 0009 l\ncolor 0001 l\n"
    assert read_nyu_split(path) == entries
    path.write_text("kitchen_0045a nine l\n")
    with pytest.raises(ValueError, match=r"train_files.txt:1"):
        read_nyu_split(path)


def test_gt_depths_npz_is_reproducible_and_numpy_readable(tmp_path: Path) -> None:
    depths = np.random.default_rng(0).uniform(0.5, 9.0, size=(3, 8, 10)).astype(np.float32)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    write_gt_depths(first, depths)
    write_gt_depths(second, depths)
    assert first.read_bytes() == second.read_bytes()
    with np.load(first) as archive:
        np.testing.assert_array_equal(archive["data"], depths)
    np.testing.assert_array_equal(read_gt_depths(first), depths)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        write_gt_depths(first, depths[0])
