"""Depth-hint throughput: a process pool against one process on the same pairs; outputs compared byte for byte.

    depthrepro synth --preset default --out /tmp/world
    python benchmarks/depth_hints.py --root /tmp/world --pairs 8 --workers 2

Also times the two stages of one hint (12 SGBM matchers; warp + SSIM/L1 selection) and the SGBM stage
under cv2.setNumThreads(0), (1) and OpenCV's default. Writes benchmarks/results/depth_hints.json and
depth_hints.md and prints the markdown. Reference: the depth-hints README quotes about 4 h for KITTI's
eigen_full (about 23.5k pairs, 47k hints) on a GPU machine.
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
import torch

from depthrepro.io.atomic import atomic_write_json, atomic_write_text
from depthrepro.io.kitti import SplitEntry, image_path, write_split_file
from depthrepro.prepare import depth_hints as dh

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
    stages = "; ".join(f"{k} {v}" for k, v in result["per_hint_stage_seconds"].items())
    markdown = (
        "# Depth-hint throughput\n\n"
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "depth_hints.json", result)
    atomic_write_text(RESULTS / "depth_hints.md", markdown)
    print(markdown)
    if not identical:
        raise SystemExit("process-pool hints differ from the single-process hints")


if __name__ == "__main__":
    main()
