"""Write the synthetic world as a KITTI odometry dataset, with what MonoRec-style multi-frame methods read.

Layout under ``root`` (see ``depthrepro.io.kitti_odometry``)::

    sequences/<SS>/image_2|image_3/%06d.png, calib.txt, times.txt
    sequences/<SS>/image_depth_annotated/%06d.png, mvobj_mask/%06d.npy
    poses/<SS>.txt, poses_dvso/<SS>.txt
    splits/odometry/{train,test}_files.txt, splits/odom/{train,val}_files.txt, splits/odom/test_files_<SS>.txt
    manifest.json, figure_sheet.png

Each sequence is its own short street drive (as every real odometry sequence is a KITTI raw drive),
rendered with the street renderer at KITTI odometry's 1241x376 and intrinsics. Its traffic is
scripted so that moving cars enter and leave the view: oncoming cars pass the ego at given times and
an optional faster car drives ahead in the ego lane. Presets: ``default``, three sequences of 40
frames (00 test, 01-02 train); ``tiny``, two sequences of 14 frames at a reduced 416x128 (intrinsics
scaled), for tests. No Velodyne scans are written.

- ``poses/<SS>.txt``: exact camera-0 poses, the first one the identity (KITTI's ground truth).
- ``poses_dvso/<SS>.txt``: the exact camera-2 trajectory in the same format. Real DVSO poses are
  estimates of a visual odometry system (metric thanks to stereo); here they are the truth, so
  methods that read them get error-free poses.
- ``image_depth_annotated``: camera-2 depth * 256 as uint16, semi-dense like KITTI's annotated maps,
  missing for the first and last 5 frames as the annotated set is after its transfer to odometry.
- ``mvobj_mask``: the renderer's moving-object mask, centre-cropped and resized to 256x512 as the
  loader does with images (area average, then 1 where at least half of an output pixel is moving).
- Splits: MonoRec keeps its sequence lists in JSON configs; ``splits/odometry/{train,test}_files.txt``
  list ``<SS> <frame>`` keyframes of the train and test sequences, exactly the keyframes that loader
  visits (those with annotated depth, frames 5 .. N-6). ``splits/odom`` follows monodepth2's odom
  split: train/val over the train sequences (frames 1 .. N-2 where the ego moves, random side) and one
  ``test_files_<SS>.txt`` per test sequence (frames 0 .. N-2, left camera) for pose evaluation.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text
from depthrepro.io.kitti import write_depth_png
from depthrepro.io.kitti_odometry import (
    ANNOTATED_MARGIN,
    MASK_SIZE,
    Keyframe,
    OdometryCalib,
    OdomSplitEntry,
    annotated_depth_path,
    calib_path,
    centre_crop_box,
    dvso_poses_path,
    image_path,
    mvobj_mask_path,
    poses_path,
    times_path,
    write_keyframes,
    write_mvobj_mask,
    write_odom_split,
    write_odometry_calib,
    write_poses,
    write_times,
)
from depthrepro.synth.camera import CameraFrame
from depthrepro.synth.drive import STREET_AHEAD, STREET_BEHIND, Drive
from depthrepro.synth.figures import write_figure_sheet
from depthrepro.synth.kitti_raw import annotated_depth
from depthrepro.synth.parallel import map_frames
from depthrepro.synth.presets import FRAME_RATE_HZ, DriveSpec, Preset
from depthrepro.synth.rig import kitti_rig
from depthrepro.synth.road import Road, curvy_road
from depthrepro.synth.scene import Mover
from depthrepro.synth.street import car_boxes, street_scene
from depthrepro.synth.trajectory import EGO_LANE_OFFSET, Trajectory, ego_trajectory

ODOMETRY_SIZE = (1241, 376)
"""(width, height) of KITTI odometry sequences 00-02."""
ODOMETRY_FOCAL = 718.856
ODOMETRY_CENTRE = (607.1928, 185.2157)
"""Focal length and principal point of KITTI odometry sequences 00-02, pixels at ``ODOMETRY_SIZE``."""
SEQUENCE_DATE = "2000_02_01"
"""Recording date of the raw drives the sequences come from: sequence s is drive s + 1 of that date."""
STREAM_OFFSET = 100
"""Sequences render as drive index ``STREAM_OFFSET + s`` so their noise streams differ from KITTI raw's."""


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence: its drive (length, role, speed profile) and its scripted traffic.

    ``oncoming_meet_s``: times (s from the first frame) at which an oncoming car passes the ego; a
    car that met the ego a second or more before the first frame is never in view. ``lead_gap_m``:
    distance ahead of the ego of a faster car in the ego lane at the first frame, or None.
    """

    drive: DriveSpec
    oncoming_meet_s: tuple[float, ...]
    lead_gap_m: float | None = None


@dataclass(frozen=True)
class OdometryPreset:
    """A complete odometry dataset description: sequences 00, 01, ... in order, image size, splits."""

    name: str
    width: int
    height: int
    sequences: tuple[SequenceSpec, ...]
    val_fraction: float
    figure_frames: int

    def street_preset(self) -> Preset:
        """The same drives as a street ``Preset``, which the shared ``Drive`` renderer reads."""
        return Preset(name=f"odometry_{self.name}", width=self.width, height=self.height,
                      drives=tuple(s.drive for s in self.sequences), lidar_azimuth_step_deg=0.4,
                      annotated_margin=ANNOTATED_MARGIN, val_fraction=self.val_fraction,
                      figure_frames=self.figure_frames)


def _drive(number: int, frames: int, role: str, cruise: float, **stop: int) -> DriveSpec:
    return DriveSpec(SEQUENCE_DATE, number + 1, frames=frames, role=role, cruise_speed=cruise, **stop)


ODOMETRY_PRESETS: dict[str, OdometryPreset] = {
    "tiny": OdometryPreset(
        name="tiny",
        width=416,
        height=128,
        sequences=(
            SequenceSpec(_drive(0, 14, "test", 8.0), oncoming_meet_s=(0.9,), lead_gap_m=14.0),
            SequenceSpec(_drive(1, 14, "train", 7.0), oncoming_meet_s=(-1.5,)),
        ),
        val_fraction=0.2,
        figure_frames=2,
    ),
    "default": OdometryPreset(
        name="default",
        width=ODOMETRY_SIZE[0],
        height=ODOMETRY_SIZE[1],
        sequences=(
            SequenceSpec(_drive(0, 40, "test", 9.0), oncoming_meet_s=(1.2, 3.1), lead_gap_m=16.0),
            SequenceSpec(_drive(1, 40, "train", 8.0, stop_at=14, stop_frames=6, ramp_frames=6),
                         oncoming_meet_s=(0.6, 2.3, 9.0)),
            SequenceSpec(_drive(2, 40, "train", 10.5), oncoming_meet_s=(-1.2, 2.6), lead_gap_m=13.0),
        ),
        val_fraction=0.1,
        figure_frames=3,
    ),
}


def odometry_preset(name: str) -> OdometryPreset:
    """Look up an odometry preset by name; the error lists the known names."""
    if name not in ODOMETRY_PRESETS:
        raise ValueError(f"unknown synthetic odometry preset {name!r}; expected one of {sorted(ODOMETRY_PRESETS)}")
    return ODOMETRY_PRESETS[name]


def odometry_K(width: int, height: int) -> np.ndarray:
    """(3, 3) KITTI odometry intrinsics (sequences 00-02) scaled to ``width`` x ``height``."""
    sx, sy = width / ODOMETRY_SIZE[0], height / ODOMETRY_SIZE[1]
    return np.array([[ODOMETRY_FOCAL * sx, 0.0, ODOMETRY_CENTRE[0] * sx],
                     [0.0, ODOMETRY_FOCAL * sy, ODOMETRY_CENTRE[1] * sy],
                     [0.0, 0.0, 1.0]])


def _ego_s_at(trajectory: Trajectory, cruise: float, t: float) -> float:
    """Ego arc length at time ``t``, extrapolated at cruise speed outside the recorded frames."""
    times = trajectory.times
    if t < times[0]:
        return float(trajectory.s[0] + (t - times[0]) * cruise)
    if t > times[-1]:
        return float(trajectory.s[-1] + (t - times[-1]) * cruise)
    return float(np.interp(t, times, trajectory.s))


def scripted_traffic(spec: SequenceSpec, trajectory: Trajectory, road: Road,
                     rng: np.random.Generator) -> tuple[Mover, ...]:
    """Movers of ``spec``: oncoming cars reaching the ego at the requested times, then the lead car."""
    cruise = spec.drive.cruise_speed
    movers = []
    for meet in spec.oncoming_meet_s:
        speed = float(rng.uniform(8.0, 12.0))
        s0 = _ego_s_at(trajectory, cruise, meet) + speed * meet
        movers.append(Mover(car_boxes(rng), s0=s0, speed=speed, lane=-EGO_LANE_OFFSET, direction=-1))
    if spec.lead_gap_m is not None:
        speed = cruise + float(rng.uniform(1.5, 3.0))
        movers.append(Mover(car_boxes(rng), s0=spec.lead_gap_m, speed=speed, lane=EGO_LANE_OFFSET, direction=1))
    s_min, s_max = road.s_range
    duration = float(trajectory.times[-1])
    for mover in movers:
        ends = (mover.s0, mover.s0 + mover.direction * mover.speed * duration)
        if min(ends) < s_min or max(ends) > s_max:
            raise ValueError(f"sequence {spec.drive.drive - 1:02d}: a scripted car leaves the road "
                             f"[{s_min:.0f}, {s_max:.0f}] m")
    return tuple(movers)


@lru_cache(maxsize=16)
def build_sequence(preset_name: str, seed: int, sequence: int) -> Drive:
    """Rebuild odometry sequence ``sequence`` for ``seed``: its own rig, street, ego motion and traffic."""
    preset = odometry_preset(preset_name)
    spec = preset.sequences[sequence]
    rig = replace(kitti_rig(preset.width, preset.height, np.random.default_rng([seed, 111, sequence])),
                  K=odometry_K(preset.width, preset.height))
    rng = np.random.default_rng([seed, 222, sequence])
    travel = spec.drive.cruise_speed * 1.2 * spec.drive.frames / FRAME_RATE_HZ
    road = curvy_road(rng, -STREET_BEHIND, travel + STREET_AHEAD, (10.0, travel + 60.0))
    trajectory = ego_trajectory(spec.drive, road, rig.imu_height, rng)
    scene = street_scene(road, rng, float(trajectory.s[-1]), float(trajectory.times[-1]), spec.drive.cruise_speed)
    scene = replace(scene, movers=scripted_traffic(spec, trajectory, road, rng))
    return Drive(preset=preset.street_preset(), seed=seed, index=STREAM_OFFSET + sequence, spec=spec.drive,
                 rig=rig, scene=scene, trajectory=trajectory)


def odometry_calib(drive: Drive) -> OdometryCalib:
    """``calib.txt`` of a sequence: ``P_i = K [I | -c_i]`` for cameras 0..3 and ``Tr`` = Velodyne to cam 0."""
    return OdometryCalib(P=np.stack([drive.rig.P_rect(camera) for camera in range(4)]),
                         Tr=drive.rig.T_cam0_from_velo[:3, :])


def relative_trajectory(drive: Drive, camera: int) -> np.ndarray:
    """(F, 4, 4) poses of ``camera`` in the frame of its first pose (camera-to-world, first = identity)."""
    first = np.linalg.inv(drive.T_world_from_camera(0, camera))
    return np.stack([first @ drive.T_world_from_camera(frame, camera) for frame in range(drive.frames)])


def moving_object_mask(dynamic: np.ndarray) -> np.ndarray:
    """(256, 512) float32 ``mvobj_mask`` from a full-resolution (H, W) bool moving-object mask.

    Centre crop (the loader's box) then area-resize; a pixel is moving when at least half of it is.
    """
    height, width = dynamic.shape
    left, top, right, bottom = centre_crop_box(width, height)
    crop = dynamic[top:bottom, left:right].astype(np.float32)
    resized = cv2.resize(crop, (MASK_SIZE[1], MASK_SIZE[0]), interpolation=cv2.INTER_AREA)
    return (resized >= 0.5).astype(np.float32)


def _annotated(drive: Drive, frame: int) -> bool:
    return ANNOTATED_MARGIN <= frame < drive.frames - ANNOTATED_MARGIN


def render_sequence_frame(task: tuple[str, int, int, int, str]) -> int:
    """Write both colour images, annotated depth and moving mask of one frame; returns moving mask pixels."""
    preset_name, seed, sequence, frame, root_text = task
    root = Path(root_text)
    drive = build_sequence(preset_name, seed, sequence)
    moving = 0
    for camera in (2, 3):
        rendered = drive.render_camera(frame, camera)
        ok, png = cv2.imencode(".png", np.ascontiguousarray(rendered.rgb[..., ::-1]))
        if not ok:
            raise RuntimeError(f"PNG encoding failed for sequence {sequence:02d} frame {frame} camera {camera}")
        atomic_write_bytes(image_path(root, sequence, frame, camera), png.tobytes())
        if camera == 2:
            if _annotated(drive, frame):
                write_depth_png(annotated_depth_path(root, sequence, frame),
                                annotated_depth(drive, frame, camera, rendered.depth))
            mask = moving_object_mask(rendered.dynamic)
            write_mvobj_mask(mvobj_mask_path(root, sequence, frame), mask)
            moving = int(mask.sum())
    return moving


def odometry_splits(preset: OdometryPreset, drives: list[Drive],
                    seed: int) -> tuple[dict[str, list[Keyframe]], dict[str, list[OdomSplitEntry]]]:
    """MonoRec-style keyframe lists (``train``, ``test``) and monodepth2 odom lists (``train``, ``val``,
    ``test_files_<SS>``); train and test sequences are disjoint. Frames where the ego stands still are
    left out of the odom train/val lists, as Zhou's preprocessing leaves them out of eigen_zhou."""
    rng = np.random.default_rng([seed, 808])
    keyframes: dict[str, list[Keyframe]] = {"train": [], "test": []}
    odom: dict[str, list[OdomSplitEntry]] = {}
    candidates = []
    for sequence, drive in enumerate(drives):
        role = drive.spec.role
        keyframes[role] += [Keyframe(sequence, f) for f in range(drive.frames) if _annotated(drive, f)]
        if role == "test":
            odom[f"test_files_{sequence:02d}"] = [OdomSplitEntry(sequence, f, "l") for f in range(drive.frames - 1)]
        else:
            static = set(drive.trajectory.static_frames())
            candidates += [(sequence, f) for f in range(1, drive.frames - 1) if f not in static]
    sides = rng.choice(["l", "r"], size=len(candidates))
    entries = [OdomSplitEntry(s, f, str(side)) for (s, f), side in zip(candidates, sides)]
    n_val = max(1, round(preset.val_fraction * len(entries)))
    val_index = set(rng.choice(len(entries), size=n_val, replace=False).tolist())
    odom["train_files"] = [e for i, e in enumerate(entries) if i not in val_index]
    odom["val_files"] = [e for i, e in enumerate(entries) if i in val_index]
    return keyframes, odom


def _mask_overlay(frame: CameraFrame, mask: np.ndarray) -> CameraFrame:
    """The frame with its written 256x512 mask mapped back into the crop box, tinted magenta, box outlined."""
    height, width = frame.depth.shape
    left, top, right, bottom = centre_crop_box(width, height)
    back = cv2.resize(mask, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST) > 0.5
    rgb = frame.rgb.copy()
    region = rgb[top:bottom, left:right]
    region[back] = (0.35 * region[back] + 0.65 * np.array([255, 0, 255])).astype(np.uint8)
    cv2.rectangle(rgb, (left, top), (right - 1, bottom - 1), (0, 255, 255), 1)
    return replace(frame, rgb=rgb)


def _write_figure_sheet(root: Path, preset: OdometryPreset, drives: list[Drive],
                        moving: dict[tuple[int, int], int]) -> None:
    """Frames with the most moving-object pixels (one per sequence, round robin) over their depth."""
    order = sorted(moving, key=lambda key: (-moving[key], key))
    picked: list[tuple[int, int]] = []
    for sequence in range(len(drives)):
        best = [key for key in order if key[0] == sequence]
        if best:
            picked.append(best[0])
    shown = []
    for sequence, frame in picked[: preset.figure_frames]:
        rendered = drives[sequence].render_camera(frame, 2)
        mask = np.load(mvobj_mask_path(root, sequence, frame))
        shown.append((f"sequence {sequence:02d} frame {frame}: image_2 (moving objects magenta, loader crop cyan)",
                      _mask_overlay(rendered, mask)))
    write_figure_sheet(root / "figure_sheet.png", shown)


def render_kitti_odometry(root: Path, preset: str = "default", seed: int = 0, workers: int | None = None) -> dict:
    """Render the synthetic KITTI odometry dataset under ``root``; returns a small summary.

    Output bytes depend only on (preset, seed), not on ``workers`` (default: CPU count, at most 8).
    """
    start = time.perf_counter()
    root = Path(root)
    spec = odometry_preset(preset)
    drives = [build_sequence(preset, seed, s) for s in range(len(spec.sequences))]
    tasks = [(preset, seed, s, f, str(root)) for s, d in enumerate(drives) for f in range(d.frames)]
    counts = map_frames(render_sequence_frame, tasks, workers)
    moving = {(task[2], task[3]): count for task, count in zip(tasks, counts)}
    for sequence, drive in enumerate(drives):
        write_odometry_calib(calib_path(root, sequence), odometry_calib(drive))
        write_times(times_path(root, sequence), drive.trajectory.times)
        write_poses(poses_path(root, sequence), relative_trajectory(drive, 0))
        write_poses(dvso_poses_path(root, sequence), relative_trajectory(drive, 2))
    keyframes, odom = odometry_splits(spec, drives, seed)
    for part, entries in keyframes.items():
        write_keyframes(root / "splits" / "odometry" / f"{part}_files.txt", entries)
    for name, odom_entries in odom.items():
        write_odom_split(root / "splits" / "odom" / f"{name}.txt", odom_entries)
    _write_figure_sheet(root, spec, drives, moving)
    manifest = {
        "dataset": "synthetic_kitti_odometry",
        "preset": spec.name,
        "seed": seed,
        "image_size": [spec.width, spec.height],
        "frame_rate_hz": FRAME_RATE_HZ,
        "annotated_margin": ANNOTATED_MARGIN,
        "mvobj_mask": {"size": list(MASK_SIZE), "dtype": "float32",
                       "crop_box": list(centre_crop_box(spec.width, spec.height))},
        "sequences": [
            {
                "sequence": f"{s:02d}",
                "raw_drive": d.folder,
                "role": d.spec.role,
                "frames": d.frames,
                "annotated_frames": [f for f in range(d.frames) if _annotated(d, f)],
                "moving_object_frames": [f for f in range(d.frames) if moving[(s, f)] > 0],
                "distance_m": round(float(d.trajectory.s[-1]), 3),
            }
            for s, d in enumerate(drives)
        ],
        "splits": {"odometry": {part: len(e) for part, e in keyframes.items()},
                   "odom": {name: len(e) for name, e in odom.items()}},
    }
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {
        "root": str(root),
        "preset": preset,
        "seed": seed,
        "sequences": len(drives),
        "frames": len(tasks),
        "image_size": [spec.width, spec.height],
        "splits": manifest["splits"],
        "seconds": round(time.perf_counter() - start, 1),
    }
