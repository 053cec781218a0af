"""Synthetic NYUv2: training video, intrinsics, poses and test depth agree with the renderer; walls carry
enough texture for SIFT."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.io.kitti_odometry import read_poses
from depthrepro.io.nyuv2 import (
    DEPTH_PNG_SCALE,
    cam_path,
    labelled_color_path,
    labelled_depth_path,
    read_cam_txt,
    read_depth_png,
    read_gt_depths,
    read_nyu_split,
    scene_poses_path,
    training_image_path,
)
from depthrepro.synth.nyuv2 import IndoorScene, build_scene, held_out_views, nyu_preset

PRESET = nyu_preset("tiny")


@pytest.fixture(scope="module")
def nyu_root(tiny_world: Path) -> Path:
    return tiny_world / "nyuv2"


@pytest.fixture(scope="module")
def scenes() -> list[IndoorScene]:
    return [build_scene("tiny", 0, room) for room in range(len(PRESET.train_rooms) + len(PRESET.test_rooms))]


def test_training_layout_and_intrinsics(nyu_root: Path, scenes: list[IndoorScene]) -> None:
    training = scenes[: len(PRESET.train_rooms)]
    assert sorted(p.name for p in (nyu_root / "Training").iterdir()) == sorted(s.name for s in training)
    for scene in training:
        frames = sorted((nyu_root / "Training" / scene.name).glob("*.jpg"))
        assert [p.name for p in frames] == [f"{f:06d}.jpg" for f in range(PRESET.frames)]
        image = cv2.imread(str(frames[0]))
        assert image.shape == (PRESET.height, PRESET.width, 3)
        K = read_cam_txt(cam_path(nyu_root, scene.name))
        scale = PRESET.width / 640
        np.testing.assert_allclose(K, [[518.8579 * scale, 0, 325.5824 * scale], [0, 519.4696 * scale, 253.7362 * scale],
                                       [0, 0, 1]], rtol=1e-9)
        depth = scene.render(0).depth
        ray = np.linalg.inv(K) @ np.array([10.0, 20.0, 1.0])
        point_world = scene.poses[0] @ np.append(ray * depth[20, 10], 1.0)
        reprojected = K @ (np.linalg.inv(scene.poses[0]) @ point_world)[:3]
        np.testing.assert_allclose(reprojected[:2] / reprojected[2], [10.0, 20.0], atol=1e-6)
    manifest = json.loads((nyu_root / "manifest.json").read_text())
    assert [s["scene"] for s in manifest["scenes"]] == [s.name for s in scenes]
    assert (nyu_root / "figure_sheet.png").stat().st_size > 10_000


def test_camera_motion_is_handheld(nyu_root: Path, scenes: list[IndoorScene]) -> None:
    rotations, translations = [], []
    for scene in scenes[: len(PRESET.train_rooms)]:
        poses = read_poses(scene_poses_path(nyu_root, scene.name))
        np.testing.assert_allclose(poses, scene.poses, atol=1e-9)
        for a, b in itertools.pairwise(poses):
            relative = np.linalg.inv(b) @ a
            rotations.append(np.degrees(np.arccos(np.clip((np.trace(relative[:3, :3]) - 1) / 2, -1, 1))))
            translations.append(np.linalg.norm(relative[:3, 3]))
        x0, x1, y0, y1 = scene.room.free
        assert np.all((poses[:, 0, 3] >= x0) & (poses[:, 0, 3] <= x1) & (poses[:, 1, 3] >= y0) & (poses[:, 1, 3] <= y1))
    print(f"\nper-frame rotation {np.mean(rotations):.1f} deg (max {np.max(rotations):.1f}), "
          f"translation {np.mean(translations) * 100:.1f} cm (max {np.max(translations) * 100:.1f})")
    assert 1.0 < np.mean(rotations) < 8.0
    assert 0.005 < np.mean(translations) < 0.08


def test_warping_consecutive_frames_with_gt_depth_and_pose(nyu_root: Path, scenes: list[IndoorScene],
                                                           warp_error: Callable, rgb_reader: Callable) -> None:
    for scene in scenes[: len(PRESET.train_rooms)]:
        K = read_cam_txt(cam_path(nyu_root, scene.name))
        poses = read_poses(scene_poses_path(nyu_root, scene.name))
        for target in (1, PRESET.frames - 2):
            depth_t = scene.render(target).depth
            image_t = rgb_reader(training_image_path(nyu_root, scene.name, target))
            for source in (target - 1, target + 1):
                T_s_from_t = np.linalg.inv(poses[source]) @ poses[target]
                everywhere = np.ones(depth_t.shape, bool)
                warped, identity, scored = warp_error(
                    image_t, rgb_reader(training_image_path(nyu_root, scene.name, source)), depth_t,
                    scene.render(source).depth, K, T_s_from_t, everywhere, everywhere)
                print(f"\n{scene.name} {source}->{target}: warped {warped:.2f}, unwarped {identity:.2f} grey levels "
                      f"on {scored:.0%} of pixels")
                assert scored > 0.6
                assert warped < 4.0
                assert warped < 0.5 * identity


def test_test_depth_decodes_to_the_rendered_depth(nyu_root: Path, scenes: list[IndoorScene],
                                                  rgb_reader: Callable) -> None:
    views = held_out_views(PRESET)
    tests = read_nyu_split(nyu_root / "splits" / "nyu" / "test_files.txt")
    assert [(e.scene, e.frame, e.side) for e in tests] == [("color", i, "l") for i in range(1, len(views) + 1)]
    gt = read_gt_depths(nyu_root / "splits" / "nyu" / "gt_depths.npz")
    assert gt.shape == (len(views), PRESET.height, PRESET.width)
    training = {s.name for s in scenes[: len(PRESET.train_rooms)]}
    for index, (room, frame) in enumerate(views, start=1):
        assert scenes[room].name not in training
        rendered = scenes[room].render(frame)
        np.testing.assert_array_equal(rgb_reader(labelled_color_path(nyu_root, index)).astype(np.uint8), rendered.rgb)
        raw = cv2.imread(str(labelled_depth_path(nyu_root, index)), cv2.IMREAD_ANYDEPTH)
        assert raw.dtype == np.uint16 and raw.min() > 0
        decoded = read_depth_png(labelled_depth_path(nyu_root, index))
        error = np.abs(decoded - rendered.depth).max()
        print(f"\ntest {index:04d}: depth {rendered.depth.min():.2f}..{rendered.depth.max():.2f} m, "
              f"PNG error {error * 1000:.3f} mm")
        assert error <= 0.5 / DEPTH_PNG_SCALE + 1e-6
        np.testing.assert_array_equal(gt[index - 1], rendered.depth)


def test_splits_follow_gasmono_conventions(nyu_root: Path) -> None:
    train = read_nyu_split(nyu_root / "splits" / "nyu" / "train_files.txt")
    val = read_nyu_split(nyu_root / "splits" / "nyu" / "val_files.txt")
    assert train and val and set(train).isdisjoint(val)
    assert {e.scene for e in val} <= {e.scene for e in train}
    first = (nyu_root / "splits" / "nyu" / "train_files.txt").read_text().splitlines()[0].split()
    assert len(first[1]) == 4 and first[2] == "l"
    for entry in train + val:
        assert 1 <= entry.frame <= PRESET.frames - 2
        assert training_image_path(nyu_root, entry.scene, entry.frame).is_file()


def test_walls_have_texture_for_sift(nyu_root: Path, scenes: list[IndoorScene]) -> None:
    sift = cv2.SIFT_create()
    matcher = cv2.BFMatcher()
    counts = []
    for scene in scenes[: len(PRESET.train_rooms)]:
        for frame in range(0, PRESET.frames - 1, 2):
            grey = [cv2.imread(str(training_image_path(nyu_root, scene.name, f)), cv2.IMREAD_GRAYSCALE)
                    for f in (frame, frame + 1)]
            (ka, da), (kb, db) = (sift.detectAndCompute(g, None) for g in grey)
            pairs = matcher.knnMatch(da, db, k=2) if len(ka) >= 2 and len(kb) >= 2 else []
            good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
            inliers = 0
            if len(good) >= 8:
                pa = np.float32([ka[m.queryIdx].pt for m in good])
                pb = np.float32([kb[m.trainIdx].pt for m in good])
                _, mask = cv2.findFundamentalMat(pa, pb, cv2.FM_RANSAC, 1.0, 0.999)
                inliers = 0 if mask is None else int(mask.sum())
            counts.append(inliers)
    print(f"\nSIFT inlier matches between consecutive frames: {counts}")
    assert np.median(counts) >= 60
    assert np.mean(np.array(counts) >= 30) >= 0.75
