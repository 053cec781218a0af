"""Write indoor rooms as an NYUv2 dataset in SC-Depth's pre-processed layout (what GasMono reads).

Layout under ``root`` (see ``depthrepro.io.nyuv2``)::

    Training/<scene>/%06d.jpg, cam.txt, poses.txt
    Testing/color/%04d.png, Testing/depth/%04d.png
    nyu_test/%05d.h5
    splits/nyu/train_files.txt, val_files.txt, test_files.txt, gt_depths.npz
    splits/nyu_h5/test_files.txt
    manifest.json, figure_sheet.png

- Training scenes are hand-held video through one room each (``<kind>_<nnnn>``, e.g. ``office_0002``),
  frames named with 6 digits from 0 as GasMono's loader reads them (SC-Depth's own naming is not
  documented; only sorted ``*.jpg`` order matters to it). JPEG quality 95, like SC-Depth's ``.jpg``.
- ``cam.txt``: the 3x3 K of the rendered size: NYUv2's Kinect colour intrinsics (fx 518.86,
  fy 519.47, cx 325.58, cy 253.74 at 640x480), scaled for reduced presets.
- ``poses.txt``: exact camera-to-room poses (room frame: z up, floor at z = 0, metres), one 3x4 per
  frame, to test structure-from-motion against.
- Test set: single views of other rooms (scenes never used for training), as NYUv2's test images
  come from other scenes than its training video. ``Testing/depth`` holds dense uint16 depth in
  units of 1/5000 m, SC-Depth's convention (its loader divides by 5000). ``splits/nyu/gt_depths.npz``
  holds the same depth exact (float32 metres, key ``data``, test-list order): the array GasMono's
  evaluation reads, which for real data is exported from ``Testing/depth``.
- Splits: ``<scene> <frame:04d> l`` lines for frames 1 .. N-2 (so that -1 and +1 exist), a random
  frame-level train/val split as GasMono's lists; test lines ``color <index:04d> l`` from 0001.
- The same test views in P2Net's h5 layout (what EPCDepth's NYUv2 generalisation test reads, see
  ``depthrepro.io.nyu_h5``): ``nyu_test/<index:05d>.h5`` with ``rgb`` and exact float32 ``depth``, always at
  NYUv2's 640x480 (reduced presets render these views a second time at that size, since the test's
  crop window is defined on it), listed in ``splits/nyu_h5/test_files.txt``.
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
from depthrepro.io.kitti_odometry import write_poses
from depthrepro.io.nyu_h5 import h5_relative_path, write_h5_list, write_nyu_h5
from depthrepro.io.nyuv2 import (
    DEPTH_PNG_SCALE,
    TEST_FOLDER,
    NyuSplitEntry,
    cam_path,
    labelled_color_path,
    labelled_depth_path,
    scene_poses_path,
    training_image_path,
    write_cam_txt,
    write_depth_png,
    write_gt_depths,
    write_nyu_split,
)
from depthrepro.synth.camera import CameraFrame, render_view
from depthrepro.synth.figures import write_figure_sheet
from depthrepro.synth.indoor import Room, build_room, handheld_poses
from depthrepro.synth.parallel import map_frames
from depthrepro.synth.textures import texture_bank

NYU_SIZE = (640, 480)
"""(width, height) of NYUv2 Kinect colour images."""
NYU_FOCAL = (518.8579, 519.4696)
NYU_CENTRE = (325.5824, 253.7362)
"""NYUv2 colour camera focal lengths and principal point at ``NYU_SIZE`` (NYU toolbox values)."""
FRAME_RATE_HZ = 10.0
"""Frame rate of the training video (NYUv2's 30 Hz Kinect stream as subsampled for training)."""
TEST_VIEW_STRIDE = 12
"""Test views of a room are this many frames apart on its hand-held walk."""
JPEG_QUALITY = 95


@dataclass(frozen=True)
class NyuPreset:
    """An NYUv2 dataset description: ``train_rooms`` and ``test_rooms`` room kinds (scene names follow
    their order), frames per training scene, test views per test room, image size, splits."""

    name: str
    width: int
    height: int
    train_rooms: tuple[str, ...]
    frames: int
    test_rooms: tuple[str, ...]
    test_views: int
    val_fraction: float
    figure_frames: int

    def scene_name(self, room: int) -> str:
        """Scene folder of room ``room`` (training rooms first, then test rooms): ``<kind>_<room + 1:04d>``."""
        kinds = self.train_rooms + self.test_rooms
        return f"{kinds[room]}_{room + 1:04d}"


NYU_PRESETS: dict[str, NyuPreset] = {
    "tiny": NyuPreset(name="tiny", width=320, height=240, train_rooms=("office", "living_room"), frames=8,
                      test_rooms=("bedroom",), test_views=3, val_fraction=0.2, figure_frames=2),
    "default": NyuPreset(name="default", width=NYU_SIZE[0], height=NYU_SIZE[1],
                         train_rooms=("living_room", "office", "bedroom"), frames=32,
                         test_rooms=("study", "kitchen"), test_views=8, val_fraction=0.125, figure_frames=3),
}


def nyu_preset(name: str) -> NyuPreset:
    """Look up an NYUv2 preset by name; the error lists the known names."""
    if name not in NYU_PRESETS:
        raise ValueError(f"unknown synthetic NYUv2 preset {name!r}; expected one of {sorted(NYU_PRESETS)}")
    return NYU_PRESETS[name]


def nyu_K(width: int, height: int) -> np.ndarray:
    """(3, 3) NYUv2 colour intrinsics scaled to ``width`` x ``height``."""
    sx, sy = width / NYU_SIZE[0], height / NYU_SIZE[1]
    return np.array([[NYU_FOCAL[0] * sx, 0.0, NYU_CENTRE[0] * sx],
                     [0.0, NYU_FOCAL[1] * sy, NYU_CENTRE[1] * sy],
                     [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class IndoorScene:
    """One room with its camera walk: ``poses`` (F, 4, 4) camera-to-room; ``index`` its room number."""

    preset: NyuPreset
    seed: int
    index: int
    name: str
    room: Room
    poses: np.ndarray

    def render(self, frame: int, size: tuple[int, int] | None = None) -> CameraFrame:
        """Exact render of ``frame`` at the preset's size or ``size`` (width, height): image, z-depth
        (metres), object ids."""
        width, height = size or (self.preset.width, self.preset.height)
        noise_rng = np.random.default_rng([self.seed, 909, self.index, frame])
        return render_view(self.room.geometry, self.room.light, texture_bank(self.seed), self.poses[frame],
                           nyu_K(width, height), width, height, noise_rng)

    def relative_pose(self, frame_from: int, frame_to: int) -> np.ndarray:
        """(4, 4) ``T_to_from``: maps camera points at ``frame_from`` into the camera at ``frame_to``."""
        return np.linalg.inv(self.poses[frame_to]) @ self.poses[frame_from]


@lru_cache(maxsize=16)
def build_scene(preset_name: str, seed: int, room: int) -> IndoorScene:
    """Rebuild room ``room`` (training rooms first, then test rooms) and its hand-held walk.

    A test room's walk is ``TEST_VIEW_STRIDE`` times longer; its test views are every stride-th frame.
    """
    preset = nyu_preset(preset_name)
    kinds = preset.train_rooms + preset.test_rooms
    if not 0 <= room < len(kinds):
        raise ValueError(f"NYUv2 preset {preset_name!r}: room {room} out of range 0..{len(kinds) - 1}")
    rng = np.random.default_rng([seed, 901, room])
    built = build_room(rng, kinds[room])
    frames = preset.frames if room < len(preset.train_rooms) else preset.test_views * TEST_VIEW_STRIDE
    poses = handheld_poses(built, frames, FRAME_RATE_HZ, rng)
    return IndoorScene(preset=preset, seed=seed, index=room, name=preset.scene_name(room), room=built, poses=poses)


def held_out_views(preset: NyuPreset) -> list[tuple[int, int]]:
    """(room, frame) of every test view in test-index order (index 1 is the first)."""
    first = len(preset.train_rooms)
    return [(first + r, v * TEST_VIEW_STRIDE) for r in range(len(preset.test_rooms)) for v in range(preset.test_views)]


def render_nyu_frame(task: tuple[str, int, int, int, int, str]) -> np.ndarray | None:
    """Write one training frame (``test_index`` 0) or test view; returns the test view's exact depth."""
    preset_name, seed, room, frame, test_index, root_text = task
    root = Path(root_text)
    scene = build_scene(preset_name, seed, room)
    rendered = scene.render(frame)
    bgr = np.ascontiguousarray(rendered.rgb[..., ::-1])
    if test_index == 0:
        ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {scene.name} frame {frame}")
        atomic_write_bytes(training_image_path(root, scene.name, frame), jpg.tobytes())
        return None
    if not np.isfinite(rendered.depth).all():
        raise RuntimeError(f"{scene.name} frame {frame}: the room is not closed (rays escape)")
    ok, png = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError(f"PNG encoding failed for test view {test_index}")
    atomic_write_bytes(labelled_color_path(root, test_index), png.tobytes())
    write_depth_png(labelled_depth_path(root, test_index), rendered.depth)
    full = rendered if (scene.preset.width, scene.preset.height) == NYU_SIZE else scene.render(frame, NYU_SIZE)
    write_nyu_h5(root / h5_relative_path(test_index), full.rgb, full.depth)
    return rendered.depth


def nyu_splits(preset: NyuPreset, seed: int) -> dict[str, list[NyuSplitEntry]]:
    """GasMono-style lists: a random frame-level train/val split of frames 1 .. N-2, and the test list."""
    rng = np.random.default_rng([seed, 909])
    entries = [NyuSplitEntry(preset.scene_name(room), frame, "l")
               for room in range(len(preset.train_rooms)) for frame in range(1, preset.frames - 1)]
    n_val = max(1, round(preset.val_fraction * len(entries)))
    val_index = set(rng.choice(len(entries), size=n_val, replace=False).tolist())
    return {
        "train_files": [e for i, e in enumerate(entries) if i not in val_index],
        "val_files": [e for i, e in enumerate(entries) if i in val_index],
        "test_files": [NyuSplitEntry(TEST_FOLDER, index, "l") for index in range(1, len(held_out_views(preset)) + 1)],
    }


def _write_figure_sheet(root: Path, preset: NyuPreset, seed: int) -> None:
    """Middle frames of the training scenes and the first test view, each beside its depth."""
    shown = []
    for room in range(min(preset.figure_frames - 1, len(preset.train_rooms))):
        scene = build_scene(preset.name, seed, room)
        frame = preset.frames // 2
        shown.append((f"Training/{scene.name} frame {frame}", scene.render(frame)))
    room, frame = held_out_views(preset)[0]
    shown.append(("Testing/color 0001", build_scene(preset.name, seed, room).render(frame)))
    write_figure_sheet(root / "figure_sheet.png", shown)


def render_nyuv2(root: Path, preset: str = "default", seed: int = 0, workers: int | None = None) -> dict:
    """Render the synthetic NYUv2 dataset under ``root``; returns a small summary.

    Output bytes depend only on (preset, seed), not on ``workers`` (default: CPU count, at most 8).
    """
    start = time.perf_counter()
    root = Path(root)
    spec = nyu_preset(preset)
    views = held_out_views(spec)
    tasks = [(preset, seed, room, frame, 0, str(root))
             for room in range(len(spec.train_rooms)) for frame in range(spec.frames)]
    tasks += [(preset, seed, room, frame, index, str(root)) for index, (room, frame) in enumerate(views, start=1)]
    results = map_frames(render_nyu_frame, tasks, workers)
    K = nyu_K(spec.width, spec.height)
    scenes = [build_scene(preset, seed, room) for room in range(len(spec.train_rooms) + len(spec.test_rooms))]
    for scene in scenes[: len(spec.train_rooms)]:
        write_cam_txt(cam_path(root, scene.name), K)
        write_poses(scene_poses_path(root, scene.name), scene.poses)
    splits = nyu_splits(spec, seed)
    for name, entries in splits.items():
        write_nyu_split(root / "splits" / "nyu" / f"{name}.txt", entries)
    write_gt_depths(root / "splits" / "nyu" / "gt_depths.npz", np.stack([d for d in results if d is not None]))
    write_h5_list(root / "splits" / "nyu_h5" / "test_files.txt", [e.frame for e in splits["test_files"]])
    _write_figure_sheet(root, spec, seed)
    manifest = {
        "dataset": "synthetic_nyuv2",
        "preset": spec.name,
        "seed": seed,
        "image_size": [spec.width, spec.height],
        "intrinsics": K.round(9).tolist(),
        "frame_rate_hz": FRAME_RATE_HZ,
        "depth_png_scale": DEPTH_PNG_SCALE,
        "training_image_name": "Training/<scene>/%06d.jpg",
        "scenes": [
            {"scene": s.name, "kind": s.room.kind, "role": "train" if s.index < len(spec.train_rooms) else "test",
             "room_size_m": [round(v, 4) for v in s.room.size], "walls": list(s.room.walls),
             "frames": int(s.poses.shape[0])}
            for s in scenes
        ],
        "test_views": [{"index": i, "scene": scenes[room].name, "frame": frame}
                       for i, (room, frame) in enumerate(views, start=1)],
        "splits": {name: len(entries) for name, entries in splits.items()},
        "h5_test": {"list": "splits/nyu_h5/test_files.txt", "image_size": list(NYU_SIZE),
                    "files": len(splits["test_files"])},
    }
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {
        "root": str(root),
        "preset": preset,
        "seed": seed,
        "scenes": len(spec.train_rooms),
        "frames": len(spec.train_rooms) * spec.frames,
        "test_views": len(views),
        "image_size": [spec.width, spec.height],
        "splits": manifest["splits"],
        "seconds": round(time.perf_counter() - start, 1),
    }
