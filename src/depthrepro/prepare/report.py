"""The acceptance numbers of a dataset's prepared data (``depthrepro prepare --report``).

Read from what each step recorded, or measured here:

* JPEG: the settings the conversion recorded against ImageMagick's (monodepth2's ``convert -quality 92
  -sampling-factor 2x2,1x1,1x1``), the sampling, scan type and quantisation tables read back from sampled
  files, and (when ImageMagick is installed and the PNGs are still there) the largest pixel difference
  between our file and ImageMagick's.
* GT export: every exported npz against the renderer's exact depth, on sampled maps (synthetic world
  only): annotated maps (``eigen_benchmark``, ``odometry``, ``nyu``) must equal it within their PNG
  quantisation; raw LiDAR maps (``eigen``) hold the LiDAR x of points that monodepth2 places at
  ``round(projection) - 1``, so they are compared with the LiDAR x of the rendered surface at that
  pixel + 1, and pass when the median relative difference is below 1 %.
* Depth hints: on sampled pairs of each hint tree, the stored fused hints and the 12 single SGBM matchers
  (recomputed from the same images) against the exact depth on the hints' pixel grid, capped at 80 m,
  on the pixels where all are valid (see ``hint_accuracy``); synthetic world only.
* COLMAP coarse poses: per training scene, median rotation and translation-direction errors of the
  written relative poses against the scene's ground-truth ``poses.txt`` (the synthetic world has one;
  real NYUv2 does not).

A part that needs what only the synthetic world has says so instead of a number.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from depthrepro.evaluate.relative_pose_errors import direction_error_deg, rotation_error_deg
from depthrepro.io.kitti import DEPTH_PNG_SCALE as KITTI_PNG_SCALE
from depthrepro.io.kitti import calib_dir, depth_hint_path, image_path, read_calib_file
from depthrepro.io.kitti_odometry import read_poses
from depthrepro.io.nyuv2 import DEPTH_PNG_SCALE as NYU_PNG_SCALE
from depthrepro.io.nyuv2 import scene_poses_path
from depthrepro.prepare.depth_hints import (
    HINT_BASELINE,
    candidate_hint_depths,
    hint_focal_length,
    load_hint_image,
    split_pairs,
)
from depthrepro.prepare.gt_export import GT_CAMERA, load_gt_depths
from depthrepro.prepare.hint_accuracy import FUSED, HintAccuracy, depth_in_hint_units, format_summary
from depthrepro.prepare.jpeg import JpegSettings, ijg_tables, imagemagick_command, read_jpeg_header
from depthrepro.prepare.synthetic_truth import (
    World,
    drive_depth,
    kitti_raw_drives,
    nyu_test_depth,
    odometry_depth,
    resized_intrinsics,
    stereo_baseline,
    world_of,
)
from depthrepro.synth.drive import CAMERA_SIDES
from depthrepro.synth.nyuv2 import NYU_SIZE

MAX_ROTATION_ERROR_DEG = 0.5
"""Acceptance of the COLMAP poses: median relative-rotation error per indoor scene against the truth."""
MAX_DIRECTION_ERROR_DEG = 2.0
"""Acceptance of the COLMAP poses: median translation-direction error per indoor scene."""
EVAL_MAX_DEPTH_M = 80.0
"""Depth cap of the hint comparison, KITTI's evaluation cap."""
LIDAR_MEDIAN_TOLERANCE = 0.01
"""Acceptance of raw-LiDAR GT maps: median relative difference to the rendered surface."""
H5_TOLERANCE_M = 1e-5
"""P2Net-layout h5 files store float32 metres: no quantisation beyond float32."""
NOT_SYNTHETIC = "not available: needs the synthetic world's exact depth (this tree is not synthetic)"
GT_TREE = {"eigen": "kitti_raw", "eigen_benchmark": "kitti_raw", "odometry": "kitti_odometry_mr", "nyu": "nyuv2",
           "nyu_h5": "nyuv2"}
"""Tree (``kitti_raw`` or a companion format of params/datasets.yaml) of each GT kind compared with the
renderer's depth; the workflow's export_gt rule maps test splits to the same trees."""

T = TypeVar("T")


@dataclass(frozen=True)
class Trees:
    """Where a dataset's raw trees are: KITTI raw and its companion formats (``None`` when absent)."""

    kitti_raw: Path
    companions: dict[str, Path]

    @staticmethod
    def from_dataset(entry: dict[str, Any]) -> Trees:
        """From a params/datasets.yaml entry."""
        return Trees(Path(entry["raw_root"]),
                     {name: Path(tree["raw_root"]) for name, tree in entry.get("companions", {}).items()})

    def get(self, name: str) -> Path | None:
        return self.kitti_raw if name == "kitti_raw" else self.companions.get(name)


