"""Training throughput and peak memory of registered methods, and loader throughput vs step time.

    python benchmarks/train_throughput.py --methods monodepth2 --height 192 --width 640 --batch 12 --steps 5
    python benchmarks/train_throughput.py --loader-root results/prepared/synthetic_kitti/jpeg \
        --split-file data/synthetic/kitti_raw/splits/eigen_zhou/train_files.txt --workers 0 1 2

Writes a markdown row per measurement to benchmarks/results/train_throughput.md (with the machine) and
prints it. Anchors (monodepth2 README, Titan Xp, 192x640, batch 12): about 18 samples/s, about 9 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from depthrepro.data.kitti_raw import KittiRawDataset
from depthrepro.io.kitti import read_split_file
from depthrepro.methods.registry import build_method

RESULTS = Path(__file__).parent / "results" / "train_throughput.md"
K_NORM = np.array([[0.58, 0, 0.5], [0, 1.92, 0.5]])


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def synthetic_batch(height: int, width: int, batch: int, frame_ids: list, device: torch.device) -> dict:
    """Random images with KITTI intrinsics in monodepth2's batch layout."""
    inputs: dict = {}
    for f in frame_ids:
        for s in range(4):
            img = torch.rand(batch, 3, height // 2**s, width // 2**s, device=device)
            inputs[("color", f, s)] = inputs[("color_aug", f, s)] = img
    for s in range(4):
        K = torch.eye(4)
        K[0, :3] = torch.tensor(K_NORM[0]) * (width // 2**s)
        K[1, :3] = torch.tensor(K_NORM[1]) * (height // 2**s)
        inputs[("K", s)] = K.expand(batch, 4, 4).contiguous().to(device)
        inputs[("inv_K", s)] = torch.linalg.inv(K).expand(batch, 4, 4).contiguous().to(device)
    stereo = torch.eye(4)
    stereo[0, 3] = 0.1
    inputs["stereo_T"] = stereo.expand(batch, 4, 4).contiguous().to(device)
    return inputs


def bench_method(name: str, height: int, width: int, batch: int, steps: int, device: torch.device,
                 threads: int) -> dict:
    torch.set_num_threads(threads)
    method = build_method(name, {"height": height, "width": width}).to(device).train()
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-4)
    inputs = synthetic_batch(height, width, batch, list(method.config.frame_ids), device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        loss, _ = method.training_step(inputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    peak = (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    return {"what": f"{name} train step", "setting": f"{height}x{width}, batch {batch}",
            "samples_per_s": batch / seconds, "s_per_step": seconds,
            "peak_memory_gib": peak, "memory_kind": "GPU allocated" if device.type == "cuda" else "process RSS"}


def bench_loader(root: Path, split_file: Path, height: int, width: int, batch: int, workers: int,
                 batches: int) -> dict:
    dataset = KittiRawDataset(root, read_split_file(split_file), height, width, [0, -1, 1], K_NORM, is_train=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                         drop_last=True)
    it = iter(loader)
    next(it)  # workers started
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            break
        n += batch
    seconds = time.perf_counter() - start
    return {"what": f"loader, {workers} workers", "setting": f"{height}x{width}, batch {batch}",
            "samples_per_s": n / seconds, "s_per_step": seconds / max(n // batch, 1),
            "peak_memory_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "memory_kind": "main-process RSS"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="*", default=["monodepth2"])
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--loader-root", type=Path)
    p.add_argument("--split-file", type=Path)
    p.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for m in args.methods:  # one fresh process each, so the peak memory is that method's own
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows.append(pool.submit(bench_method, m, args.height, args.width, args.batch, args.steps, device,
                                    args.threads).result())
    if args.loader_root:
        rows += [bench_loader(args.loader_root, args.split_file, args.height, args.width, args.batch, w, 5)
                 for w in args.workers]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [f"| {stamp} | {machine(device)} | {r['what']} | {r['setting']} | {r['samples_per_s']:.2f} | "
             f"{r['s_per_step']:.3f} | {r['peak_memory_gib']:.2f} ({r['memory_kind']}) |" for r in rows]
    if not RESULTS.exists():
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("| date | machine | what | setting | samples/s | s/step | peak memory GiB |\n"
                           "|---|---|---|---|---|---|---|\n")
    with open(RESULTS, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
