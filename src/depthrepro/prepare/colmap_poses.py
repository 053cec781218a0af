"""Coarse relative poses from COLMAP for GasMono's NYUv2 training (``splits/nyu/cpose``).

Per training scene of an SC-Depth-layout NYUv2 root (``Training/<scene>/%06d.jpg`` + ``cam.txt``), COLMAP
(pycolmap 4) reconstructs the video: SIFT features with one shared PINHOLE camera fixed to the
scene's ``cam.txt`` intrinsics, sequential matching, incremental mapping. The largest model is kept.
With COLMAP's world-to-camera extrinsics ``E_i`` of every registered frame, each frame ``t`` whose
neighbours ``t - 1`` and ``t + 1`` are both registered gets

    ``<out>/<scene>/<t:04d>.npy`` = ``stack([E_{t-1} E_t^-1, E_{t+1} E_t^-1])``, float32 (2, 4, 4),

i.e. the transforms taking target-camera points into the -1 and +1 source cameras, in COLMAP's
arbitrary per-scene units (the layout and semantics GasMono's loader reads; its AlignNet absorbs the
scale). The training and validation lists are filtered to the frames that have a pose file and written
to ``<out>/splits/<split>/``, ``<split>`` being the input lists' folder name (``nyu``), the
``splits/<split>/<part>_files.txt`` layout of every split tree; ``<out>/manifest.json`` records the
COLMAP version, every option and the per-scene registration counts.

``cam.txt`` places pixel centres at integer coordinates (as the training code's projection does);
COLMAP places them at ``+0.5``, so the principal point is shifted by half a pixel on the way in.

Each scene is reconstructed in a temporary folder next to its output and renamed into place when
complete, with a ``scene.json`` recording what it was made from; a rerun skips scenes whose
``scene.json`` matches the current inputs and options, so a killed job resumes. With one COLMAP
thread per scene and a fixed seed, reruns with the same pycolmap build give identical files.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthrepro.io.atomic import atomic_write_json, atomic_write_text
from depthrepro.io.nyuv2 import NyuSplitEntry, read_cam_txt, read_nyu_split, write_nyu_split

SPLIT_NAMES: tuple[str, ...] = ("train_files", "val_files")
"""Split lists filtered to the frames that received a pose file."""

SCENE_RECORD = "scene.json"
PIXEL_CENTRE_OFFSET = 0.5
"""COLMAP's coordinate of the first pixel's centre; ``cam.txt`` puts it at 0."""

COLMAP_LOG_LEVEL = 1
"""glog level for COLMAP inside the workers: warnings and errors only (its INFO log is per image)."""

NOT_CONTROLLED = (
    "image decoding and SIFT arithmetic belong to the pycolmap build (COLMAP 4 decodes with OpenImageIO); "
    "other builds or CPUs may give slightly different poses",
    "more than one COLMAP thread per scene makes bundle adjustment order-dependent",
)


@dataclass(frozen=True)
class ColmapSettings:
    """What the reconstruction is run with (every other COLMAP option keeps its default).

    ``init_min_tri_angle`` is COLMAP's minimum triangulation angle (degrees) of the initial pair;
    its default of 16 finds no pair in slow hand-held video, whose neighbouring frames are a few
    centimetres apart. ``min_model_size`` is the fewest registered frames a model may have.
    ``colmap_threads`` is per scene (1 for reproducible output); scenes run in parallel instead.
    ``seed`` seeds COLMAP's global random generator (which the RANSAC stages draw from) and the mapper.
    """

    max_num_features: int = 8192
    sequential_overlap: int = 10
    quadratic_overlap: bool = True
    init_min_tri_angle: float = 4.0
    min_model_size: int = 3
    seed: int = 0
    colmap_threads: int = 1

    def validate(self) -> None:
        if self.max_num_features < 1 or self.sequential_overlap < 1 or self.colmap_threads < 1:
            raise ValueError(f"max_num_features, sequential_overlap and colmap_threads must be >= 1: {self}")
        if self.min_model_size < 3:
            raise ValueError(f"min_model_size must be >= 3 (a target frame needs two registered neighbours): {self}")
        if not 0 < self.init_min_tri_angle < 90:
            raise ValueError(f"init_min_tri_angle must be in (0, 90) degrees, got {self.init_min_tri_angle}")


def colmap_options(settings: ColmapSettings) -> dict[str, Any]:
    """The pycolmap option objects for ``settings``: extraction, matching, pairing, verification, mapping."""
    import pycolmap

    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = settings.colmap_threads
    extraction.sift.max_num_features = settings.max_num_features
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = settings.colmap_threads
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = settings.sequential_overlap
    pairing.quadratic_overlap = settings.quadratic_overlap
    pairing.num_threads = settings.colmap_threads
    verification = pycolmap.TwoViewGeometryOptions()
    mapping = pycolmap.IncrementalPipelineOptions()
    mapping.num_threads = settings.colmap_threads
    mapping.random_seed = settings.seed
    mapping.mapper.num_threads = settings.colmap_threads
    mapping.min_model_size = settings.min_model_size
    mapping.mapper.init_min_tri_angle = settings.init_min_tri_angle
    mapping.ba_refine_focal_length = False
    mapping.ba_refine_principal_point = False
    mapping.ba_refine_extra_params = False
    mapping.mapper.abs_pose_refine_focal_length = False
    mapping.mapper.abs_pose_refine_extra_params = False
    return {"extraction": extraction, "matching": matching, "pairing": pairing, "verification": verification,
            "mapping": mapping}


def _plain(value: Any) -> Any:
    """JSON-comparable form (tuples become lists, enums and sets strings)."""
    return json.loads(json.dumps(value, default=str))


def colmap_version() -> dict[str, str]:
    """pycolmap's version, the COLMAP version and build it wraps."""
    import pycolmap

    return {"pycolmap": pycolmap.__version__, "colmap": pycolmap.COLMAP_version, "build": pycolmap.COLMAP_build}