def spread(items: Sequence[T], count: int) -> list[T]:
    """At most ``count`` items, evenly spaced over ``items`` (all of them when there are few)."""
    if count >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def jpeg_section(jpeg_root: Path, max_files: int, imagemagick: Path | None) -> dict[str, Any]:
    """Recorded settings and sampled file headers against ImageMagick's, and a pixel check when it is installed."""
    manifest_path = jpeg_root / "manifest.json"
    if not manifest_path.is_file():
        return {"status": f"missing: {manifest_path}"}
    manifest = json.loads(manifest_path.read_text())
    reference = JpegSettings()
    recorded = {key: manifest.get(key) for key in ("quality", "sampling", "encoder")}
    files = spread(sorted(jpeg_root.glob("*/*/image_0[0-3]/data/*.jpg")), max_files)
    if not files:
        return {"status": f"missing: no image_0?/data/*.jpg under {jpeg_root}"}
    luma, chroma = ijg_tables(reference.quality)
    headers_equal = []
    for path in files:
        header = read_jpeg_header(path.read_bytes(), path)
        tables = [header.tables.get(t) for t in header.component_tables]
        headers_equal.append(header.sampling == reference.sampling and not header.progressive
                             and tables[0] == luma and all(t == chroma for t in tables[1:]))
    section: dict[str, Any] = {
        "status": "measured",
        "recorded": recorded,
        "imagemagick": {"quality": reference.quality, "sampling": reference.sampling,
                        "command": imagemagick_command(reference)},
        "recorded_equal_imagemagick": (recorded["quality"], recorded["sampling"]) == (reference.quality,
                                                                                        reference.sampling),
        "files_checked": len(files),
        "headers_equal_imagemagick": all(headers_equal),
    }
    section["pixels_vs_imagemagick"] = _imagemagick_pixels(files, jpeg_root, manifest.get("raw_root"), imagemagick,
                                                           reference)
    return section


def _imagemagick_pixels(files: list[Path], jpeg_root: Path, raw_root: str | None, imagemagick: Path | None,
                        settings: JpegSettings) -> dict[str, Any] | str:
    """Largest decoded-pixel difference between our JPEGs and ImageMagick's from the same PNGs."""
    if imagemagick is None or not imagemagick.is_file():
        return f"not available: ImageMagick not found at {imagemagick}"
    pngs = [Path(raw_root) / f.relative_to(jpeg_root).with_suffix(".png") for f in files] if raw_root else []
    pairs = [(f, png) for f, png in zip(files, pngs) if png.is_file()]
    if not pairs:
        return "not available: the source PNGs are gone"
    differences = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, (ours, png) in enumerate(pairs):
            theirs = Path(scratch) / f"{index}.jpg"
            subprocess.run([str(imagemagick), str(png), "-quality", str(settings.quality), "-sampling-factor",
                            settings.sampling, str(theirs)], check=True, capture_output=True)
            a, b = (cv2.imread(str(p), cv2.IMREAD_COLOR).astype(np.int16) for p in (ours, theirs))
            differences.append(int(np.abs(a - b).max()))
    return {"files": len(pairs), "max_abs_difference": max(differences)}


