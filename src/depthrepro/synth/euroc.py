"""Write indoor stereo flights as EuRoC MAV sequences in the ASL layout (what FeatDepth's EuRoC loader reads).

Layout under ``root`` (see ``depthrepro.io.euroc``)::

    <sequence>/mav0/cam0/data/<timestamp_ns>.png, data.csv, sensor.yaml
    <sequence>/mav0/cam1/data/<timestamp_ns>.png, data.csv, sensor.yaml
    splits/<sequence>/train_files.txt
    manifest.json, figure_sheet.png

- Two sequences named for the two roles of FeatDepth's EuRoC configs: ``MH_04_difficult`` (the auto-encoder's)
  and ``MH_02_easy`` (the depth model's). Each is a camera walk through one furnished room of
  ``depthrepro.synth.indoor`` standing in for the machine hall; the difficult one moves twice as far per
  frame. Nothing else of EuRoC's difficulty (darkness, motion blur) is imitated.
- Rectified stereo: 8-bit grayscale PNGs at EuRoC's 752x480 (reduced presets scale the size), 20 Hz
  timestamps in nanoseconds, the same names in both cameras. The pinhole is the one FeatDepth's loader
  assumes for EuRoC (fx = fy = 435.2047 at 752x480, principal point at the image centre, scaled for reduced
  presets), so the loader's intrinsics are exact here. ``cam1`` sits ``STEREO_BASELINE_M`` to the right of
  ``cam0`` along its x axis with the same orientation (EuRoC's rectified baseline is about 0.11 m).
- ``sensor.yaml``: EuRoC's keys with that pinhole, zero distortion and ``T_BS`` taking the body frame to be
  ``cam0``'s. ``data.csv``: EuRoC's header and one ``<timestamp>,<timestamp>.png`` row per frame.
- Splits: ``<sequence>/mav0 <frame> l`` for frames 1 .. N-2, so that frames -1 and +1 exist.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text
from depthrepro.io.euroc import (
    CameraSensor,
    camera_dir,
    image_path,
    neighbour_split,
    write_frame_csv,
    write_sensor_yaml,
)
from depthrepro.io.kitti import write_split_file
from depthrepro.synth.camera import CameraFrame, render_view
from depthrepro.synth.figures import write_figure_sheet
from depthrepro.synth.indoor import Room, build_room, handheld_poses
from depthrepro.synth.parallel import map_frames
from depthrepro.synth.rig import rigid
from depthrepro.synth.textures import texture_bank

EUROC_SIZE = (752, 480)
"""(width, height) of EuRoC's camera images."""
LOADER_FOCAL = 435.2047
"""fx = fy at ``EUROC_SIZE`` that FeatDepth's EuRoC loader assumes, with the principal point at the centre."""
STEREO_BASELINE_M = 0.11
"""Distance from cam0 to cam1 along cam0's x axis, metres."""
FRAME_RATE_HZ = 20.0
FIRST_TIMESTAMP_NS = 1_400_000_000_000_000_000
"""Timestamp of every sequence's first frame (19 digits, as EuRoC's)."""
CAMERAS = ("cam0", "cam1")


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence: its ASL name, the room kind it flies through, its length, and how many times
    further than a hand-held walk at ``FRAME_RATE_HZ`` the camera moves per frame."""

    name: str
    room: str
    frames: int
    speed: float

    @property
    def folder(self) -> str:
        """The sequence folder split lines name: ``<name>/mav0``."""
        return f"{self.name}/mav0"


@dataclass(frozen=True)
class EurocPreset:
    """A EuRoC dataset description: image size and sequences."""

    name: str
    width: int
    height: int
    sequences: tuple[SequenceSpec, ...]


EUROC_PRESETS: dict[str, EurocPreset] = {
    "tiny": EurocPreset(name="tiny", width=188, height=120,
                        sequences=(SequenceSpec("MH_04_difficult", "kitchen", frames=6, speed=2.0),
                                   SequenceSpec("MH_02_easy", "office", frames=6, speed=1.0))),
    "default": EurocPreset(name="default", width=EUROC_SIZE[0], height=EUROC_SIZE[1],
                           sequences=(SequenceSpec("MH_04_difficult", "kitchen", frames=12, speed=2.0),
                                      SequenceSpec("MH_02_easy", "office", frames=16, speed=1.0))),
}


def euroc_preset(name: str) -> EurocPreset:
    """Look up a EuRoC preset by name; the error lists the known names."""
    if name not in EUROC_PRESETS:
        raise ValueError(f"unknown synthetic EuRoC preset {name!r}; expected one of {sorted(EUROC_PRESETS)}")
    return EUROC_PRESETS[name]


def euroc_K(width: int, height: int) -> np.ndarray:
    """(3, 3) pixel intrinsics of the loader's pinhole at ``width`` x ``height``."""
    return np.array([[LOADER_FOCAL * width / EUROC_SIZE[0], 0.0, width / 2],
                     [0.0, LOADER_FOCAL * height / EUROC_SIZE[1], height / 2],
                     [0.0, 0.0, 1.0]])


