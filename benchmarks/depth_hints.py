"""Depth hints on a rendered synthetic world: throughput (a process pool against one process, outputs compared
byte for byte) and accuracy (the fused hint against each of the 12 single SGBM matchers, on the same pixels).

    depthrepro synth --preset default --out /tmp/world
    python benchmarks/depth_hints.py --root /tmp/world/kitti_raw --pairs 8 --workers 2

Also times the two stages of one hint (12 SGBM matchers; warp + SSIM/L1 selection) and the SGBM stage
under cv2.setNumThreads(0), (1) and OpenCV's default. Reference: the depth-hints README quotes about 4 h
for KITTI's eigen_full (about 23.5k pairs, 47k hints) on a GPU machine.

Accuracy: ``--accuracy-pairs`` pairs spread over the split, both sides, from the images as the pipeline
reads them (the world's PNGs converted to JPEG with the pipeline's settings, then Lanczos-resized), against
the exact depth on the hints' pixel grid, capped at 80 m. Abs_rel on the pixels where all 13 maps are valid
(``prepare.hint_accuracy``), on each map's own pixels, coverage; then where the fused hint gains or loses
against the best single matcher (by surface and by true disparity), how often it picks each matcher, and
the oracle (the candidate closest to the truth per pixel). Sensor noise: the same pairs re-rendered with other
pixel-noise levels (``--noise-levels``), left hints, fused against the best single matcher: whether the
comparison depends on the noise. Writes benchmarks/results/depth_hints.json and depth_hints.md and prints the
markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch

from depthrepro.io.atomic import atomic_write_json, atomic_write_text
from depthrepro.io.kitti import SplitEntry, image_path, write_split_file
from depthrepro.prepare import depth_hints as dh
from depthrepro.prepare.hint_accuracy import FUSED, MATCHER_NAMES, depth_in_hint_units, format_summary
from depthrepro.prepare.jpeg import JpegSettings
from depthrepro.prepare.report import EVAL_MAX_DEPTH_M, capped_hint_accuracy, spread
from depthrepro.prepare.synthetic_truth import kitti_raw_drives, resized_intrinsics, stereo_baseline, world_of
from depthrepro.synth.camera import FAR, SENSOR_NOISE, camera_windows, pixel_rays
from depthrepro.synth.drive import CAMERA_SIDES, Drive
from depthrepro.synth.raycast import cast
from depthrepro.synth.scene import Material

RESULTS = Path(__file__).parent / "results"


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Shortest wall time of ``repeats`` calls, seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def stage_times(root: Path, pair: tuple[str, int], height: int, width: int, image_ext: str,
                repeats: int) -> dict[str, float]:
    """Seconds per hint for SGBM (under several cv2 thread settings) and for the warp + selection."""
    folder, frame = pair
    left, right = (dh.load_hint_image(image_path(root, folder, frame, side, image_ext), height, width)
                   for side in "lr")
    fx = dh.hint_focal_length(width)
    default_threads = cv2.getNumThreads()
    times: dict[str, float] = {}
    for label, threads in (("sgbm_s_cv2_threads_0", 0), ("sgbm_s_cv2_threads_1", 1),
                           (f"sgbm_s_cv2_default_{default_threads}", default_threads)):
        cv2.setNumThreads(threads)
        times[label] = best_of(repeats, lambda: dh.sgbm_disparities_x16(left, right, mirror=False))
    cv2.setNumThreads(default_threads)
    depths = dh.disparity_to_hint_depth(dh.sgbm_disparities_x16(left, right, mirror=False), fx)
    K = dh.hint_intrinsics(height, width, fx)
    threads = torch.get_num_threads()
    for torch_threads in sorted({1, threads}):
        torch.set_num_threads(torch_threads)
        times[f"selection_s_torch_threads_{torch_threads}"] = best_of(
            repeats, lambda: dh.reprojection_errors(left, right, depths, K, -dh.HINT_BASELINE))
    torch.set_num_threads(threads)
    return {k: round(v, 3) for k, v in times.items()}


SURFACES = {"road": (Material.ASPHALT, Material.PAINT), "vehicles": (Material.CAR, Material.CABIN),
            "facades": (Material.FACADE,), "other": (Material.VERGE, Material.POLE, Material.SIGN, Material.TRUNK,
                                                     Material.FOLIAGE)}
"""Surface classes of the breakdown; the ground plane is asphalt."""
NEAR_DISPARITY = min(p["numDisparities"] for p in dh.MATCHER_PARAMS)
"""Pixels whose true disparity exceeds the smallest disparity range: only some matchers can reach them."""


def exact_hits(drive: Drive, frame: int, camera: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact depth (metres) and surface class index (into SURFACES; -1 for sky) on the hints' pixel grid."""
    rig = drive.rig
    K = resized_intrinsics(rig.K, rig.width, rig.height, width, height)
    geometry = drive.scene.geometry_at(float(drive.trajectory.times[frame]))
    T = drive.T_world_from_camera(frame, camera)
    dirs = (pixel_rays(K, width, height) @ T[:3, :3].T).astype(np.float32)
    hits = cast(T[:3, 3], dirs, geometry, camera_windows(geometry, T, K, width, height), FAR)
    materials = np.concatenate([[-1, int(Material.ASPHALT)], geometry.boxes.material, geometry.spheres.material])
    surface_of = np.full(int(max(Material)) + 2, -1)
    for index, members in enumerate(SURFACES.values()):
        surface_of[[int(m) + 1 for m in members]] = index
    return hits.t, surface_of[materials[hits.object_id + 1] + 1]