def options_record(settings: ColmapSettings) -> dict[str, Any]:
    """Every COLMAP option in effect (defaults included), the settings and the fixed choices."""
    return _plain({
        "settings": asdict(settings),
        "camera": {"model": "PINHOLE", "mode": "SINGLE", "params": "cam.txt, principal point + 0.5", "refined": False},
        "matching": "sequential",
        "mapper": "incremental",
        "model": "largest by registered frames",
        "colmap": {name: options.todict() for name, options in colmap_options(settings).items()},
    })


def scene_frames(scene_dir: Path, image_ext: str) -> dict[int, str]:
    """``{frame index: image name}`` of the video frames ``<frame:06d>.<ext>`` in ``scene_dir``."""
    frames: dict[int, str] = {}
    for path in sorted(scene_dir.glob(f"*.{image_ext}")):
        if not path.stem.isdigit():
            raise ValueError(f"{path}: frame names must be a zero-padded index (e.g. 000012.{image_ext})")
        frames[int(path.stem)] = path.name
    if len(frames) < 3:
        raise FileNotFoundError(f"{scene_dir}: fewer than 3 *.{image_ext} frames ({len(frames)})")
    return frames


def colmap_camera_params(K: np.ndarray, width: int, height: int, source: Path) -> str:
    """``"fx,fy,cx,cy"`` for COLMAP's PINHOLE model from integer-centred intrinsics ``K`` (3, 3)."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if not (fx > 0 and fy > 0 and 0 < cx < width and 0 < cy < height) or K[0, 1] != 0:
        raise ValueError(f"{source}: intrinsics {K.tolist()} do not fit {width}x{height} images "
                         "(expected positive focal lengths, no skew and the principal point inside the image)")
    return ",".join(repr(float(v)) for v in (fx, fy, cx + PIXEL_CENTRE_OFFSET, cy + PIXEL_CENTRE_OFFSET))


def relative_source_poses(cam_from_world: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """``{t: stack([E_{t-1} E_t^-1, E_{t+1} E_t^-1])}`` (2, 4, 4) float32 for every frame ``t`` whose
    neighbours are registered; ``cam_from_world`` maps frame index to the world-to-camera ``E`` (4, 4)."""
    poses = {}
    for frame in sorted(cam_from_world):
        if frame - 1 in cam_from_world and frame + 1 in cam_from_world:
            world_from_target = np.linalg.inv(cam_from_world[frame])
            poses[frame] = np.stack([cam_from_world[frame - 1] @ world_from_target,
                                     cam_from_world[frame + 1] @ world_from_target]).astype(np.float32)
    return poses


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return image.shape[1], image.shape[0]


def scene_fingerprint(scene_dir: Path, frames: dict[int, str], settings: ColmapSettings) -> dict[str, Any]:
    """What a scene's poses depend on: frame names, intrinsics, options and the COLMAP version."""
    cam_file = scene_dir / "cam.txt"
    if not cam_file.is_file():
        raise FileNotFoundError(f"{cam_file}: missing (3x3 intrinsics of the scene's frames)")
    width, height = _image_size(scene_dir / frames[min(frames)])
    K = read_cam_txt(cam_file)
    return _plain({"frames": list(frames.values()), "image_size": [width, height],
                   "camera_params": colmap_camera_params(K, width, height, cam_file),
                   "options": options_record(settings), "version": colmap_version()})


