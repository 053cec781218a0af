"""Velodyne projection and GT npz export on a small hand-made KITTI drive; the KITTI odometry (MonoRec
split, with moving-object masks) and NYUv2 test exports on the tiny synthetic world, against its renderer."""

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
from depthrepro.io.kitti import read_depth_png as read_kitti_depth_png
from depthrepro.evaluate.gt_transforms import centre_crop_sparse
from depthrepro.evaluate.protocols import load_protocol
from depthrepro.evaluate.score import score_depth
from depthrepro.io import kitti_odometry
from depthrepro.io.nyuv2 import DEPTH_PNG_SCALE, NyuSplitEntry, read_gt_depths, write_nyu_split
from depthrepro.prepare.gt_export import (
    export_gt_depths,
    generate_depth_map,
    load_gt_depths,
    load_region_masks,
)
from depthrepro.synth.kitti_odometry import build_sequence, moving_object_mask
from depthrepro.synth.nyuv2 import build_scene, held_out_views, nyu_preset

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


@pytest.fixture(scope="module")
def odometry_root(tiny_odometry: Path) -> Path:
    return tiny_odometry


@pytest.fixture(scope="module")
def nyu_root(tiny_nyuv2: Path) -> Path:
    return tiny_nyuv2


def test_odometry_export_is_the_annotated_depth_with_moving_object_masks(odometry_root: Path, tmp_path: Path,
                                                                         repo_root: Path) -> None:
    split = odometry_root / "splits" / "odometry" / "test_files.txt"
    keyframes = kitti_odometry.read_keyframes(split)
    out = tmp_path / "gt" / "odometry.npz"
    assert export_gt_depths(odometry_root, split, out, "odometry") == len(keyframes)
    with np.load(out, allow_pickle=False) as archive:
        assert archive["entries"].tolist() == [f"{k.sequence:02d} {k.frame}" for k in keyframes]
        assert str(archive["kind"]) == "odometry"
    depths = load_gt_depths(out)
    masks = load_region_masks(out)
    assert sorted(masks) == ["dynamic"] and len(masks["dynamic"]) == len(depths) == len(keyframes)
    for keyframe, depth, mask in zip(keyframes, depths, masks["dynamic"], strict=True):
        png = kitti_odometry.annotated_depth_path(odometry_root, keyframe.sequence, keyframe.frame)
        np.testing.assert_array_equal(depth, read_kitti_depth_png(png))
        rendered = build_sequence("tiny", 0, keyframe.sequence).render_camera(keyframe.frame, 2)
        valid = depth > 0
        assert depth.dtype == np.float32 and depth.shape == rendered.depth.shape and valid.mean() > 0.1
        np.testing.assert_allclose(depth[valid], rendered.depth[valid], atol=0.5 / 256 + 1e-6)
        assert mask.dtype == np.float32 and mask.shape == kitti_odometry.MASK_SIZE
        np.testing.assert_array_equal(mask, moving_object_mask(rendered.dynamic))

    # the form protocol kitti_odom_mr scores: perfect predictions score zero error, moving cars included
    protocol = load_protocol("kitti_odom_mr", repo_root / "params" / "protocols.yaml")
    perfect = []
    for depth in depths:
        sparse = centre_crop_sparse(depth, kitti_odometry.MASK_SIZE)  # the GT the 256x512 predictions meet
        perfect.append(np.where(sparse > 0, 1.0 / np.maximum(sparse, 1e-6), 0.1).astype(np.float32))
    score = score_depth(perfect, depths, protocol, stereo_trained=False, region_masks=masks)
    assert score.mean_dict()["abs_rel"] < 1e-6 and score.mean_dict()["a1"] == 1.0
    assert len(score.regions["dynamic"].image_indices) == len(keyframes)
    assert score.regions["dynamic"].mean[0] < 1e-6

    again = tmp_path / "again.npz"  # read by two processes, written in split order: the same bytes
    export_gt_depths(odometry_root, split, again, "odometry", workers=2, progress=True)
    assert again.read_bytes() == out.read_bytes()


def test_odometry_export_names_missing_masks(odometry_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "test_files.txt"
    kitti_odometry.write_keyframes(split, [kitti_odometry.Keyframe(0, 5), kitti_odometry.Keyframe(0, 99)])
    out = tmp_path / "odometry.npz"
    with pytest.raises(FileNotFoundError, match=r"2 of 4 odometry GT files are missing .*mvobj_mask.*000099\.png"):
        export_gt_depths(odometry_root, split, out, "odometry")
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))


def test_nyu_export_is_the_rendered_test_depth(nyu_root: Path, tmp_path: Path) -> None:
    split = nyu_root / "splits" / "nyu" / "test_files.txt"
    out = tmp_path / "nyu.npz"
    views = held_out_views(nyu_preset("tiny"))
    assert export_gt_depths(nyu_root, split, out, "nyu") == len(views)
    with np.load(out, allow_pickle=False) as archive:
        assert archive["entries"].tolist() == [f"color {i:04d} l" for i in range(1, len(views) + 1)]
    depths = load_gt_depths(out)
    exact = read_gt_depths(nyu_root / "splits" / "nyu" / "gt_depths.npz")
    assert load_region_masks(out) == {}
    for depth, stored, (room, frame) in zip(depths, exact, views, strict=True):
        rendered = build_scene("tiny", 0, room).render(frame).depth
        assert depth.dtype == np.float32 and depth.shape == rendered.shape and (depth > 0).all()
        np.testing.assert_allclose(depth, rendered, atol=0.5 / DEPTH_PNG_SCALE + 1e-6)
        np.testing.assert_allclose(depth, stored, atol=0.5 / DEPTH_PNG_SCALE + 1e-6)


def test_nyu_export_rejects_training_lines(nyu_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "test_files.txt"
    write_nyu_split(split, [NyuSplitEntry("office_0001", 3)])
    with pytest.raises(ValueError, match=r"test_files\.txt: expected test lines 'color <index:04d> l'"):
        export_gt_depths(nyu_root, split, tmp_path / "nyu.npz", "nyu")
