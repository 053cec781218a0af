"""The synthetic world's exact answers for checking prepared data: depth on any pixel grid, camera poses.

A rendered tree's ``manifest.json`` names its generator (``dataset`` ``synthetic_*``), preset and seed, and
every drive, sequence and room is rebuilt exactly from them; ray casting them again gives the exact
z-depth of any pixel. ``world_of`` returns ``None`` for a tree that is not synthetic (real data), so
callers can say plainly that a check needs the synthetic world.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrepro.synth.camera import FAR, camera_windows, pixel_rays
from depthrepro.synth.drive import Drive, load_drives
from depthrepro.synth.kitti_odometry import build_sequence
from depthrepro.synth.nyuv2 import build_scene, held_out_views, nyu_K, nyu_preset
from depthrepro.synth.raycast import cast
from depthrepro.synth.scene import Geometry


@dataclass(frozen=True)
class World:
    """A synthetic tree's generator: ``dataset`` (e.g. ``synthetic_kitti_raw``), preset and seed."""

    root: Path
    dataset: str
    preset: str
    seed: int


def world_of(root: Path) -> World | None:
    """The generator of the tree at ``root``, or ``None`` when it is not a rendered synthetic tree."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    if not str(manifest.get("dataset", "")).startswith("synthetic"):
        return None
    try:
        return World(Path(root), manifest["dataset"], manifest["preset"], int(manifest["seed"]))
    except KeyError as missing:
        raise ValueError(f"{path}: synthetic tree without {missing}") from None


def resized_intrinsics(K: np.ndarray, width: int, height: int, out_width: int, out_height: int) -> np.ndarray:
    """``K`` (3, 3), pixel centres at integers, for an image resized from (width, height) to (out_width,
    out_height): pixel ``j`` of the new grid lies at ``(j + 0.5) · width / out_width - 0.5`` of the old one."""
    sx, sy = out_width / width, out_height / height
    resized = np.array(K, dtype=np.float64)
    resized[0, 0] *= sx
    resized[1, 1] *= sy
    resized[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    resized[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return resized


def exact_depth(geometry: Geometry, T_world_from_camera: np.ndarray, K: np.ndarray, width: int,
                height: int) -> np.ndarray:
    """(height, width) float32 z-depth in metres of a pinhole camera ``K`` (inf where no surface is hit)."""
    R, origin = T_world_from_camera[:3, :3], T_world_from_camera[:3, 3]
    dirs = (pixel_rays(K, width, height) @ R.T).astype(np.float32)
    return cast(origin, dirs, geometry, camera_windows(geometry, T_world_from_camera, K, width, height), FAR).t


def drive_depth(drive: Drive, frame: int, camera: int, width: int | None = None,
                height: int | None = None) -> np.ndarray:
    """Exact depth of ``camera`` at ``frame`` of a street drive, at full size or on the grid of a resize."""
    rig = drive.rig
    width, height = width or rig.width, height or rig.height
    geometry = drive.scene.geometry_at(float(drive.trajectory.times[frame]))
    K = resized_intrinsics(rig.K, rig.width, rig.height, width, height)
    return exact_depth(geometry, drive.T_world_from_camera(frame, camera), K, width, height)


def stereo_baseline(world: World) -> float:
    """The stereo baseline (metres) of a synthetic KITTI raw tree, from its manifest."""
    path = world.root / "manifest.json"
    try:
        return float(json.loads(path.read_text())["stereo_baseline_m"])
    except KeyError:
        raise ValueError(f"{path}: synthetic KITTI raw tree without stereo_baseline_m") from None


def kitti_raw_drives(world: World) -> dict[str, Drive]:
    """The drives of a synthetic KITTI raw tree, by folder."""
    return load_drives(world.root)


def odometry_depth(world: World, sequence: int, frame: int) -> np.ndarray:
    """Exact camera-2 depth of a synthetic KITTI odometry frame, full size."""
    return drive_depth(build_sequence(world.preset, world.seed, sequence), frame, 2)


def nyu_test_depth(world: World, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Exact depth of test view ``index`` (from 1, as ``Testing/depth/<index:04d>.png``) of a synthetic NYUv2
    tree, at the preset's size or ``size`` (width, height)."""
    preset = nyu_preset(world.preset)
    views = held_out_views(preset)
    if not 1 <= index <= len(views):
        raise ValueError(f"{world.root}: test view {index} out of range 1..{len(views)}")
    room, frame = views[index - 1]
    scene = build_scene(world.preset, world.seed, room)
    width, height = size or (preset.width, preset.height)
    return exact_depth(scene.room.geometry, scene.poses[frame], nyu_K(width, height), width, height)