def _reconstruct(scene_dir: Path, work: Path, frames: dict[int, str], camera_params: str,
                 settings: ColmapSettings) -> dict[str, Any]:
    """Run COLMAP on one scene in ``work``; returns the largest model's world-to-camera poses and stats."""
    import pycolmap

    pycolmap.logging.minloglevel = COLMAP_LOG_LEVEL
    pycolmap.set_random_seed(settings.seed)
    options = colmap_options(settings)
    database = work / "database.db"
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "PINHOLE"
    reader.camera_params = camera_params
    pycolmap.extract_features(database, scene_dir, image_names=list(frames.values()),
                              camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              extraction_options=options["extraction"], device=pycolmap.Device.cpu)
    pycolmap.match_sequential(database, matching_options=options["matching"], pairing_options=options["pairing"],
                              verification_options=options["verification"], device=pycolmap.Device.cpu)
    models = pycolmap.incremental_mapping(database, scene_dir, work / "sparse", options=options["mapping"])
    sizes = sorted((model.num_reg_images() for model in models.values()), reverse=True)
    if not models:
        return {"models": [], "cam_from_world": {}, "points3D": 0, "mean_reprojection_error": None}
    largest = max(sorted(models), key=lambda key: models[key].num_reg_images())
    model = models[largest]
    frame_of = {name: frame for frame, name in frames.items()}
    cam_from_world = {}
    for image in model.images.values():
        if image.has_pose:
            matrix = np.eye(4)
            matrix[:3, :] = image.cam_from_world().matrix()
            cam_from_world[frame_of[image.name]] = matrix
    return {"models": sizes, "cam_from_world": cam_from_world, "points3D": int(model.num_points3D()),
            "mean_reprojection_error": float(model.compute_mean_reprojection_error())}


def scene_is_complete(scene_out: Path, fingerprint: dict[str, Any]) -> bool:
    """True when ``scene_out`` holds a ``scene.json`` made from ``fingerprint`` and every pose file it lists."""
    record_path = scene_out / SCENE_RECORD
    if not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("fingerprint") != fingerprint:
        return False
    return all((scene_out / f"{frame:04d}.npy").is_file() for frame in record.get("targets", []))


