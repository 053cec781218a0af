"""Exact depth, poses, stereo rig and LiDAR agree with the written images: warps and projections."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.kitti import calib_dir, image_path, read_calib_file, read_velodyne, velodyne_path
from depthrepro.synth.drive import CAMERA_SIDES, Drive, build_drive
from depthrepro.synth.rig import invert_rigid

SIDE_OF_CAMERA = {camera: side for side, camera in CAMERA_SIDES.items()}


def _read_rgb(root: Path, drive: Drive, frame: int, camera: int) -> np.ndarray:
    bgr = cv2.imread(str(image_path(root, drive.folder, frame, SIDE_OF_CAMERA[camera], "png")))
    return bgr[..., ::-1].astype(np.float32)


def _warp_errors(root: Path, drive: Drive, target: tuple[int, int], source: tuple[int, int]) -> tuple[float, float, float]:
    """Mean absolute error (grey levels) of source warped into target with exact depth and pose, the same
    without warping, and the fraction of pixels scored (static, visible in both, inside the source)."""
    (t_frame, t_cam), (s_frame, s_cam) = target, source
    rendered_t, rendered_s = drive.render_camera(t_frame, t_cam), drive.render_camera(s_frame, s_cam)
    image_t, image_s = _read_rgb(root, drive, t_frame, t_cam), _read_rgb(root, drive, s_frame, s_cam)
    np.testing.assert_array_equal(image_t.astype(np.uint8), rendered_t.rgb)
    K = drive.rig.K
    height, width = rendered_t.depth.shape
    T_s_from_t = invert_rigid(drive.T_world_from_camera(s_frame, s_cam)) @ drive.T_world_from_camera(t_frame, t_cam)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    depth = np.where(np.isfinite(rendered_t.depth), rendered_t.depth, 1.0)
    points = np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], axis=-1)
    moved = points @ T_s_from_t[:3, :3].T + T_s_from_t[:3, 3]
    us = K[0, 0] * moved[..., 0] / moved[..., 2] + K[0, 2]
    vs = K[1, 1] * moved[..., 1] / moved[..., 2] + K[1, 2]
    warped = cv2.remap(image_s, us.astype(np.float32), vs.astype(np.float32), cv2.INTER_LINEAR)
    inside = (us > 1) & (us < width - 2) & (vs > 1) & (vs < height - 2) & (moved[..., 2] > 0.1)
    ui = np.clip(np.rint(us), 0, width - 1).astype(int)
    vi = np.clip(np.rint(vs), 0, height - 1).astype(int)
    visible = np.abs(rendered_s.depth[vi, ui] - moved[..., 2]) < 0.02 * moved[..., 2]
    valid = np.isfinite(rendered_t.depth) & ~rendered_t.dynamic & ~rendered_s.dynamic[vi, ui] & inside & visible
    warped_error = float(np.abs(warped - image_t).mean(axis=-1)[valid].mean())
    identity_error = float(np.abs(image_s - image_t).mean(axis=-1)[valid].mean())
    return warped_error, identity_error, float(valid.mean())


def test_temporal_warp_with_exact_depth_and_pose(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    for drive in tiny_drives.values():
        for target in range(1, drive.frames - 1):
            for source in (target - 1, target + 1):
                moved = np.linalg.norm(drive.relative_pose(target, source, 2)[:3, 3])
                if moved < 0.2:
                    continue
                warped, identity, scored = _warp_errors(tiny_root, drive, (target, 2), (source, 2))
                print(f"\n{drive.folder} {source}->{target} ({moved:.2f} m): warped {warped:.2f}, "
                      f"unwarped {identity:.2f} grey levels on {scored:.0%} of pixels")
                assert scored > 0.5
                assert warped < 4.0
                assert warped < 0.5 * identity


def test_stereo_warp_with_exact_depth(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    for drive in tiny_drives.values():
        for frame in (0, drive.frames - 1):
            warped, identity, scored = _warp_errors(tiny_root, drive, (frame, 2), (frame, 3))
            print(f"\n{drive.folder} frame {frame} right->left: warped {warped:.2f}, unwarped {identity:.2f} "
                  f"grey levels on {scored:.0%} of pixels")
            assert scored > 0.5
            assert warped < 4.0
            assert warped < 0.3 * identity


def test_velodyne_projects_onto_rendered_depth(tiny_root: Path, tiny_drives: dict[str, Drive]) -> None:
    """Points projected with the written calibration (``P_rect_02 R_rect_00 [R|T]``) lie on the rendered
    surface: camera-2 depth equals the exact depth at the projected sub-pixel position."""
    for folder, drive in tiny_drives.items():
        cam = read_calib_file(calib_dir(tiny_root, folder) / "calib_cam_to_cam.txt")
        velo = read_calib_file(calib_dir(tiny_root, folder) / "calib_velo_to_cam.txt")
        velo_to_cam = np.eye(4)
        velo_to_cam[:3, :3], velo_to_cam[:3, 3] = velo["R"].reshape(3, 3), velo["T"]
        rect = np.eye(4)
        rect[:3, :3] = cam["R_rect_00"].reshape(3, 3)
        projection = cam["P_rect_02"].reshape(3, 4) @ rect @ velo_to_cam
        width, height = cam["S_rect_02"].astype(int)
        for frame in (0, drive.frames - 1):
            points = read_velodyne(velodyne_path(tiny_root, folder, frame))
            points = points[points[:, 0] >= 0]
            image = np.c_[points[:, :3], np.ones(len(points))] @ projection.T
            z = image[:, 2]
            u, v = image[:, 0] / z, image[:, 1] / z
            inside = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1) & (z > 0)
            depth = drive.render_camera(frame, 2).depth
            inverse = np.where(np.isfinite(depth), 1.0 / depth, 0.0).astype(np.float32)
            sampled = cv2.remap(inverse, u[inside].astype(np.float32)[None], v[inside].astype(np.float32)[None],
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
            relative = np.abs(1.0 / np.maximum(sampled, 1e-9) - z[inside]) / z[inside]
            lidar_minus_camera = float(np.mean(points[inside, 0] - z[inside]))
            print(f"\n{folder} frame {frame}: {inside.sum()} points in view, median depth error "
                  f"{np.median(relative):.2%}, {np.mean(relative < 0.01):.1%} within 1%, "
                  f"LiDAR x - camera z = {lidar_minus_camera:.3f} m")
            assert inside.sum() > 2000
            assert np.median(relative) < 0.003
            assert np.mean(relative < 0.01) > 0.88
            assert 0.2 < lidar_minus_camera < 0.35


def test_scan_has_kitti_like_statistics(tiny_drives: dict[str, Drive]) -> None:
    drive = next(iter(tiny_drives.values()))
    points = drive.scan_lidar(0)
    ranges = np.linalg.norm(points[:, :3], axis=1)
    elevation = np.degrees(np.arcsin(points[:, 2] / ranges))
    print(f"\n{len(points)} points, range {ranges.min():.1f}-{ranges.max():.1f} m, elevation "
          f"{elevation.min():.1f}..{elevation.max():.1f} deg, reflectance {points[:, 3].min():.2f}-{points[:, 3].max():.2f}")
    assert points.dtype == np.float32 and points.shape[1] == 4
    assert ranges.max() <= 120.1 and ranges.min() >= 1.9
    assert elevation.max() < 2.6 and elevation.min() > -25.5
    assert 0.0 <= points[:, 3].min() and points[:, 3].max() <= 1.0


def test_full_resolution_frame_renders_fast() -> None:
    drive = build_drive("default", 0, 0)
    drive.render_camera(0, 2)
    start = time.process_time()
    frame = drive.render_camera(5, 2)
    seconds = time.process_time() - start
    print(f"\n1242x375 frame: {seconds:.2f} s CPU")
    assert frame.rgb.shape == (375, 1242, 3)
    assert seconds < 2.0
