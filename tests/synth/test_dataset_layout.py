"""The rendered tree: KITTI raw layout, bit-identical re-renders, splits, calibration and OXTS."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.io.kitti import (
    annotated_depth_path,
    calib_dir,
    image_path,
    oxts_path,
    read_calib_file,
    read_depth_png,
    read_oxts,
    read_split_file,
    velodyne_path,
)
from depthrepro.synth.camera import SENSOR_NOISE
from depthrepro.synth.drive import Drive
from depthrepro.synth.oxts import EARTH_RADIUS
from depthrepro.synth.presets import get_preset
from depthrepro.synth.rig import COLOUR_BASELINE


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tiny_root: Path, tiny_root_parallel: Path) -> None:
    first, second = _hashes(tiny_root), _hashes(tiny_root_parallel)
    print(f"\n{len(first)} files compared")
    assert len(first) > 100
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"files differ between renders: {differing[:5]}"


def test_every_frame_has_kitti_raw_files(tiny_root: Path) -> None:
    manifest = json.loads((tiny_root / "manifest.json").read_text())
    preset = get_preset("tiny")
    assert [d["folder"] for d in manifest["drives"]] == [d.folder for d in preset.drives]
    for drive in manifest["drives"]:
        folder = drive["folder"]
        for name in ("calib_cam_to_cam.txt", "calib_velo_to_cam.txt", "calib_imu_to_velo.txt"):
            assert (calib_dir(tiny_root, folder) / name).is_file()
        for frame in range(drive["frames"]):
            for side in ("l", "r"):
                image = cv2.imread(str(image_path(tiny_root, folder, frame, side, "png")), cv2.IMREAD_UNCHANGED)
                assert image.shape == (preset.height, preset.width, 3) and image.dtype == np.uint8
                assert annotated_depth_path(tiny_root, folder, frame, side).is_file() == (
                    frame in drive["annotated_frames"])
            assert velodyne_path(tiny_root, folder, frame).stat().st_size % 16 == 0
            assert oxts_path(tiny_root, folder, frame).is_file()
        stamps = (tiny_root / folder / "image_02" / "timestamps.txt").read_text().splitlines()
        assert len(stamps) == drive["frames"]
    assert (tiny_root / "figure_sheet.png").stat().st_size > 10_000


def test_splits_follow_eigen_conventions(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    splits = tiny_root / "splits"
    test = read_split_file(splits / "eigen" / "test_files.txt")
    benchmark = read_split_file(splits / "eigen_benchmark" / "test_files.txt")
    train = read_split_file(splits / "eigen_zhou" / "train_files.txt")
    val = read_split_file(splits / "eigen_zhou" / "val_files.txt")
    print(f"\neigen test {len(test)}, eigen_benchmark {len(benchmark)}, eigen_zhou train {len(train)} val {len(val)}")
    assert test and benchmark and train and val
    assert {e.folder for e in test}.isdisjoint({e.folder for e in train + val})
    assert set(benchmark) < set(test)
    for entry in benchmark:
        assert annotated_depth_path(tiny_root, entry.folder, entry.frame, "l").is_file()
    assert any(not annotated_depth_path(tiny_root, e.folder, e.frame, "l").is_file() for e in test)
    assert set(train).isdisjoint(val)
    for entry in train + val:
        drive = tiny_drives[entry.folder]
        positions = drive.trajectory.T_world_from_imu[:, :3, 3]
        step = np.linalg.norm(positions[entry.frame + 1] - positions[entry.frame - 1])
        assert step > 0.2, f"static frame {entry} in eigen_zhou"
        assert entry.frame not in drive.trajectory.static_frames()
    static = [f for d in tiny_drives.values() if d.spec.role == "train" for f in d.trajectory.static_frames()]
    assert static, "the tiny train drive must contain a stop"
    full = read_split_file(splits / "eigen_full" / "train_files.txt") + read_split_file(
        splits / "eigen_full" / "val_files.txt")
    train_drives = [d for d in tiny_drives.values() if d.spec.role == "train"]
    assert len(full) == len(set(full)) == sum(2 * (d.frames - 2) for d in train_drives)  # both cameras, statics kept
    for entry in test + train + val + full:
        assert 1 <= entry.frame < tiny_drives[entry.folder].frames - 1
        assert image_path(tiny_root, entry.folder, entry.frame, entry.side, "png").is_file()


def test_calibration_is_kitti_like(tiny_root: Path) -> None:
    preset = get_preset("tiny")
    for date in preset.dates:
        cam = read_calib_file(tiny_root / date / "calib_cam_to_cam.txt")
        velo = read_calib_file(tiny_root / date / "calib_velo_to_cam.txt")
        p2, p3 = cam["P_rect_02"].reshape(3, 4), cam["P_rect_03"].reshape(3, 4)
        fx = p2[0, 0]
        assert fx == pytest.approx(0.58 * preset.width, rel=1e-6)
        assert p2[1, 1] == pytest.approx(1.92 * preset.height, rel=1e-6)
        assert p2[0, 2] == pytest.approx(0.5 * preset.width) and p2[1, 2] == pytest.approx(0.5 * preset.height)
        assert (p2[0, 3] - p3[0, 3]) / fx == pytest.approx(COLOUR_BASELINE, abs=1e-5)
        assert COLOUR_BASELINE == pytest.approx(0.54)
        assert p2[2, 3] == 0 and p3[2, 3] == 0
        np.testing.assert_array_equal(cam["S_rect_02"], [preset.width, preset.height])
        np.testing.assert_allclose(cam["R_rect_00"].reshape(3, 3), np.eye(3))
        rotation = velo["R"].reshape(3, 3)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)
        np.testing.assert_allclose(rotation, [[0, -1, 0], [0, 0, -1], [1, 0, 0]], atol=0.01)
        lidar_in_camera = -rotation.T @ velo["T"]
        assert lidar_in_camera[0] == pytest.approx(0.27, abs=0.02)
        assert lidar_in_camera[2] == pytest.approx(-0.08, abs=0.02)


def test_oxts_matches_the_motion(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    for folder, drive in tiny_drives.items():
        records = np.stack([read_oxts(oxts_path(tiny_root, folder, f)) for f in range(drive.frames)])
        lat, lon = records[:, 0], records[:, 1]
        scale = np.cos(np.deg2rad(lat[0]))
        mx = scale * EARTH_RADIUS * np.deg2rad(lon)
        my = scale * EARTH_RADIUS * np.log(np.tan(np.deg2rad(90.0 + lat) / 2.0))
        from_oxts = np.hypot(np.diff(mx), np.diff(my))
        positions = drive.trajectory.T_world_from_imu[:, :3, 3]
        truth = np.linalg.norm(np.diff(positions[:, :2], axis=0), axis=1)
        print(f"\n{folder}: max step error {np.abs(from_oxts - truth).max() * 1000:.3f} mm over {truth.sum():.2f} m")
        np.testing.assert_allclose(from_oxts, truth, atol=1e-3)
        np.testing.assert_allclose(records[:, 5], drive.trajectory.yaw)
        np.testing.assert_allclose(records[:, 8], drive.trajectory.speed)


def test_annotated_depth_is_exact_and_semi_dense(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    for folder, drive in tiny_drives.items():
        frame = drive.preset.annotated_margin
        gt = read_depth_png(annotated_depth_path(tiny_root, folder, frame, "l"))
        exact = drive.render_camera(frame, 2).depth
        valid = gt > 0
        density = valid.mean()
        print(f"\n{folder} frame {frame}: annotated density {density:.3f}, max {gt.max():.1f} m")
        assert 0.1 < density < 0.5
        np.testing.assert_allclose(gt[valid], exact[valid], atol=1.0 / 256)
        assert gt.max() <= 80.0


def test_sensor_noise_level_is_a_parameter(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    """The stored images use the default noise; other levels scale the same noise draw (clean image + noise)."""
    folder, drive = next(iter(tiny_drives.items()))
    stored = cv2.imread(str(image_path(tiny_root, folder, 0, "l", "png")), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(drive.render_camera(0, 2).rgb, stored)
    clean, once, twice = (drive.render_camera(0, 2, sensor_noise=s).rgb.astype(float)
                          for s in (0.0, SENSOR_NOISE, 2 * SENSOR_NOISE))
    inside = (clean > 10) & (clean < 245)  # away from clipping
    noise_once, noise_twice = (once - clean)[inside], (twice - clean)[inside]
    assert noise_once.std() == pytest.approx(SENSOR_NOISE, rel=0.1)
    assert noise_twice.std() == pytest.approx(2 * SENSOR_NOISE, rel=0.1)
    assert np.corrcoef(noise_once, noise_twice)[0, 1] > 0.9