def process_scene(task: tuple[str, str, str, str, ColmapSettings]) -> dict[str, Any]:
    """Reconstruct one scene unless its outputs are complete; returns its ``scene.json`` record
    (plus ``skipped`` and ``seconds``). ``task`` is (dataset root, scene, output root, image ext, settings)."""
    root, scene, out_text, image_ext, settings = task
    start = time.perf_counter()
    scene_dir = Path(root) / "Training" / scene
    out_root = Path(out_text)
    scene_out = out_root / scene
    frames = scene_frames(scene_dir, image_ext)
    fingerprint = scene_fingerprint(scene_dir, frames, settings)
    if scene_is_complete(scene_out, fingerprint):
        record = json.loads((scene_out / SCENE_RECORD).read_text())
        return {**record, "skipped": True, "seconds": time.perf_counter() - start}

    for stale in out_root.glob(f".{scene}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=out_root, prefix=f".{scene}.", suffix=".tmp"))
    staging.chmod(0o755)
    try:
        work = staging / "colmap"
        work.mkdir()
        result = _reconstruct(scene_dir, work, frames, fingerprint["camera_params"], settings)
        shutil.rmtree(work)
        targets = relative_source_poses(result["cam_from_world"])
        for frame, pose in targets.items():
            np.save(staging / f"{frame:04d}.npy", pose, allow_pickle=False)
        record = {
            "scene": scene,
            "frames": len(frames),
            "registered": sorted(result["cam_from_world"]),
            "models": result["models"],
            "points3D": result["points3D"],
            "mean_reprojection_error": result["mean_reprojection_error"],
            "targets": sorted(targets),
            "fingerprint": fingerprint,
        }
        atomic_write_text(staging / SCENE_RECORD, json.dumps(record, indent=1) + "\n")
        if scene_out.exists():
            shutil.rmtree(scene_out)
        staging.rename(scene_out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {**record, "skipped": False, "seconds": time.perf_counter() - start}


def _progress_line(done: int, total: int, record: dict[str, Any]) -> str:
    state = "kept" if record["skipped"] else f"{record['seconds']:.1f} s"
    return (f"[{done}/{total}] {record['scene']}: {len(record['registered'])}/{record['frames']} frames registered, "
            f"{len(record['targets'])} target frames ({state})")


def _scene_failed(task: tuple[str, str, str, str, ColmapSettings], error: Exception) -> RuntimeError:
    return RuntimeError(f"{Path(task[0]) / 'Training' / task[1]}: coarse poses failed: {error}")


def run_scenes(tasks: list[tuple[str, str, str, str, ColmapSettings]], workers: int,
               report: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """``{scene: record}`` of every task, over ``workers`` spawned processes; one progress line each.

    A failing scene stops the run with an error naming it; scenes already finished stay written.
    """
    records: dict[str, dict[str, Any]] = {}
    if workers <= 1:
        for task in tasks:
            try:
                records[task[1]] = process_scene(task)
            except Exception as error:
                raise _scene_failed(task, error) from error
            report(_progress_line(len(records), len(tasks), records[task[1]]))
        return records
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(process_scene, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                records[task[1]] = future.result()
            except Exception as error:
                raise _scene_failed(task, error) from error
            report(_progress_line(len(records), len(tasks), records[task[1]]))
    return records


def filter_split(entries: list[NyuSplitEntry], records: dict[str, dict[str, Any]]) -> list[NyuSplitEntry]:
    """The entries whose scene and frame received a pose file, in their original order."""
    kept = {scene: set(record["targets"]) for scene, record in records.items()}
    return [entry for entry in entries if entry.frame in kept.get(entry.scene, ())]


def colmap_poses(root: Path, split_dir: Path, out_root: Path, settings: ColmapSettings = ColmapSettings(),
                 workers: int = 1, image_ext: str = "jpg",
                 report: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
                 ) -> dict[str, Any]:
    """Coarse poses for every scene named in ``split_dir``'s train/val lists of the NYUv2 ``root``.

    Writes ``out_root/<scene>/<frame:04d>.npy``, ``out_root/splits/<split_dir name>/{train,val}_files.txt``
    and ``out_root/manifest.json``; returns the manifest.
    """
    settings.validate()
    root, split_dir, out_root = Path(root), Path(split_dir), Path(out_root)
    splits = {}
    for name in SPLIT_NAMES:
        path = split_dir / f"{name}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing split list ('<scene> <frame:04d> l' lines)")
        splits[name] = read_nyu_split(path)
    scenes = sorted({entry.scene for entries in splits.values() for entry in entries})
    if not scenes:
        raise ValueError(f"{split_dir}: the split lists name no scene")
    missing = [scene for scene in scenes if not (root / "Training" / scene).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root / 'Training'}: {len(missing)} scenes of the split lists are missing, "
                                f"first: {missing[:3]}")

    out_root.mkdir(parents=True, exist_ok=True)
    tasks = [(str(root), scene, str(out_root), image_ext, settings) for scene in scenes]
    records = run_scenes(tasks, workers, report)
    kept = {name: filter_split(entries, records) for name, entries in splits.items()}
    for name, entries in kept.items():
        write_nyu_split(out_root / "splits" / split_dir.name / f"{name}.txt", entries)
    manifest = {
        "version": colmap_version(),
        "options": options_record(settings),
        "deterministic": settings.colmap_threads == 1,
        "not_controlled": list(NOT_CONTROLLED),
        "root": str(root),
        "image_ext": image_ext,
        "scenes": {scene: {"frames": records[scene]["frames"], "registered": len(records[scene]["registered"]),
                           "models": records[scene]["models"], "targets": len(records[scene]["targets"]),
                           "points3D": records[scene]["points3D"],
                           "mean_reprojection_error": records[scene]["mean_reprojection_error"]}
                   for scene in scenes},
        "failed_scenes": [scene for scene in scenes if not records[scene]["targets"]],
        "splits": {name: {"input": len(splits[name]), "kept": len(kept[name])} for name in SPLIT_NAMES},
    }
    atomic_write_json(out_root / "manifest.json", manifest)
    return manifest
