"""KITTI file formats: round trips, KITTI's text layout, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthrepro.io.kitti import (
    OXTS_FIELDS,
    SplitEntry,
    annotated_depth_path,
    calib_dir,
    image_path,
    oxts_path,
    read_calib_file,
    read_depth_png,
    read_oxts,
    read_split_file,
    read_velodyne,
    velodyne_path,
    write_calib_file,
    write_depth_png,
    write_oxts,
    write_split_file,
    write_velodyne,
)

KITTI_CAM_TO_CAM_EXCERPT = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
S_02: 1.392000e+03 5.120000e+02
P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
"""


def test_calib_reads_kitti_text_and_skips_non_numeric(tmp_path: Path) -> None:
    path = tmp_path / "calib_cam_to_cam.txt"
    path.write_text(KITTI_CAM_TO_CAM_EXCERPT)
    calib = read_calib_file(path)
    assert set(calib) == {"corner_dist", "S_02", "P_rect_02"}
    assert calib["P_rect_02"].shape == (12,)
    assert calib["P_rect_02"][3] == pytest.approx(44.85728)


def test_calib_round_trip_uses_kitti_number_format(tmp_path: Path) -> None:
    path = tmp_path / "calib.txt"
    rotation = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    write_calib_file(path, {"calib_time": "01-Jan-2000 12:00:00", "R": rotation, "T": np.array([-0.004, -0.08, -0.27])})
    lines = path.read_text().splitlines()
    assert lines[0] == "calib_time: 01-Jan-2000 12:00:00"
    assert lines[2] == "T: -4.000000e-03 -8.000000e-02 -2.700000e-01"
    assert "-0.000000e+00" not in path.read_text()
    calib = read_calib_file(path)
    np.testing.assert_array_equal(calib["R"].reshape(3, 3), rotation)
    np.testing.assert_allclose(calib["T"], [-0.004, -0.08, -0.27])


def test_calib_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "calib_velo_to_cam.txt"
    path.write_text("R: 1 0 0 0 1 0 0 0 1\nthis line has no key\n")
    with pytest.raises(ValueError, match=r"calib_velo_to_cam\.txt:2"):
        read_calib_file(path)


def test_velodyne_round_trip_and_truncation(tmp_path: Path) -> None:
    points = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    path = tmp_path / "0000000000.bin"
    write_velodyne(path, points)
    assert path.stat().st_size == 100 * 16
    np.testing.assert_array_equal(read_velodyne(path), points)
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(ValueError, match=r"0000000000\.bin.*multiple of 16"):
        read_velodyne(path)
    with pytest.raises(ValueError, match="shape"):
        write_velodyne(path, points[:, :3])


def test_oxts_round_trip(tmp_path: Path) -> None:
    values = np.arange(len(OXTS_FIELDS), dtype=np.float64) * 0.37 - 3.0
    values[0], values[1] = 49.015003823272, 8.4342971002335
    values[-5:] = [4, 10, 4, 4, 0]
    path = tmp_path / "0000000000.txt"
    write_oxts(path, values)
    text = path.read_text()
    assert len(text.split()) == 30 and text.endswith("4 10 4 4 0\n")
    np.testing.assert_array_equal(read_oxts(path), values)
    path.write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"0000000000\.txt.*30 numbers"):
        read_oxts(path)


def test_split_round_trip_and_errors(tmp_path: Path) -> None:
    entries = [SplitEntry("2011_09_26/2011_09_26_drive_0002_sync", 69, "l"), SplitEntry("9", 1234, "r")]
    path = tmp_path / "test_files.txt"
    write_split_file(path, entries)
    assert read_split_file(path) == entries
    path.write_text("2011_09_26/2011_09_26_drive_0002_sync 0000000069 l\n\n2011_09_26/x 12 left\n")
    with pytest.raises(ValueError, match=r"test_files\.txt:3"):
        read_split_file(path)
    with pytest.raises(ValueError, match="side"):
        SplitEntry("a", 1, "x")


def test_padded_frame_numbers_parse(tmp_path: Path) -> None:
    path = tmp_path / "test_files.txt"
    path.write_text("2011_09_26/2011_09_26_drive_0002_sync 0000000069 l\n")
    assert read_split_file(path) == [SplitEntry("2011_09_26/2011_09_26_drive_0002_sync", 69, "l")]


def test_depth_png_round_trip(tmp_path: Path) -> None:
    depth = np.array([[0.0, 1.5, 80.0], [np.nan, -2.0, 255.99]], np.float32)
    path = tmp_path / "0000000005.png"
    write_depth_png(path, depth)
    back = read_depth_png(path)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, [[0.0, 1.5, 80.0], [0.0, 0.0, 255.99]], atol=1 / 512)
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_paths_follow_kitti_layout() -> None:
    root, folder = Path("/data"), "2011_09_26/2011_09_26_drive_0002_sync"
    assert image_path(root, folder, 69, "l", "png") == root / folder / "image_02/data/0000000069.png"
    assert image_path(root, folder, 69, "r", "jpg") == root / folder / "image_03/data/0000000069.jpg"
    assert velodyne_path(root, folder, 3) == root / folder / "velodyne_points/data/0000000003.bin"
    assert oxts_path(root, folder, 3) == root / folder / "oxts/data/0000000003.txt"
    assert annotated_depth_path(root, folder, 5, "l") == root / folder / "proj_depth/groundtruth/image_02/0000000005.png"
    assert calib_dir(root, folder) == root / "2011_09_26"
    with pytest.raises(ValueError, match="side"):
        image_path(root, folder, 1, "c", "png")
