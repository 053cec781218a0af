"""Culling windows never change the result: windowed casts equal brute-force casts over every ray.

Overlapping coplanar pieces (consecutive pavement segments) tie exactly; a tie may go to either piece,
so object ids are compared through their material where distances are equal.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthrepro.synth.camera import FAR, camera_windows, pixel_rays
from depthrepro.synth.drive import Drive
from depthrepro.synth.lidar import lidar_windows
from depthrepro.synth.raycast import Hits, Window, cast
from depthrepro.synth.scene import Boxes, Geometry, Material, Spheres


def _assert_same_hits(fast: Hits, slow: Hits, geometry: Geometry) -> None:
    np.testing.assert_array_equal(fast.t, slow.t)
    materials = np.concatenate([[-2, int(Material.ASPHALT)], geometry.boxes.material, geometry.spheres.material])
    np.testing.assert_array_equal(materials[fast.object_id + 1], materials[slow.object_id + 1])


def _everything(geometry: Geometry, rows: int, cols: int) -> list[Window]:
    count = geometry.boxes.count + geometry.spheres.count
    return [Window(i + 1, slice(0, rows), slice(0, cols), 0.0) for i in range(count)]


def test_camera_windows_are_conservative(tiny_drives: dict[str, Drive]) -> None:
    for drive in tiny_drives.values():
        for frame in (0, drive.frames - 1):
            geometry = drive.scene.geometry_at(float(drive.trajectory.times[frame]))
            pose = drive.T_world_from_camera(frame, 2)
            width, height = drive.rig.width, drive.rig.height
            dirs = (pixel_rays(drive.rig.K, width, height) @ pose[:3, :3].T).astype(np.float32)
            windows = camera_windows(geometry, pose, drive.rig.K, width, height)
            fast = cast(pose[:3, 3], dirs, geometry, windows, FAR)
            slow = cast(pose[:3, 3], dirs, geometry, _everything(geometry, height, width), FAR)
            print(f"\n{drive.folder} frame {frame}: {len(windows)} windows, "
                  f"{sum((w.rows.stop - w.rows.start) * (w.cols.stop - w.cols.start) for w in windows) / dirs[..., 0].size:.1f} "
                  "rays per pixel tested")
            _assert_same_hits(fast, slow, geometry)


def test_lidar_windows_are_conservative(tiny_drives: dict[str, Drive]) -> None:
    drive = next(iter(tiny_drives.values()))
    spec = drive.lidar_spec()
    geometry = drive.scene.geometry_at(0.0)
    pose = drive.T_world_from_velo(0)
    dirs = (spec.directions() @ pose[:3, :3].T).astype(np.float32)
    fast = cast(pose[:3, 3], dirs, geometry, lidar_windows(geometry, pose, spec), spec.max_range)
    slow = cast(pose[:3, 3], dirs, geometry, _everything(geometry, *dirs.shape[:2]), spec.max_range)
    _assert_same_hits(fast, slow, geometry)


def test_single_box_and_sphere_distances() -> None:
    boxes = Boxes(center=np.array([[10.0, 0.0, 1.0]]), half=np.array([[1.0, 2.0, 1.0]]), yaw=np.array([np.pi / 2]),
                  material=np.array([int(Material.FACADE)], np.int32), albedo=np.ones((1, 3)), params=np.zeros((1, 6)))
    spheres = Spheres(center=np.array([[0.0, 10.0, 1.0]]), radius=np.array([2.0]),
                      material=np.array([int(Material.FOLIAGE)], np.int32), albedo=np.ones((1, 3)))
    geometry = Geometry(boxes=boxes, spheres=spheres, dynamic=np.zeros(1, bool))
    dirs = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.5, -0.1]]], np.float32)
    hits = cast(np.array([0.0, 0.0, 1.0]), dirs, geometry, _everything(geometry, 1, 4), 1000.0)
    np.testing.assert_array_equal(hits.object_id[0], [1, 2, -1, 0])
    assert hits.t[0, 0] == pytest.approx(8.0)
    assert hits.t[0, 1] == pytest.approx(8.0)
    assert hits.t[0, 3] == pytest.approx(10.0)