def pipeline_image(png: Path, scratch: Path, height: int, width: int) -> np.ndarray:
    """The image as the depth-hints rule reads it: the PNG converted to JPEG with the pipeline's settings, then
    loaded (PIL, RGB) and Lanczos-resized."""
    bgr = cv2.imread(str(png), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{png}: cannot decode PNG")
    return jpeg_hint_image(bgr, scratch / f"{png.parent.parent.name}_{png.stem}.jpg", height, width)


def jpeg_hint_image(bgr: np.ndarray, path: Path, height: int, width: int) -> np.ndarray:
    """``bgr`` (H, W, 3) uint8 written to ``path`` as JPEG with the pipeline's settings and read back as the
    hints read an image."""
    ok, jpg = cv2.imencode(".jpg", bgr, JpegSettings().imwrite_params())
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    path.write_bytes(jpg.tobytes())
    return dh.load_hint_image(path, height, width)


def synthetic_drives(root: Path) -> tuple[dict[str, Drive], float]:
    """The drives of the synthetic world at ``root``, by folder, and its stereo baseline (metres)."""
    world = world_of(root)
    if world is None:
        raise SystemExit(f"{root}: not a synthetic world (no generator in manifest.json): the accuracy studies "
                         "need its exact depth")
    return kitti_raw_drives(world), stereo_baseline(world)


def accuracy(root: Path, pairs: list[tuple[str, int]], height: int, width: int) -> dict:
    """Fused hints against the single matchers on ``pairs`` of the synthetic world at ``root`` (see module doc)."""
    drives, baseline = synthetic_drives(root)
    fx = dh.hint_focal_length(width)
    totals = capped_hint_accuracy(baseline)
    groups = [*SURFACES, f"true disparity > {NEAR_DISPARITY} px", f"true disparity <= {NEAR_DISPARITY} px"]
    group_error = np.zeros((len(groups), 1 + len(MATCHER_NAMES)))
    group_pixels = np.zeros(len(groups), np.int64)
    picked = np.zeros(len(MATCHER_NAMES), np.int64)
    equal_to_chosen = np.zeros(len(MATCHER_NAMES) + 1, np.int64)
    oracle = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for folder, frame in pairs:
            left, right = (pipeline_image(image_path(root, folder, frame, side, "png"), Path(scratch), height, width)
                           for side in "lr")
            drive = drives[folder]
            fx_grid = resized_intrinsics(drive.rig.K, drive.rig.width, drive.rig.height, width, height)[0, 0]
            for side, camera in CAMERA_SIDES.items():
                selection = dh.select_depth_hint(left, right, side, fx)
                depth, surface = exact_hits(drive, frame, camera, height, width)
                gt = depth_in_hint_units(depth, fx_grid, width, baseline)
                totals.add(selection.hint[0], selection.candidate_depths, gt)
                maps = np.concatenate([selection.hint, selection.candidate_depths]).astype(np.float64)
                truth = np.isfinite(gt) & (gt > 0) & (gt <= totals.max_depth)
                common = ((maps > 0) & truth).all(axis=0)
                error = np.abs(maps - gt) / np.where(truth, gt, 1.0)
                near = fx * dh.HINT_BASELINE / np.where(truth, gt, np.inf) > NEAR_DISPARITY
                masks = [surface == i for i in range(len(SURFACES))] + [near, ~near]
                for g, mask in enumerate(masks):
                    selected = common & mask
                    group_error[g] += np.where(selected, error, 0.0).sum(axis=(1, 2))
                    group_pixels[g] += int(selected.sum())
                picked += np.bincount(selection.best_index[0][common], minlength=len(MATCHER_NAMES))
                equal = (selection.candidate_depths == selection.hint).sum(axis=0)[common]
                equal_to_chosen += np.bincount(equal, minlength=len(MATCHER_NAMES) + 1)
                oracle += float(error[1:, common].min(axis=0).sum())
    summary = totals.summary()
    best = 1 + MATCHER_NAMES.index(summary["best_single_common"])
    summary["breakdown_vs_best_single"] = {
        group: {"fraction_of_common_pixels": float(group_pixels[g] / summary["common_pixels"]),
                "abs_rel_fused": float(group_error[g, 0] / max(group_pixels[g], 1)),
                "abs_rel_best_single": float(group_error[g, best] / max(group_pixels[g], 1)),
                "fused_minus_best_share": float((group_error[g, 0] - group_error[g, best]) / summary["common_pixels"])}
        for g, group in enumerate(groups)}
    summary["picked_fraction_common"] = {name: float(c / picked.sum()) for name, c in zip(MATCHER_NAMES, picked)}
    summary["oracle_abs_rel_common"] = oracle / summary["common_pixels"]
    summary["matchers_equal_to_fused_common"] = {
        "mean": float((np.arange(equal_to_chosen.size) * equal_to_chosen).sum() / equal_to_chosen.sum()),
        "fraction_more_than_one": float(equal_to_chosen[2:].sum() / equal_to_chosen.sum())}
    summary["pairs"] = len(pairs)
    summary["image_source"] = "the world's PNGs as JPEG q92 4:2:0 (the pipeline's), Lanczos-resized"
    return summary


def noise_study(root: Path, pairs: list[tuple[str, int]], height: int, width: int,
                levels: list[float]) -> dict:
    """Fused hint against the best single matcher with the world's images re-rendered at other sensor noise
    levels (standard deviation, grey levels; the dataset's is ``SENSOR_NOISE``), left hints of ``pairs``.

    At the dataset's level the re-rendered images must equal the stored PNGs (checked), so that row repeats
    the accuracy study's left-image half."""
    drives, baseline = synthetic_drives(root)
    fx = dh.hint_focal_length(width)
    totals = {level: capped_hint_accuracy(baseline) for level in levels}
    with tempfile.TemporaryDirectory() as scratch:
        for folder, frame in pairs:
            drive = drives[folder]
            fx_grid = resized_intrinsics(drive.rig.K, drive.rig.width, drive.rig.height, width, height)[0, 0]
            depth, _ = exact_hits(drive, frame, CAMERA_SIDES["l"], height, width)
            gt = depth_in_hint_units(depth, fx_grid, width, baseline)
            for level in levels:
                images = {}
                for side, camera in CAMERA_SIDES.items():
                    rgb = drive.render_camera(frame, camera, sensor_noise=level).rgb
                    if level == SENSOR_NOISE:
                        stored = cv2.imread(str(image_path(root, folder, frame, side, "png")), cv2.IMREAD_COLOR)
                        if stored is None or not np.array_equal(stored[..., ::-1], rgb):
                            raise SystemExit(f"{folder} frame {frame} {side}: re-render differs from the stored PNG")
                    images[side] = jpeg_hint_image(np.ascontiguousarray(rgb[..., ::-1]),
                                                   Path(scratch) / f"{side}.jpg", height, width)
                selection = dh.select_depth_hint(images["l"], images["r"], "l", fx)
                totals[level].add(selection.hint[0], selection.candidate_depths, gt)
    rows = {}
    for level, accumulated in totals.items():
        summary = accumulated.summary()
        best = summary["best_single_common"]
        rows[f"{level:g}"] = {"abs_rel_common_fused": summary["maps"][FUSED]["abs_rel_common"],
                              "best_single_common": best,
                              "abs_rel_common_best_single": summary["maps"][best]["abs_rel_common"],
                              "fused_below_best_single_common": summary["fused_below_best_single_common"],
                              "coverage_fused": summary["maps"][FUSED]["coverage"],
                              "coverage_best_single": summary["maps"][best]["coverage"]}
    return {"pairs": len(pairs), "dataset_noise": SENSOR_NOISE, "levels": rows}


def noise_markdown(study: dict) -> str:
    """The noise study's part of the results file."""
    lines = [f"## Sensor noise ({study['pairs']} pairs, left hints, images re-rendered; the dataset's noise is "
             f"{study['dataset_noise']:g} grey levels)", "",
             "| noise (grey levels) | fused, common | best single, common | best single | fused coverage | "
             "best single coverage |", "|---|---|---|---|---|---|"]
    for level, row in study["levels"].items():
        lines.append(f"| {level} | {row['abs_rel_common_fused']:.4f} | {row['abs_rel_common_best_single']:.4f} | "
                     f"{row['best_single_common']} | {row['coverage_fused']:.3f} | {row['coverage_best_single']:.3f} |")
    return "\n".join(lines + [""])


def accuracy_markdown(summary: dict) -> str:
    """The accuracy part of the results file."""
    maps = summary["maps"]
    best = summary["best_single_common"]
    lines = [f"## Accuracy against the exact depth ({summary['pairs']} pairs, {summary['image_source']}; capped at "
             f"{EVAL_MAX_DEPTH_M:.0f} m)", "", "```", format_summary(summary), "```", "",
             "On the pixels where all 13 maps are valid the fused hint has abs_rel "
             f"{maps[FUSED]['abs_rel_common']:.4f}, the best single matcher ({best}) {maps[best]['abs_rel_common']:.4f}; a per-pixel oracle over the 12 "
             f"candidates would reach {summary['oracle_abs_rel_common']:.4f}. On its own pixels the fused hint has "
             f"{maps[FUSED]['abs_rel_own']:.4f} at coverage {maps[FUSED]['coverage']:.3f} against "
             f"{maps[summary['best_single_own']]['abs_rel_own']:.4f} at "
             f"{maps[summary['best_single_own']]['coverage']:.3f} for {summary['best_single_own']}: own-pixel "
             "numbers compare different pixels (the fused hint also answers where only the short-range matchers "
             "do: the first 64-160 columns and near objects).", "",
             "Where the fused hint gains or loses against the best single matcher (common pixels; the share is the "
             "part of the abs_rel difference each group contributes):", "",
             "| pixels | fraction | fused | best single | fused - best, share |", "|---|---|---|---|---|"]
    for group, row in summary["breakdown_vs_best_single"].items():
        lines.append(f"| {group} | {row['fraction_of_common_pixels']:.3f} | {row['abs_rel_fused']:.4f} | "
                     f"{row['abs_rel_best_single']:.4f} | {row['fused_minus_best_share']:+.5f} |")
    picks = ", ".join(f"{name} {fraction:.3f}" for name, fraction in summary["picked_fraction_common"].items()
                      if fraction > 0)
    ties = summary["matchers_equal_to_fused_common"]
    lines += ["", f"Matchers the fused hint takes (common pixels): {picks}. The selection takes the first of equal "
              f"errors in sweep order, and matchers often agree to the bit: on {ties['fraction_more_than_one']:.3f} "
              f"of these pixels more than one matcher gives the fused depth (on average {ties['mean']:.1f} of 12), "
              "so a matcher named here stands for all that agree with it.", ""]
    return "\n".join(lines)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True, help="a rendered synthetic world (or KITTI raw)")
    p.add_argument("--split-file", type=Path, help="default: <root>/splits/eigen_zhou/train_files.txt")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--height", type=int, default=320)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--image-ext", default="png")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--accuracy-pairs", type=int, default=8, help="pairs of the accuracy study (0: skip it)")
    p.add_argument("--noise-levels", type=float, nargs="*", default=[0.0, SENSOR_NOISE, 2 * SENSOR_NOISE],
                   help="sensor noise levels of the re-rendering study, grey levels (none: skip it)")
    args = p.parse_args()
    split_file = args.split_file or args.root / "splits" / "eigen_zhou" / "train_files.txt"
    pairs = dh.split_pairs(split_file)[:args.pairs]
    with tempfile.TemporaryDirectory() as scratch:
        split = Path(scratch) / "pairs.txt"
        write_split_file(split, [SplitEntry(folder, frame, "l") for folder, frame in pairs])
        single, pool = (dh.compute_hints_for_split(args.root, split, Path(scratch) / name, args.height, args.width,
                                                   workers, args.image_ext, progress=False)
                        for name, workers in (("single", 1), ("pool", args.workers)))
        reference = tree_bytes(Path(scratch) / "single")
        identical = len(reference) == 2 * len(pairs) and reference == tree_bytes(Path(scratch) / "pool")
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"load average {os.getloadavg()[0]:.1f} at the end",
        "opencv": cv2.__version__, "torch": torch.__version__,
        "resolution": f"{args.height}x{args.width}", "pairs": len(pairs), "hints": 2 * len(pairs),
        "single_process": {"seconds": single["seconds"], "pairs_per_s": single["pairs_per_s"]},
        "process_pool": {"workers": args.workers, "seconds": pool["seconds"],
                         "pairs_per_s": pool["pairs_per_s"]},
        "threads": "torch 1 thread per process (the single process too), cv2.setNumThreads(0) per worker",
        "speedup": round(single["seconds"] / pool["seconds"], 2),
        "outputs_identical": identical,
        "valid_fraction": round(single["valid_fraction"], 4),
        "per_hint_stage_seconds": stage_times(args.root, pairs[0], args.height, args.width, args.image_ext,
                                              args.repeats),
    }
    if args.accuracy_pairs:
        result["accuracy"] = accuracy(args.root, spread(dh.split_pairs(split_file), args.accuracy_pairs),
                                      args.height, args.width)
    if args.noise_levels:
        result["noise_study"] = noise_study(args.root, spread(dh.split_pairs(split_file), args.accuracy_pairs or 8),
                                            args.height, args.width, args.noise_levels)
    stages = "; ".join(f"{k} {v}" for k, v in result["per_hint_stage_seconds"].items())
    markdown = (
        "# Depth hints: throughput and accuracy\n\n"
        f"{result['date']}, {result['machine']}; OpenCV {result['opencv']}, torch {result['torch']}; "
        f"{result['pairs']} pairs ({result['hints']} hints) at {result['resolution']}.\n\n"
        "| run | seconds | pairs/s |\n|---|---|---|\n"
        f"| one process | {single['seconds']:.2f} | {single['pairs_per_s']:.3f} |\n"
        f"| pool of {args.workers} processes (worker start-up included) | {pool['seconds']:.2f} | "
        f"{pool['pairs_per_s']:.3f} |\n\n"
        f"Speed-up {result['speedup']}x; outputs byte-identical: {identical}; "
        f"valid fraction {result['valid_fraction']}.\n\n"
        f"Per hint, best of {args.repeats}: {stages}.\n"
    )
    if "accuracy" in result:
        markdown += "\n" + accuracy_markdown(result["accuracy"])
    if "noise_study" in result:
        markdown += "\n" + noise_markdown(result["noise_study"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "depth_hints.json", result)
    atomic_write_text(RESULTS / "depth_hints.md", markdown)
    print(markdown)
    if not identical:
        raise SystemExit("process-pool hints differ from the single-process hints")


if __name__ == "__main__":
    main()