def T_cam0_from_camera(camera: str) -> np.ndarray:
    """(4, 4) pose of ``camera`` in cam0's frame: identity, or the baseline along x for cam1."""
    return rigid(np.eye(3), np.array([STEREO_BASELINE_M if camera == "cam1" else 0.0, 0.0, 0.0]))


def timestamp(frame: int) -> int:
    """Nanosecond timestamp of ``frame`` at ``FRAME_RATE_HZ``."""
    return FIRST_TIMESTAMP_NS + frame * round(1e9 / FRAME_RATE_HZ)


@dataclass(frozen=True)
class EurocSequence:
    """One sequence with its room and ``poses`` (F, 4, 4), cam0-to-room."""

    preset: EurocPreset
    seed: int
    index: int
    spec: SequenceSpec
    room: Room
    poses: np.ndarray

    def render(self, frame: int, camera: str, size: tuple[int, int] | None = None) -> CameraFrame:
        """Exact render of ``frame`` by ``camera`` at the preset's size or ``size`` (width, height)."""
        width, height = size or (self.preset.width, self.preset.height)
        noise_rng = np.random.default_rng([self.seed, 933, self.index, frame, CAMERAS.index(camera)])
        return render_view(self.room.geometry, self.room.light, texture_bank(self.seed),
                           self.poses[frame] @ T_cam0_from_camera(camera), euroc_K(width, height), width, height,
                           noise_rng)


@lru_cache(maxsize=8)
def build_sequence(preset_name: str, seed: int, index: int) -> EurocSequence:
    """Rebuild sequence ``index`` of a preset: its room and camera walk."""
    preset = euroc_preset(preset_name)
    if not 0 <= index < len(preset.sequences):
        raise ValueError(f"EuRoC preset {preset_name!r}: sequence {index} out of range 0..{len(preset.sequences) - 1}")
    spec = preset.sequences[index]
    rng = np.random.default_rng([seed, 931, index])
    room = build_room(rng, spec.room)
    poses = handheld_poses(room, spec.frames, FRAME_RATE_HZ / spec.speed, rng)
    return EurocSequence(preset=preset, seed=seed, index=index, spec=spec, room=room, poses=poses)


def grey(frame: CameraFrame) -> np.ndarray:
    """(H, W) uint8 grayscale of a rendered colour image (ITU-R 601 weights)."""
    return cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)


def render_euroc_frame(task: tuple[str, int, int, int, str, str]) -> None:
    """Write one camera's PNG of one frame."""
    preset_name, seed, index, frame, camera, root_text = task
    sequence = build_sequence(preset_name, seed, index)
    ok, png = cv2.imencode(".png", grey(sequence.render(frame, camera)))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {sequence.spec.folder} {camera} frame {frame}")
    name = f"{timestamp(frame)}.png"
    atomic_write_bytes(image_path(Path(root_text), sequence.spec.folder, camera, name), png.tobytes())


