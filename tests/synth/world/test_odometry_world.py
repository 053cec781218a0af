"""Synthetic KITTI odometry: files agree with the renderer (warps, poses, calibration, depth, moving masks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.io.kitti import read_depth_png
from depthrepro.io.kitti_odometry import (
    ANNOTATED_MARGIN,
    MASK_SIZE,
    annotated_depth_path,
    centre_crop_box,
    image_path,
    load_odometry_sequence,
    mvobj_mask_path,
    read_keyframes,
    read_mvobj_mask,
    read_odom_split,
)
from depthrepro.synth.drive import Drive
from depthrepro.synth.kitti_odometry import build_sequence, moving_object_mask, odometry_preset

PRESET = odometry_preset("tiny")


@pytest.fixture(scope="module")
def odometry_root(tiny_world: Path) -> Path:
    return tiny_world / "kitti_odometry"


@pytest.fixture(scope="module")
def sequences() -> list[Drive]:
    return [build_sequence("tiny", 0, s) for s in range(len(PRESET.sequences))]


def test_layout_and_times(odometry_root: Path, sequences: list[Drive]) -> None:
    for number, drive in enumerate(sequences):
        loaded = load_odometry_sequence(odometry_root, number)
        assert loaded.frames == drive.frames
        for frame in range(drive.frames):
            for camera in (2, 3):
                image = cv2.imread(str(image_path(odometry_root, number, frame, camera)), cv2.IMREAD_UNCHANGED)
                assert image.shape == (PRESET.height, PRESET.width, 3) and image.dtype == np.uint8
        np.testing.assert_allclose(loaded.times, np.arange(drive.frames) / 10.0, atol=1e-6)
        lines = (odometry_root / "sequences" / f"{number:02d}" / "times.txt").read_text().splitlines()
        assert lines[1] == "1.000000e-01"
        assert loaded.annotated == tuple(range(ANNOTATED_MARGIN, drive.frames - ANNOTATED_MARGIN))
    assert (odometry_root / "figure_sheet.png").stat().st_size > 10_000


def test_calib_round_trips_the_rig(odometry_root: Path, sequences: list[Drive]) -> None:
    for number, drive in enumerate(sequences):
        calib = load_odometry_sequence(odometry_root, number).calib
        first = (odometry_root / "sequences" / f"{number:02d}" / "calib.txt").read_text().splitlines()[0]
        assert first.startswith("P0: ") and len(first.split()) == 13 and "e+02" in first.split()[1]
        for camera in range(4):
            np.testing.assert_allclose(calib.K(camera), drive.rig.K, rtol=1e-12)
            np.testing.assert_allclose(calib.T_cam_from_cam0(camera), drive.rig.T_cam_from_cam0(camera), atol=1e-12)
        np.testing.assert_allclose(calib.T_cam0_from_velo(), drive.rig.T_cam0_from_velo, atol=1e-12)
        baseline = calib.T_cam_from_cam0(2)[0, 3] - calib.T_cam_from_cam0(3)[0, 3]
        assert baseline == pytest.approx(0.54)


def test_poses_and_dvso_poses_follow_the_rendered_motion(odometry_root: Path, sequences: list[Drive]) -> None:
    for number, drive in enumerate(sequences):
        loaded = load_odometry_sequence(odometry_root, number)
        np.testing.assert_allclose(loaded.poses[0], np.eye(4), atol=1e-12)
        np.testing.assert_allclose(loaded.dvso_poses[0], np.eye(4), atol=1e-12)
        S = loaded.calib.T_cam_from_cam0(2)
        worst = 0.0
        for frame in range(1, drive.frames):
            for poses, camera in ((loaded.poses, 0), (loaded.dvso_poses, 2)):
                T_frame_from_first = np.linalg.inv(poses[frame])
                truth = drive.relative_pose(0, frame, camera)
                worst = max(worst, float(np.abs(T_frame_from_first - truth).max()))
            np.testing.assert_allclose(loaded.dvso_poses[frame], S @ loaded.poses[frame] @ np.linalg.inv(S), atol=1e-9)
        travelled = np.linalg.norm(loaded.poses[-1][:3, 3])
        print(f"\nsequence {number:02d}: {travelled:.2f} m, worst pose entry error {worst:.1e}")
        assert worst < 1e-9
        assert loaded.poses[-1][2, 3] > 3.0, "camera 0 looks along +z: the ego must move forward"


def test_warping_neighbours_with_gt_depth_and_dvso_poses(odometry_root: Path, sequences: list[Drive],
                                                          warp_error: Callable, rgb_reader: Callable) -> None:
    for number, drive in enumerate(sequences):
        loaded = load_odometry_sequence(odometry_root, number)
        K = loaded.calib.K(2)
        for target in (3, drive.frames // 2, drive.frames - 4):
            rendered_t = drive.render_camera(target, 2)
            image_t = rgb_reader(image_path(odometry_root, number, target, 2))
            for source in (target - 1, target + 1):
                rendered_s = drive.render_camera(source, 2)
                T_s_from_t = np.linalg.inv(loaded.dvso_poses[source]) @ loaded.dvso_poses[target]
                warped, identity, scored = warp_error(
                    image_t, rgb_reader(image_path(odometry_root, number, source, 2)), rendered_t.depth,
                    rendered_s.depth, K, T_s_from_t, ~rendered_t.dynamic, ~rendered_s.dynamic)
                print(f"\nsequence {number:02d} {source}->{target}: warped {warped:.2f}, unwarped {identity:.2f} "
                      f"grey levels on {scored:.0%} of pixels")
                assert scored > 0.4
                assert warped < 4.0
                assert warped < 0.5 * identity


def test_annotated_depth_is_exact_and_only_inside_the_margin(odometry_root: Path, sequences: list[Drive]) -> None:
    for number, drive in enumerate(sequences):
        for frame in range(drive.frames):
            path = annotated_depth_path(odometry_root, number, frame)
            assert path.is_file() == (ANNOTATED_MARGIN <= frame < drive.frames - ANNOTATED_MARGIN)
        frame = ANNOTATED_MARGIN
        gt = read_depth_png(annotated_depth_path(odometry_root, number, frame))
        exact = drive.render_camera(frame, 2).depth
        valid = gt > 0
        print(f"\nsequence {number:02d} frame {frame}: annotated density {valid.mean():.3f}")
        assert 0.1 < valid.mean() < 0.5
        np.testing.assert_allclose(gt[valid], exact[valid], atol=0.5 / 256 + 1e-6)


def _nearest_reference(dynamic: np.ndarray) -> np.ndarray:
    """The crop-and-resize done independently: nearest sample of the full mask at each output pixel centre."""
    height, width = dynamic.shape
    left, top, right, bottom = centre_crop_box(width, height)
    cols = left + np.floor((np.arange(MASK_SIZE[1]) + 0.5) * (right - left) / MASK_SIZE[1]).astype(int)
    rows = top + np.floor((np.arange(MASK_SIZE[0]) + 0.5) * (bottom - top) / MASK_SIZE[0]).astype(int)
    return dynamic[np.ix_(rows, cols)]


def test_moving_object_masks_cover_exactly_the_moving_cars(odometry_root: Path, sequences: list[Drive]) -> None:
    with_cars, without_cars = 0, 0
    ious = []
    for number, drive in enumerate(sequences):
        for frame in range(drive.frames):
            mask = np.load(mvobj_mask_path(odometry_root, number, frame))
            assert mask.dtype == np.float32 and mask.shape == MASK_SIZE
            assert set(np.unique(mask).tolist()) <= {0.0, 1.0}
            np.testing.assert_array_equal(read_mvobj_mask(mvobj_mask_path(odometry_root, number, frame)), mask)
            dynamic = drive.render_camera(frame, 2).dynamic
            np.testing.assert_array_equal(mask, moving_object_mask(dynamic))
            reference = _nearest_reference(dynamic)
            if not reference.any():
                without_cars += 1
                assert not mask.any(), f"sequence {number:02d} frame {frame}: mask set with no moving car in view"
                continue
            with_cars += 1
            if reference.sum() >= 200:
                binary = mask > 0.5
                ious.append(float((binary & reference).sum() / (binary | reference).sum()))
    print(f"\n{with_cars} frames with moving cars in the crop, {without_cars} without; "
          f"IoU with an independent nearest resize: min {min(ious):.3f}, mean {np.mean(ious):.3f}")
    assert with_cars >= 5 and without_cars >= 5
    assert min(ious) > 0.85 and np.mean(ious) > 0.92


def test_manifest_records_moving_frames(odometry_root: Path, sequences: list[Drive]) -> None:
    manifest = json.loads((odometry_root / "manifest.json").read_text())
    for entry, drive in zip(manifest["sequences"], sequences):
        number = int(entry["sequence"])
        moving = [f for f in range(drive.frames) if np.load(mvobj_mask_path(odometry_root, number, f)).any()]
        assert entry["moving_object_frames"] == moving
        assert entry["role"] == drive.spec.role


def test_splits_separate_train_and_test_sequences(odometry_root: Path, sequences: list[Drive]) -> None:
    splits = odometry_root / "splits"
    train = read_keyframes(splits / "odometry" / "train_files.txt")
    test = read_keyframes(splits / "odometry" / "test_files.txt")
    roles = {number: drive.spec.role for number, drive in enumerate(sequences)}
    assert train and test
    assert {k.sequence for k in train}.isdisjoint({k.sequence for k in test})
    assert all(roles[k.sequence] == "train" for k in train) and all(roles[k.sequence] == "test" for k in test)
    for keyframe in train + test:
        assert annotated_depth_path(odometry_root, keyframe.sequence, keyframe.frame).is_file()
        assert ANNOTATED_MARGIN <= keyframe.frame < sequences[keyframe.sequence].frames - ANNOTATED_MARGIN
    assert (splits / "odometry" / "test_files.txt").read_text().splitlines()[0] == f"{test[0].sequence:02d} 5"
    odom_train = read_odom_split(splits / "odom" / "train_files.txt")
    odom_val = read_odom_split(splits / "odom" / "val_files.txt")
    assert odom_train and odom_val and set(odom_train).isdisjoint(odom_val)
    for entry in odom_train + odom_val:
        assert roles[entry.sequence] == "train" and 1 <= entry.frame < sequences[entry.sequence].frames - 1
    for number, role in roles.items():
        path = splits / "odom" / f"test_files_{number:02d}.txt"
        assert path.is_file() == (role == "test")
        if role == "test":
            lines = path.read_text().splitlines()
            assert lines[0] == f"{number} 0 l" and len(lines) == sequences[number].frames - 1