def _annotated_errors(gt: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|exported - exact| in metres at the exported map's valid pixels."""
    valid = gt > 0
    return np.abs(gt[valid].astype(np.float64) - exact[valid])


def _lidar_errors(gt: np.ndarray, exact: np.ndarray, calib_folder: Path) -> np.ndarray:
    """|exported - expected| / expected, where expected is the LiDAR x of the rendered surface seen at pixel
    (row + 1, col + 1): monodepth2 stores a point projecting to (u, v) at (round(v) - 1, round(u) - 1)."""
    cam = read_calib_file(calib_folder / "calib_cam_to_cam.txt")
    velo = read_calib_file(calib_folder / "calib_velo_to_cam.txt")
    P = cam[f"P_rect_0{GT_CAMERA}"].reshape(3, 4)
    K, offset = P[:, :3], np.linalg.solve(P[:, :3], P[:, 3])
    cam0_from_velo = np.eye(4)
    cam0_from_velo[:3, :3] = velo["R"].reshape(3, 3)
    cam0_from_velo[:3, 3] = velo["T"]
    rectify = np.eye(4)
    rectify[:3, :3] = cam["R_rect_00"].reshape(3, 3)
    rows, cols = np.nonzero(gt > 0)
    inside = (rows + 1 < exact.shape[0]) & (cols + 1 < exact.shape[1])
    rows, cols = rows[inside], cols[inside]
    z = exact[rows + 1, cols + 1].astype(np.float64)
    pixels = np.stack([cols + 1.0, rows + 1.0, np.ones(len(z))])
    in_cam0 = np.linalg.solve(K, pixels) * z - offset[:, None]
    in_velo = np.linalg.solve(rectify @ cam0_from_velo, np.vstack([in_cam0, np.ones(len(z))]))
    expected = in_velo[0]
    finite = np.isfinite(expected) & (expected > 0)
    return np.abs(gt[rows, cols][finite] - expected[finite]) / expected[finite]


def _exact_gt_depth(kind: str, world: World, entry: str) -> np.ndarray:
    """The renderer's depth for one line of an exported GT file."""
    parts = entry.split()
    if kind in ("eigen", "eigen_benchmark"):
        return drive_depth(kitti_raw_drives(world)[parts[0]], int(parts[1]), GT_CAMERA)
    if kind == "odometry":
        return odometry_depth(world, int(parts[0]), int(parts[1]))
    if kind == "nyu_h5":  # nyu_test/<index:05d>.h5, always at NYUv2's full size
        return nyu_test_depth(world, int(Path(entry).stem), NYU_SIZE)
    return nyu_test_depth(world, int(parts[1]))


def gt_file_section(path: Path, trees: Trees, max_images: int) -> dict[str, Any]:
    """One exported GT file against the renderer's exact depth on ``max_images`` sampled maps."""
    with np.load(path, allow_pickle=False) as archive:
        kind, entries = str(archive["kind"]), archive["entries"].tolist()
    section: dict[str, Any] = {"kind": kind, "maps": len(entries)}
    if kind not in GT_TREE:
        section["status"] = f"not compared: no exact-depth comparison for GT kind {kind!r}"
        return section
    tree = trees.get(GT_TREE[kind])
    world = world_of(tree) if tree is not None else None
    if world is None:
        section["status"] = NOT_SYNTHETIC
        return section
    maps = load_gt_depths(path)
    picked = spread(range(len(entries)), max_images)
    errors = []
    for index in picked:
        exact = _exact_gt_depth(kind, world, entries[index])
        if kind == "eigen":
            errors.append(_lidar_errors(maps[index], exact, calib_dir(world.root, entries[index].split()[0])))
        else:
            errors.append(_annotated_errors(maps[index], exact))
    error = np.concatenate(errors)
    section.update(status="measured", maps_compared=len(picked), pixels=int(error.size))
    if kind == "eigen":
        median = float(np.median(error))
        section.update(median_rel_difference=median, p95_rel_difference=float(np.percentile(error, 95)),
                       within_1pct=float((error < 0.01).mean()), within_5pct=float((error < 0.05).mean()),
                       equal_within_tolerance=median < LIDAR_MEDIAN_TOLERANCE,
                       tolerance=f"median relative difference < {LIDAR_MEDIAN_TOLERANCE}")
    else:
        tolerance = H5_TOLERANCE_M if kind == "nyu_h5" else 0.5 / (NYU_PNG_SCALE if kind == "nyu" else
                                                                      KITTI_PNG_SCALE) + 1e-6
        section.update(max_abs_difference_m=float(error.max()), tolerance_m=tolerance,
                       equal_within_tolerance=bool(error.max() <= tolerance))
    return section


def capped_hint_accuracy(baseline_m: float) -> HintAccuracy:
    """Empty sums of the hint comparison, the ground truth capped at ``EVAL_MAX_DEPTH_M`` in the hint units of a
    rig with baseline ``baseline_m``."""
    return HintAccuracy(max_depth=EVAL_MAX_DEPTH_M * HINT_BASELINE / baseline_m)


def hints_tree_section(tree: Path, trees: Trees, max_pairs: int) -> dict[str, Any]:
    """Fused hints of one hint tree and the 12 single matchers against the exact depth, on sampled pairs."""
    manifest = json.loads((tree / "manifest.json").read_text())
    height, width = int(manifest["height"]), int(manifest["width"])
    section: dict[str, Any] = {"split_file": manifest.get("split_file"), "size": [height, width]}
    world = world_of(trees.kitti_raw)
    if world is None:
        section["status"] = NOT_SYNTHETIC
        return section
    baseline = stereo_baseline(world)
    drives = kitti_raw_drives(world)
    images_root, ext = Path(manifest["root"]), manifest.get("image_ext", "jpg")
    fx = hint_focal_length(width)
    accuracy = capped_hint_accuracy(baseline)
    pairs = spread(split_pairs(Path(manifest["split_file"])), max_pairs)
    for folder, frame in pairs:
        left, right = (load_hint_image(image_path(images_root, folder, frame, side, ext), height, width)
                       for side in "lr")
        drive = drives[folder]
        fx_grid = resized_intrinsics(drive.rig.K, drive.rig.width, drive.rig.height, width, height)[0, 0]
        for side, camera in CAMERA_SIDES.items():
            _, candidates = candidate_hint_depths(left, right, side, fx)
            fused = np.load(depth_hint_path(tree, folder, frame, side), allow_pickle=False)[0]
            exact = drive_depth(drive, frame, camera, width, height)
            accuracy.add(fused, candidates[:, 0].numpy(), depth_in_hint_units(exact, fx_grid, width, baseline))
    section.update(status="measured", pairs_measured=len(pairs), **accuracy.summary())
    return section


def scene_pose_errors(out_root: Path, scene: str, camera_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation-direction errors (degrees, ``(N,)`` each) of every relative pose written for
    ``scene`` under ``out_root``, against ground-truth camera-to-world poses ``(F, 4, 4)`` of its frames.
    Directions, not translations: COLMAP's per-scene scale is arbitrary."""
    estimates, truths = [], []
    for path in sorted((Path(out_root) / scene).glob("*.npy")):
        target = int(path.stem)
        pair = np.load(path, allow_pickle=False)
        for pose, source in zip(pair, (target - 1, target + 1), strict=True):
            if not 0 <= source < len(camera_to_world):
                raise ValueError(f"{path}: source frame {source} has no ground-truth pose "
                                 f"({len(camera_to_world)} poses)")
            estimates.append(pose.astype(np.float64))
            truths.append(np.linalg.inv(camera_to_world[source]) @ camera_to_world[target])
    if not estimates:
        return np.zeros(0), np.zeros(0)
    estimates_array, truths_array = np.stack(estimates), np.stack(truths)
    return rotation_error_deg(estimates_array, truths_array), direction_error_deg(estimates_array, truths_array)


def colmap_section(colmap_root: Path, nyu_root: Path | None) -> dict[str, Any]:
    """Per scene: median and largest rotation / translation-direction errors against ``poses.txt``."""
    manifest_path = colmap_root / "manifest.json"
    if not manifest_path.is_file():
        return {"status": f"missing: {manifest_path}"}
    manifest = json.loads(manifest_path.read_text())
    root = nyu_root if nyu_root is not None else Path(manifest["root"])
    scenes: dict[str, Any] = {}
    for scene in sorted(manifest["scenes"]):
        poses_file = scene_poses_path(root, scene)
        if not poses_file.is_file():
            scenes[scene] = f"not available: no ground-truth poses {poses_file} (real NYUv2 has none)"
            continue
        rotations, directions = scene_pose_errors(colmap_root, scene, read_poses(poses_file))
        if not len(rotations):
            scenes[scene] = {"pairs": 0, "within_limits": False}
            continue
        median_rotation, median_direction = float(np.median(rotations)), float(np.median(directions))
        scenes[scene] = {"pairs": len(rotations),
                         "rotation_error_deg": {"median": median_rotation, "max": float(np.max(rotations))},
                         "direction_error_deg": {"median": median_direction, "max": float(np.max(directions))},
                         "within_limits": median_rotation < MAX_ROTATION_ERROR_DEG
                         and median_direction < MAX_DIRECTION_ERROR_DEG}
    measured = [s for s in scenes.values() if isinstance(s, dict)]
    return {"status": "measured" if measured else "not available: no scene has ground-truth poses",
            "limits_deg": {"rotation_median": MAX_ROTATION_ERROR_DEG, "direction_median": MAX_DIRECTION_ERROR_DEG},
            "scenes": scenes,
            "all_within_limits": all(s["within_limits"] for s in measured) if measured else None}


def prepare_report(trees: Trees, prepared: Path, max_pairs: int = 8, max_images: int = 4,
                   imagemagick: Path | None = Path("/usr/bin/convert")) -> dict[str, Any]:
    """Every section for the prepared data under ``prepared`` (``jpeg/``, ``gt/``, ``depth_hints/``,
    ``colmap/``), plus an ``acceptance`` summary: true / false per criterion, ``None`` when not measured."""
    prepared = Path(prepared)
    gt = {path.stem: gt_file_section(path, trees, max_images) for path in sorted((prepared / "gt").glob("*.npz"))}
    hints = {path.parent.name: hints_tree_section(path.parent, trees, max_pairs)
             for path in sorted((prepared / "depth_hints").glob("*/manifest.json"))}
    report = {
        "prepared": str(prepared),
        "jpeg": jpeg_section(prepared / "jpeg", max_images, imagemagick),
        "gt": gt,
        "depth_hints": hints,
        "colmap": colmap_section(prepared / "colmap", trees.get("nyuv2")),
    }
    measured_gt = [s["equal_within_tolerance"] for s in gt.values() if s.get("status") == "measured"]
    measured_hints = [s["fused_below_best_single_common"] for s in hints.values() if s.get("status") == "measured"]
    jpeg = report["jpeg"]
    report["acceptance"] = {
        "jpeg_settings_equal_imagemagick": jpeg["recorded_equal_imagemagick"] and jpeg["headers_equal_imagemagick"]
        if jpeg["status"] == "measured" else None,
        "gt_equal_rendered_depth": all(measured_gt) if measured_gt else None,
        "depth_hints_fused_below_best_single": all(measured_hints) if measured_hints else None,
        "colmap_within_limits": report["colmap"].get("all_within_limits"),
    }
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as text: one block per section, then the acceptance lines."""
    lines = [f"Prepared data: {report['prepared']}", "", "JPEG"]
    jpeg = report["jpeg"]
    if jpeg["status"] != "measured":
        lines.append(f"  {jpeg['status']}")
    else:
        lines += [f"  recorded {jpeg['recorded']}; ImageMagick {jpeg['imagemagick']['command']}",
                  f"  recorded settings equal: {jpeg['recorded_equal_imagemagick']}; headers of "
                  f"{jpeg['files_checked']} files equal (sampling, baseline, IJG tables): "
                  f"{jpeg['headers_equal_imagemagick']}",
                  f"  pixels vs ImageMagick: {jpeg['pixels_vs_imagemagick']}"]
    lines += ["", "GT export vs rendered depth"]
    for name, section in (report["gt"] or {"(none)": {"status": "no gt/*.npz"}}).items():
        if section.get("status") != "measured":
            lines.append(f"  {name}: {section.get('status')}")
        elif section["kind"] == "eigen":
            lines.append(f"  {name}: {section['maps_compared']} of {section['maps']} maps, {section['pixels']} LiDAR "
                         f"pixels: median rel diff {section['median_rel_difference']:.4f}, within 1% "
                         f"{section['within_1pct']:.3f}, within 5% {section['within_5pct']:.3f}; "
                         f"pass {section['equal_within_tolerance']}")
        else:
            lines.append(f"  {name}: {section['maps_compared']} of {section['maps']} maps, {section['pixels']} "
                         f"pixels: max |diff| {section['max_abs_difference_m']:.2e} m (tolerance "
                         f"{section['tolerance_m']:.2e}); pass {section['equal_within_tolerance']}")
    lines += ["", "Depth hints vs exact depth (abs_rel; 'common' = pixels where all 13 maps are valid)"]
    for name, section in (report["depth_hints"] or {"(none)": {"status": "no depth_hints/*/manifest.json"}}).items():
        if section.get("status") != "measured":
            lines.append(f"  {name}: {section.get('status')}")
            continue
        lines.append(f"  {name} ({section['pairs_measured']} pairs):")
        lines += [f"    {line}" for line in format_summary(section).splitlines()]
        fused = section["maps"][FUSED]["abs_rel_common"]
        best = section["best_single_common"]
        lines.append(f"    fused {fused:.4f} vs best single ({best}) {section['maps'][best]['abs_rel_common']:.4f} "
                     f"on common pixels")
    lines += ["", "COLMAP coarse poses vs ground-truth poses"]
    colmap = report["colmap"]
    if colmap["status"] != "measured":
        lines.append(f"  {colmap['status']}")
    for scene, row in colmap.get("scenes", {}).items():
        if isinstance(row, str) or not row["pairs"]:
            lines.append(f"  {scene}: {row if isinstance(row, str) else 'no relative pose written'}")
            continue
        lines.append(f"  {scene}: {row['pairs']} poses, rotation median {row['rotation_error_deg']['median']:.3f} "
                     f"(max {row['rotation_error_deg']['max']:.3f}) deg, direction median "
                     f"{row['direction_error_deg']['median']:.2f} (max {row['direction_error_deg']['max']:.2f}) deg; "
                     f"within limits {row['within_limits']}")
    lines += ["", "Acceptance (None: not measured)"]
    lines += [f"  {key}: {value}" for key, value in report["acceptance"].items()]
    return "\n".join(lines)
