"""Write the synthetic world as a KITTI raw dataset: drives, calibration, improved GT, splits, manifest.

Layout under ``root`` (as KITTI raw plus ``data_depth_annotated`` merged into the drive folders)::

    <date>/calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt
    <date>/<date>_drive_<id>_sync/image_02|03/data/%010d.png, image_02|03/timestamps.txt
    <date>/<date>_drive_<id>_sync/velodyne_points/data/%010d.bin, oxts/data/%010d.txt
    <date>/<date>_drive_<id>_sync/proj_depth/groundtruth/image_02|03/%010d.png
    splits/eigen/test_files.txt, splits/eigen_benchmark/test_files.txt,
    splits/eigen_zhou/train_files.txt, splits/eigen_zhou/val_files.txt, splits/eigen_full/{train,val}_files.txt
    manifest.json, figure_sheet.png

Annotated (improved) GT exists, as in KITTI, only for frames at least ``annotated_margin`` frames
away from both ends of a drive; it is the exact depth, capped at 80 m, kept where the LiDAR's
vertical field of view covers the point, on a random 40 % of those pixels.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text
from depthrepro.io.kitti import (
    SplitEntry,
    annotated_depth_path,
    image_path,
    oxts_path,
    velodyne_path,
    write_calib_file,
    write_depth_png,
    write_oxts,
    write_split_file,
    write_velodyne,
)
from depthrepro.synth.drive import CAMERA_SIDES, Drive, build_drive, rig_for_date
from depthrepro.synth.figures import write_figure_sheet
from depthrepro.synth.lidar import hdl64_elevations
from depthrepro.synth.oxts import oxts_records
from depthrepro.synth.parallel import map_frames
from depthrepro.synth.presets import FRAME_RATE_HZ, Preset, get_preset
from depthrepro.synth.rig import CAMERA_X_POSITIONS, COLOUR_BASELINE, Rig, invert_rigid

ANNOTATED_MAX_DEPTH = 80.0
ANNOTATED_DENSITY = 0.4
CALIB_TIME = "01-Jan-2000 12:00:00"


def cam_to_cam_entries(rig: Rig) -> dict[str, np.ndarray | str]:
    """``calib_cam_to_cam.txt`` entries: raw (already rectified) and rectified parameters of cameras 00-03."""
    size = np.array([rig.width, rig.height], float)
    entries: dict[str, np.ndarray | str] = {"calib_time": CALIB_TIME, "corner_dist": np.array([0.0995])}
    for camera in range(4):
        xx = f"{camera:02d}"
        entries[f"S_{xx}"] = size
        entries[f"K_{xx}"] = rig.K
        entries[f"D_{xx}"] = np.zeros(5)
        entries[f"R_{xx}"] = np.eye(3)
        entries[f"T_{xx}"] = rig.T_cam_from_cam0(camera)[:3, 3]
        entries[f"S_rect_{xx}"] = size
        entries[f"R_rect_{xx}"] = np.eye(3)
        entries[f"P_rect_{xx}"] = rig.P_rect(camera)
    return entries


def velo_to_cam_entries(rig: Rig) -> dict[str, np.ndarray | str]:
    """``calib_velo_to_cam.txt``: R, T map Velodyne points into (unrectified) camera 0."""
    return {"calib_time": CALIB_TIME, "R": rig.T_cam0_from_velo[:3, :3], "T": rig.T_cam0_from_velo[:3, 3],
            "delta_f": np.zeros(2), "delta_c": np.zeros(2)}


def imu_to_velo_entries(rig: Rig) -> dict[str, np.ndarray | str]:
    """``calib_imu_to_velo.txt``: R, T map IMU points into the Velodyne frame."""
    return {"calib_time": CALIB_TIME, "R": rig.T_velo_from_imu[:3, :3], "T": rig.T_velo_from_imu[:3, 3]}


def annotated_depth(drive: Drive, frame: int, camera: int, depth: np.ndarray) -> np.ndarray:
    """(H, W) semi-dense improved GT from exact depth (H, W): 0 where no value is given."""
    rig = drive.rig
    height, width = depth.shape
    finite = np.isfinite(depth) & (depth <= ANNOTATED_MAX_DEPTH)
    z = np.where(finite, depth, 0.0).astype(np.float32)
    x = ((np.arange(width, dtype=np.float32) - rig.K[0, 2]) / rig.K[0, 0])[None, :] * z
    y = ((np.arange(height, dtype=np.float32) - rig.K[1, 2]) / rig.K[1, 1])[:, None] * z
    T = (invert_rigid(rig.T_cam0_from_velo) @ invert_rigid(rig.T_cam_from_cam0(camera))).astype(np.float32)
    vx, vy, vz = (T[i, 0] * x + T[i, 1] * y + T[i, 2] * z + T[i, 3] for i in range(3))
    elevation = np.degrees(np.arctan2(vz, np.hypot(vx, vy)))
    beams = hdl64_elevations()
    covered = (elevation <= beams.max() + 0.2) & (elevation >= beams.min() - 0.2)
    rng = np.random.default_rng([drive.seed, 606, drive.index, frame, camera])
    keep = finite & covered & (rng.random(depth.shape, dtype=np.float32) < ANNOTATED_DENSITY)
    return np.where(keep, depth, 0.0).astype(np.float32)


def _annotated(drive: Drive, frame: int) -> bool:
    margin = drive.preset.annotated_margin
    return margin <= frame < drive.frames - margin


def render_frame(task: tuple[str, int, int, int, str]) -> None:
    """Write every file of one frame: both colour images, the scan, the OXTS record, annotated GT."""
    preset_name, seed, index, frame, root_text = task
    root = Path(root_text)
    drive = build_drive(preset_name, seed, index)
    for side, camera in CAMERA_SIDES.items():
        rendered = drive.render_camera(frame, camera)
        ok, png = cv2.imencode(".png", np.ascontiguousarray(rendered.rgb[..., ::-1]))
        if not ok:
            raise RuntimeError(f"PNG encoding failed for {drive.folder} frame {frame} camera {camera}")
        atomic_write_bytes(image_path(root, drive.folder, frame, side, "png"), png.tobytes())
        if _annotated(drive, frame):
            write_depth_png(annotated_depth_path(root, drive.folder, frame, side),
                            annotated_depth(drive, frame, camera, rendered.depth))
    write_velodyne(velodyne_path(root, drive.folder, frame), drive.scan_lidar(frame))
    write_oxts(oxts_path(root, drive.folder, frame), _oxts_table(preset_name, seed, index)[frame])


@lru_cache(maxsize=16)
def _oxts_table(preset_name: str, seed: int, index: int) -> np.ndarray:
    drive = build_drive(preset_name, seed, index)
    rng = np.random.default_rng([seed, 505, index])
    lat0, lon0, alt0 = 49.0 + rng.uniform(-0.05, 0.05), 8.4 + rng.uniform(-0.05, 0.05), rng.uniform(100, 130)
    return oxts_records(drive.trajectory, lat0, lon0, alt0)


def _timestamps(drive: Drive) -> str:
    year, month, day = drive.spec.date.split("_")
    start = 12 * 3600 + 600 * drive.spec.drive
    lines = []
    for frame in range(drive.frames):
        nanoseconds = round((start + frame / FRAME_RATE_HZ) * 1e9)
        seconds, fraction = divmod(nanoseconds, 10**9)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        lines.append(f"{year}-{month}-{day} {hours:02d}:{minutes:02d}:{secs:02d}.{fraction:09d}\n")
    return "".join(lines)


def kitti_splits(preset: Preset, drives: list[Drive], seed: int) -> dict[str, dict[str, list[SplitEntry]]]:
    """Eigen-style splits: ``eigen`` test and ``eigen_benchmark`` test on test drives, ``eigen_zhou``
    train/val on the other drives with static frames removed, and ``eigen_full`` train/val (every frame of
    the other drives, each camera its own line, as the stereo methods train). Only frames with both
    neighbours appear."""
    rng = np.random.default_rng([seed, 707])
    test_frames = [(d, f) for d in drives if d.spec.role == "test" for f in range(1, d.frames - 1)]
    test = [SplitEntry(d.folder, f, "l") for d, f in test_frames]
    benchmark = [SplitEntry(d.folder, f, "l") for d, f in test_frames if _annotated(d, f)]
    candidates = []
    for d in drives:
        if d.spec.role != "train":
            continue
        static = set(d.trajectory.static_frames())
        candidates += [(d.folder, f) for f in range(1, d.frames - 1) if f not in static]
    sides = rng.choice(["l", "r"], size=len(candidates))
    entries = [SplitEntry(folder, frame, str(side)) for (folder, frame), side in zip(candidates, sides)]
    n_val = max(1, round(preset.val_fraction * len(entries)))
    val_index = set(rng.choice(len(entries), size=n_val, replace=False).tolist())
    train = [e for i, e in enumerate(entries) if i not in val_index]
    val = [e for i, e in enumerate(entries) if i in val_index]
    full = [SplitEntry(d.folder, f, side) for d in drives if d.spec.role == "train"
            for f in range(1, d.frames - 1) for side in ("l", "r")]
    full_val = set(rng.choice(len(full), size=max(1, round(preset.val_fraction * len(full))), replace=False).tolist())
    return {"eigen": {"test": test}, "eigen_benchmark": {"test": benchmark},
            "eigen_zhou": {"train": train, "val": val},
            "eigen_full": {"train": [e for i, e in enumerate(full) if i not in full_val],
                           "val": [e for i, e in enumerate(full) if i in full_val]}}


def _manifest(preset: Preset, seed: int, drives: list[Drive], splits: dict) -> dict:
    return {
        "dataset": "synthetic_kitti_raw",
        "preset": preset.name,
        "seed": seed,
        "image_size": [preset.width, preset.height],
        "frame_rate_hz": FRAME_RATE_HZ,
        "cameras": {"l": "image_02", "r": "image_03"},
        "stereo_baseline_m": round(COLOUR_BASELINE, 9),
        "camera_x_positions_m": {f"{k:02d}": v for k, v in CAMERA_X_POSITIONS.items()},
        "annotated_margin": preset.annotated_margin,
        "drives": [
            {
                "folder": d.folder,
                "date": d.spec.date,
                "role": d.spec.role,
                "frames": d.frames,
                "static_frames": d.trajectory.static_frames(),
                "annotated_frames": [f for f in range(d.frames) if _annotated(d, f)],
                "distance_m": round(float(d.trajectory.s[-1]), 3),
            }
            for d in drives
        ],
        "splits": {name: {part: len(entries) for part, entries in parts.items()} for name, parts in splits.items()},
    }


def render_kitti_raw(root: Path, preset: str = "default", seed: int = 0, workers: int | None = None) -> dict:
    """Render the whole synthetic KITTI raw dataset under ``root``; returns a small summary.

    Output bytes depend only on (preset, seed), not on ``workers`` (default: CPU count, at most 8).
    """
    start = time.perf_counter()
    root = Path(root)
    spec = get_preset(preset)
    drives = [build_drive(preset, seed, i) for i in range(len(spec.drives))]
    for date in spec.dates:
        rig = rig_for_date(preset, seed, date)
        write_calib_file(root / date / "calib_cam_to_cam.txt", cam_to_cam_entries(rig))
        write_calib_file(root / date / "calib_velo_to_cam.txt", velo_to_cam_entries(rig))
        write_calib_file(root / date / "calib_imu_to_velo.txt", imu_to_velo_entries(rig))
    tasks = [(preset, seed, d.index, f, str(root)) for d in drives for f in range(d.frames)]
    map_frames(render_frame, tasks, workers)
    for d in drives:
        stamps = _timestamps(d)
        for sensor in ("image_02", "image_03", "velodyne_points", "oxts"):
            atomic_write_text(root / d.folder / sensor / "timestamps.txt", stamps)
    splits = kitti_splits(spec, drives, seed)
    for name, parts in splits.items():
        for part, entries in parts.items():
            write_split_file(root / "splits" / name / f"{part}_files.txt", entries)
    picks = np.linspace(0, len(tasks) - 1, spec.figure_frames).round().astype(int)
    shown = [(f"{drives[tasks[i][2]].folder} frame {tasks[i][3]}",
              drives[tasks[i][2]].render_camera(tasks[i][3], CAMERA_SIDES["l"])) for i in picks]
    write_figure_sheet(root / "figure_sheet.png", shown)
    manifest = _manifest(spec, seed, drives, splits)
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {
        "root": str(root),
        "preset": preset,
        "seed": seed,
        "drives": len(drives),
        "frames": len(tasks),
        "image_size": [spec.width, spec.height],
        "splits": manifest["splits"],
        "seconds": round(time.perf_counter() - start, 1),
    }
