"""Velodyne projection and GT npz export on a small hand-made KITTI drive."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from depthrepro.io.kitti import (
    SplitEntry,
    annotated_depth_path,
    velodyne_path,
    write_calib_file,
    write_depth_png,
    write_split_file,
    write_velodyne,
)
from depthrepro.prepare.gt_export import export_gt_depths, generate_depth_map, load_gt_depths

WIDTH, HEIGHT = 20, 10
FOCAL, CX, CY = 10.0, 10.0, 5.0
LIDAR_TO_CAMERA_Z = -0.3  # camera z = LiDAR x - 0.3, so LiDAR-frame and camera-frame depths differ
DATE = "2011_09_26"
DRIVE = f"{DATE}/{DATE}_drive_0001_sync"


def _write_calib(folder: Path) -> Path:
    """Camera axes (right, down, forward) from LiDAR axes (forward, left, up); no rectification."""
    folder.mkdir(parents=True, exist_ok=True)
    write_calib_file(
        folder / "calib_velo_to_cam.txt",
        {"R": np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]]), "T": np.array([0.0, 0.0, LIDAR_TO_CAMERA_Z])},
    )
    write_calib_file(
        folder / "calib_cam_to_cam.txt",
        {
            "S_rect_02": np.array([WIDTH, HEIGHT]),
            "R_rect_00": np.eye(3),
            "P_rect_02": np.array([[FOCAL, 0, CX, 0], [0, FOCAL, CY, 0], [0, 0, 1, 0]]),
        },
    )
    return folder


def _lidar_point(row: int, col: int, cam_z: float) -> list[float]:
    """LiDAR (x, y, z, reflectance) of a point at camera depth ``cam_z`` landing on pixel (row, col)."""
    u, v = col + 1, row + 1  # monodepth2 stores round(u) - 1
    cam_x, cam_y = (u - CX) * cam_z / FOCAL, (v - CY) * cam_z / FOCAL
    return [cam_z - LIDAR_TO_CAMERA_Z, -cam_x, -cam_y, 0.5]


def _depth_map(tmp_path: Path, points: list[list[float]], vel_depth: bool = True) -> np.ndarray:
    calib = _write_calib(tmp_path / "calib")
    scan = tmp_path / "scan.bin"
    write_velodyne(scan, np.array(points, dtype=np.float32))
    return generate_depth_map(calib, scan, cam=2, vel_depth=vel_depth)


def test_points_land_on_expected_pixels_with_lidar_or_camera_depth(tmp_path: Path) -> None:
    points = [_lidar_point(4, 9, 5.0), _lidar_point(3, 10, 10.0), _lidar_point(9, 0, 2.0)]
    lidar_depth = _depth_map(tmp_path, points, vel_depth=True)
    assert lidar_depth.shape == (HEIGHT, WIDTH) and lidar_depth.dtype == np.float32
    assert np.argwhere(lidar_depth > 0).tolist() == [[3, 10], [4, 9], [9, 0]]
    assert lidar_depth[4, 9] == np.float32(5.3) and lidar_depth[3, 10] == np.float32(10.3)
    camera_depth = _depth_map(tmp_path, points, vel_depth=False)
    assert camera_depth[4, 9] == pytest.approx(5.0, abs=1e-5)
    assert camera_depth[9, 0] == pytest.approx(2.0, abs=1e-5)


def test_points_behind_or_outside_the_image_are_dropped(tmp_path: Path) -> None:
    behind = [-4.0, 0.0, 0.0, 0.5]  # LiDAR x < 0
    right_of_image = _lidar_point(4, WIDTH, 5.0)
    above_image = _lidar_point(-1, 5, 5.0)
    depth = _depth_map(tmp_path, [behind, right_of_image, above_image, _lidar_point(0, WIDTH - 1, 3.0)])
    assert np.argwhere(depth > 0).tolist() == [[0, WIDTH - 1]]


def test_closest_point_wins_on_duplicate_pixels(tmp_path: Path) -> None:
    near, far = _lidar_point(4, 9, 5.0), _lidar_point(4, 9, 8.0)
    for order in ([near, far], [far, near]):
        depth = _depth_map(tmp_path, order)
        assert depth[4, 9] == np.float32(5.3)
        assert (depth > 0).sum() == 1


def test_row_wrap_grouping_of_monodepth2_is_reproduced(tmp_path: Path) -> None:
    # monodepth2 groups duplicates by row*(W-1) + col - 1, so (2, W-1) and (3, 0) share an index:
    # the pixel of the first listed point receives the smaller depth of the two.
    first, second = _lidar_point(3, 0, 10.0), _lidar_point(2, WIDTH - 1, 4.0)
    depth = _depth_map(tmp_path, [first, second])
    assert depth[3, 0] == np.float32(4.3)
    assert depth[2, WIDTH - 1] == np.float32(4.3)


def _make_drive(root: Path, frames: list[int]) -> Path:
    _write_calib(root / DATE)
    for frame in frames:
        write_velodyne(
            velodyne_path(root, DRIVE, frame),
            np.array([_lidar_point(4, 9, 5.0 + frame), _lidar_point(2, 3, 7.0)], dtype=np.float32),
        )
        annotated = np.zeros((HEIGHT, WIDTH))
        annotated[5, 5] = 12.5 + frame
        write_depth_png(annotated_depth_path(root, DRIVE, frame, "l"), annotated)
    split = root / "test_files.txt"
    write_split_file(split, [SplitEntry(DRIVE, frame, "l") for frame in frames])
    return split


@pytest.mark.parametrize("kind", ["eigen", "eigen_benchmark"])
def test_export_round_trip_without_object_arrays(tmp_path: Path, kind: str) -> None:
    split = _make_drive(tmp_path / "kitti", [0, 3])
    out = tmp_path / "gt" / "gt_depths.npz"
    assert export_gt_depths(tmp_path / "kitti", split, out, kind) == 2
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["depth_00000.npy", "depth_00001.npy", "entries.npy", "kind.npy"]
    with np.load(out, allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)
        assert archive["entries"].tolist() == [f"{DRIVE} 0 l", f"{DRIVE} 3 l"]
    depths = load_gt_depths(out)
    assert [d.dtype for d in depths] == [np.float32, np.float32]
    if kind == "eigen":
        assert [float(d[4, 9]) for d in depths] == [np.float32(5.3), np.float32(8.3)]
    else:
        assert [float(d[5, 5]) for d in depths] == [12.5, 15.5]
    assert not list(out.parent.glob(".*tmp"))


def test_export_names_missing_annotated_maps(tmp_path: Path) -> None:
    split = _make_drive(tmp_path / "kitti", [0])
    annotated_depth_path(tmp_path / "kitti", DRIVE, 0, "l").unlink()
    out = tmp_path / "gt_depths.npz"
    with pytest.raises(FileNotFoundError, match="1 of 1 eigen_benchmark GT files are missing"):
        export_gt_depths(tmp_path / "kitti", split, out, "eigen_benchmark")
    assert not out.exists()


def test_legacy_monodepth2_npz_loads(tmp_path: Path) -> None:
    maps = [np.full((4, 6), 2.0, dtype=np.float32), np.full((5, 7), 3.0, dtype=np.float32)]
    ragged = np.empty(2, dtype=object)
    ragged[:] = maps
    legacy = tmp_path / "ragged.npz"
    np.savez_compressed(legacy, data=ragged)
    loaded = load_gt_depths(legacy)
    assert [d.shape for d in loaded] == [(4, 6), (5, 7)]
    assert all(np.array_equal(a, b) for a, b in zip(loaded, maps, strict=True))

    stacked = tmp_path / "stacked.npz"
    np.savez_compressed(stacked, data=np.stack([maps[0], maps[0] * 2]))
    assert [float(d[0, 0]) for d in load_gt_depths(stacked)] == [2.0, 4.0]


def test_unrecognised_npz_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, depth_00001=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="depth_00000"):
        load_gt_depths(path)
