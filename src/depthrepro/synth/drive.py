"""A drive: street scene, ego trajectory and rig of one KITTI-raw drive folder, rebuilt exactly from
(preset, seed, drive index); with the exact camera renders and LiDAR scans of its frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from depthrepro.synth.camera import SENSOR_NOISE, CameraFrame, render_view
from depthrepro.synth.lidar import LidarSpec, hdl64_elevations, scan
from depthrepro.synth.presets import DriveSpec, Preset, get_preset
from depthrepro.synth.rig import Rig, invert_rigid, kitti_rig
from depthrepro.synth.road import curvy_road
from depthrepro.synth.scene import Scene
from depthrepro.synth.street import street_scene
from depthrepro.synth.textures import texture_bank
from depthrepro.synth.trajectory import Trajectory, ego_trajectory

STREET_BEHIND = 80.0
STREET_AHEAD = 180.0
CAMERA_SIDES = {"l": 2, "r": 3}


@dataclass(frozen=True)
class Drive:
    """Everything needed to render or check one drive; ``index`` is its position in the preset."""

    preset: Preset
    seed: int
    index: int
    spec: DriveSpec
    rig: Rig
    scene: Scene
    trajectory: Trajectory

    @property
    def frames(self) -> int:
        return self.spec.frames

    @property
    def folder(self) -> str:
        return self.spec.folder

    def T_world_from_camera(self, frame: int, camera: int) -> np.ndarray:
        """(4, 4) pose of rectified camera ``camera`` (0..3) at ``frame``."""
        return self.trajectory.T_world_from_imu[frame] @ self.rig.T_imu_from_cam(camera)

    def T_world_from_velo(self, frame: int) -> np.ndarray:
        """(4, 4) pose of the Velodyne at ``frame``."""
        return self.trajectory.T_world_from_imu[frame] @ self.rig.T_imu_from_velo()

    def relative_pose(self, frame_from: int, frame_to: int, camera: int) -> np.ndarray:
        """(4, 4) ``T_to_from``: maps camera points at ``frame_from`` to camera coordinates at ``frame_to``."""
        return invert_rigid(self.T_world_from_camera(frame_to, camera)) @ self.T_world_from_camera(frame_from, camera)

    def render_camera(self, frame: int, camera: int, sensor_noise: float = SENSOR_NOISE) -> CameraFrame:
        """Exact render of camera 2 or 3 (or 0/1 in colour) at ``frame``: image, depth, ids, dynamic mask.
        ``sensor_noise``: the pixel noise's standard deviation (grey levels); the dataset's images use the
        default."""
        geometry = self.scene.geometry_at(float(self.trajectory.times[frame]))
        noise_rng = np.random.default_rng([self.seed, 303, self.index, frame, camera])
        return render_view(geometry, self.scene.sun, texture_bank(self.seed), self.T_world_from_camera(frame, camera),
                           self.rig.K, self.rig.width, self.rig.height, noise_rng, sensor_noise)

    def lidar_spec(self) -> LidarSpec:
        return LidarSpec(elevations_deg=hdl64_elevations(), azimuth_step_deg=self.preset.lidar_azimuth_step_deg)

    def scan_lidar(self, frame: int) -> np.ndarray:
        """(N, 4) float32 Velodyne points (x, y, z, reflectance) in the Velodyne frame at ``frame``."""
        geometry = self.scene.geometry_at(float(self.trajectory.times[frame]))
        rng = np.random.default_rng([self.seed, 404, self.index, frame])
        return scan(geometry, self.T_world_from_velo(frame), self.lidar_spec(), rng)


@lru_cache(maxsize=16)
def rig_for_date(preset_name: str, seed: int, date: str) -> Rig:
    """The calibration shared by all drives of ``date``."""
    preset = get_preset(preset_name)
    rng = np.random.default_rng([seed, 101, preset.dates.index(date)])
    return kitti_rig(preset.width, preset.height, rng)


@lru_cache(maxsize=16)
def build_drive(preset_name: str, seed: int, index: int) -> Drive:
    """Rebuild drive ``index`` of ``preset_name`` for ``seed``; identical on every call and machine."""
    preset = get_preset(preset_name)
    spec = preset.drives[index]
    rig = rig_for_date(preset_name, seed, spec.date)
    rng = np.random.default_rng([seed, 202, index])
    travel = spec.cruise_speed * 1.2 * spec.frames / 10.0
    road = curvy_road(rng, -STREET_BEHIND, travel + STREET_AHEAD, (10.0, travel + 60.0))
    trajectory = ego_trajectory(spec, road, rig.imu_height, rng)
    duration = float(trajectory.times[-1])
    scene = street_scene(road, rng, float(trajectory.s[-1]), duration, spec.cruise_speed)
    return Drive(preset=preset, seed=seed, index=index, spec=spec, rig=rig, scene=scene, trajectory=trajectory)


def load_drives(root: Path) -> dict[str, Drive]:
    """Every drive of a rendered dataset, keyed by KITTI folder, rebuilt from ``root/manifest.json``."""
    manifest_path = Path(root) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    try:
        preset_name, seed = manifest["preset"], int(manifest["seed"])
    except KeyError as missing:
        raise ValueError(f"{manifest_path}: missing key {missing}") from None
    preset = get_preset(preset_name)
    return {spec.folder: build_drive(preset_name, seed, i) for i, spec in enumerate(preset.drives)}