def camera_sensor(preset: EurocPreset, camera: str) -> CameraSensor:
    """``sensor.yaml`` contents of a camera of the synthetic rig."""
    K = euroc_K(preset.width, preset.height)
    return CameraSensor(rate_hz=FRAME_RATE_HZ, resolution=(preset.width, preset.height),
                        intrinsics=(K[0, 0], K[1, 1], K[0, 2], K[1, 2]), distortion=(0.0, 0.0, 0.0, 0.0),
                        T_BS=T_cam0_from_camera(camera), comment=f"synthetic rectified {camera}")


def _write_figure_sheet(root: Path, sequences: list[EurocSequence]) -> None:
    """The middle cam0 frame of every sequence, as written (grey), beside its depth."""
    shown = []
    for sequence in sequences:
        frame = sequence.spec.frames // 2
        rendered = sequence.render(frame, "cam0")
        grey3 = np.repeat(grey(rendered)[..., None], 3, axis=-1)
        shown.append((f"{sequence.spec.folder} cam0 frame {frame}",
                      CameraFrame(grey3, rendered.depth, rendered.object_id, rendered.dynamic)))
    write_figure_sheet(root / "figure_sheet.png", shown)


def render_euroc(root: Path, preset: str = "default", seed: int = 0, workers: int | None = None) -> dict:
    """Render the synthetic EuRoC sequences under ``root``; returns a small summary.

    Output bytes depend only on (preset, seed), not on ``workers`` (default: CPU count, at most 8).
    """
    start = time.perf_counter()
    root = Path(root)
    spec = euroc_preset(preset)
    sequences = [build_sequence(preset, seed, i) for i in range(len(spec.sequences))]
    tasks = [(preset, seed, s.index, frame, camera, str(root))
             for s in sequences for frame in range(s.spec.frames) for camera in CAMERAS]
    map_frames(render_euroc_frame, tasks, workers)
    splits = {}
    for sequence in sequences:
        for camera in CAMERAS:
            write_frame_csv(camera_dir(root, sequence.spec.folder, camera) / "data.csv",
                            [timestamp(f) for f in range(sequence.spec.frames)])
            write_sensor_yaml(camera_dir(root, sequence.spec.folder, camera) / "sensor.yaml",
                              camera_sensor(spec, camera))
        entries = neighbour_split(root, sequence.spec.folder)
        write_split_file(root / "splits" / sequence.spec.name / "train_files.txt", entries)
        splits[f"{sequence.spec.name}/train_files"] = len(entries)
    _write_figure_sheet(root, sequences)
    manifest = {
        "dataset": "synthetic_euroc",
        "preset": spec.name,
        "seed": seed,
        "image_size": [spec.width, spec.height],
        "intrinsics": euroc_K(spec.width, spec.height).round(9).tolist(),
        "stereo_baseline_m": STEREO_BASELINE_M,
        "frame_rate_hz": FRAME_RATE_HZ,
        "image_name": "<sequence>/mav0/cam0|cam1/data/<timestamp_ns>.png",
        "sequences": [{"sequence": s.spec.name, "folder": s.spec.folder, "room": s.room.kind,
                       "room_size_m": [round(v, 4) for v in s.room.size], "frames": s.spec.frames,
                       "motion_per_frame_factor": s.spec.speed}
                      for s in sequences],
        "splits": splits,
    }
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {
        "root": str(root),
        "preset": preset,
        "seed": seed,
        "sequences": len(sequences),
        "frames": sum(s.spec.frames for s in sequences),
        "image_size": [spec.width, spec.height],
        "splits": splits,
        "seconds": round(time.perf_counter() - start, 1),
    }
