"""Our PNG -> JPEG conversion (depthrepro.prepare.jpeg) against ImageMagick's, as monodepth2 prepares KITTI.

    python benchmarks/jpeg_vs_imagemagick.py                      # renders 16 KITTI-size synthetic frames
    python benchmarks/jpeg_vs_imagemagick.py --root data/kitti_raw --frames 64

The reference is the command of monodepth2's README, ``convert <png> -quality 92 -sampling-factor
2x2,1x1,1x1 <jpg>``, one process per image. ``/usr/bin/convert`` is run directly (no shell), with
``MAGICK_THREAD_LIMIT=1``; ours runs in one process with ``cv2.setNumThreads(1)``, file reading,
encoding, writing and hashing included. Both JPEGs of every frame are decoded with the same decoder
and compared pixel by pixel; their quantisation tables and chroma sampling are read from the files.
Writes benchmarks/results/jpeg_vs_imagemagick.json and .md and prints the markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_json, atomic_write_text
from depthrepro.prepare.jpeg import SAMPLING_420, JpegSettings, convert_one
from depthrepro.synth.drive import build_drive

RESULTS = Path(__file__).parent / "results"
IMAGEMAGICK = Path("/usr/bin/convert")
START_OF_FRAME = (0xC0, 0xC1, 0xC2)
DEFINE_QUANTISATION = 0xDB
DEFINE_HUFFMAN = 0xC4
START_OF_SCAN = 0xDA


def render_frames(out: Path, count: int) -> list[Path]:
    """``count`` PNGs of the default synthetic KITTI preset (375x1242), spread over drives and both cameras."""
    paths = []
    for k in range(count):
        drive = build_drive("default", 0, k % 4)
        frame, camera = (k // 4) * 7 % drive.frames, 2 + k % 2
        bgr = np.ascontiguousarray(drive.render_camera(frame, camera).rgb[..., ::-1])
        path = out / f"{k:03d}.png"
        if not cv2.imwrite(str(path), bgr):
            raise OSError(f"{path}: PNG encoding failed")
        paths.append(path)
    return paths


def jpeg_layout(data: bytes) -> dict[str, object]:
    """Chroma sampling ``"HxV,..."``, quantisation and Huffman table bytes, whether the JPEG is progressive."""
    layout: dict[str, object] = {"tables": b"", "huffman": b"", "sampling": None, "progressive": False}
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        body = data[at + 4:at + 2 + length]
        if marker == DEFINE_QUANTISATION:
            layout["tables"] = bytes(layout["tables"]) + body
        elif marker == DEFINE_HUFFMAN:
            layout["huffman"] = bytes(layout["huffman"]) + body
        elif marker in START_OF_FRAME:
            components = body[5]
            layout["sampling"] = ",".join(f"{body[7 + 3 * c] >> 4}x{body[7 + 3 * c] & 15}" for c in range(components))
            layout["progressive"] = marker == 0xC2
        if marker == START_OF_SCAN:  # entropy-coded data follows
            break
        at += 2 + length
    return layout


def best_time(convert: Callable[[Path, Path], object], pngs: list[Path], out: Path, repeats: int) -> float:
    """Best wall time over ``repeats`` of ``convert(png, jpg)`` on every PNG into a fresh ``out``, seconds."""
    best = float("inf")
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        start = time.perf_counter()
        for png in pngs:
            convert(png, out / f"{png.stem}.jpg")
        best = min(best, time.perf_counter() - start)
    return best


def convert_with_imagemagick(png: Path, jpg: Path) -> None:
    """One ``/usr/bin/convert`` process, single-threaded, with monodepth2's settings."""
    env = {**os.environ, "MAGICK_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run([str(IMAGEMAGICK), str(png), "-quality", "92", "-sampling-factor", SAMPLING_420, str(jpg)],
                   check=True, env=env)


def compare(pngs: list[Path], ours: Path, theirs: Path) -> dict[str, object]:
    """Pixel differences of the decoded JPEGs, byte identity, and each one's error against the PNG."""
    diffs, means, errors_ours, errors_theirs, identical = [], [], [], [], 0
    layouts = []
    for png in pngs:
        a_bytes, b_bytes = (folder / f"{png.stem}.jpg" for folder in (ours, theirs))
        a, b = (cv2.imread(str(p), cv2.IMREAD_COLOR).astype(np.int16) for p in (a_bytes, b_bytes))
        source = cv2.imread(str(png), cv2.IMREAD_COLOR).astype(np.int16)
        diff = np.abs(a - b)
        diffs.append(int(diff.max()))
        means.append(float(diff.mean()))
        errors_ours.append(float(np.abs(a - source).mean()))
        errors_theirs.append(float(np.abs(b - source).mean()))
        identical += a_bytes.read_bytes() == b_bytes.read_bytes()
        layouts.append((jpeg_layout(a_bytes.read_bytes()), jpeg_layout(b_bytes.read_bytes())))
    return {
        "max_abs_pixel_difference": max(diffs),
        "mean_abs_pixel_difference": round(float(np.mean(means)), 6),
        "frames_with_identical_pixels": sum(d == 0 for d in diffs),
        "frames_with_identical_bytes": identical,
        "mean_abs_error_vs_png": {"ours": round(float(np.mean(errors_ours)), 4),
                                  "imagemagick": round(float(np.mean(errors_theirs)), 4)},
        "sampling": {"ours": layouts[0][0]["sampling"], "imagemagick": layouts[0][1]["sampling"]},
        "quantisation_tables_equal": all(o["tables"] == t["tables"] for o, t in layouts),
        "huffman_tables_equal": all(o["huffman"] == t["huffman"] for o, t in layouts),
        "progressive": {"ours": layouts[0][0]["progressive"], "imagemagick": layouts[0][1]["progressive"]},
        "mean_file_bytes": {"ours": round(float(np.mean([(ours / f"{p.stem}.jpg").stat().st_size for p in pngs]))),
                            "imagemagick": round(float(np.mean([(theirs / f"{p.stem}.jpg").stat().st_size
                                                                for p in pngs])))},
    }


def imagemagick_version() -> str:
    """ImageMagick's version line and the JPEG library its JPEG coder reports."""
    def run(*arguments: str) -> list[str]:
        return subprocess.run([str(IMAGEMAGICK), *arguments], check=True, capture_output=True,
                              text=True).stdout.splitlines()

    version = run("-version")[0].removeprefix("Version: ")
    jpeg = next((line.split("format")[-1].strip() for line in run("-list", "format")
                 if line.split()[:1] == ["JPEG*"]), "(JPEG coder not listed)")
    return f"{version}, JPEG coder {jpeg}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, help="a KITTI-raw tree; default: render frames of the synthetic world")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if not IMAGEMAGICK.is_file():
        raise SystemExit(f"{IMAGEMAGICK}: ImageMagick not installed (Debian: apt-get install imagemagick)")
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as scratch_text:
        scratch = Path(scratch_text)
        if args.root:
            pngs = sorted(args.root.glob("*/*/image_0[23]/data/*.png"))[:args.frames]
            if not pngs:
                raise SystemExit(f"{args.root}: no image_0[23]/data/*.png files")
        else:
            (scratch / "png").mkdir()
            pngs = render_frames(scratch / "png", args.frames)
        height, width = cv2.imread(str(pngs[0])).shape[:2]
        settings = JpegSettings()
        ours_s = best_time(lambda png, jpg: convert_one(png, jpg, settings), pngs, scratch / "ours", args.repeats)
        theirs_s = best_time(convert_with_imagemagick, pngs, scratch / "imagemagick", args.repeats)
        comparison = compare(pngs, scratch / "ours", scratch / "imagemagick")
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"load average {os.getloadavg()[0]:.1f} at the end",
        "opencv": cv2.__version__,
        "imagemagick": imagemagick_version(),
        "frames": len(pngs),
        "source": str(args.root) if args.root else "synthetic world, default preset",
        "resolution": f"{height}x{width}",
        "seconds": {"ours": round(ours_s, 3), "imagemagick": round(theirs_s, 3)},
        "frames_per_s": {"ours": round(len(pngs) / ours_s, 2), "imagemagick": round(len(pngs) / theirs_s, 2)},
        "throughput_ratio_ours_over_imagemagick": round(theirs_s / ours_s, 2),
        "timing": f"best of {args.repeats}; one thread each; ImageMagick one process per image (its start-up "
                  "included), as monodepth2's command runs it",
        **comparison,
    }
    markdown = (
        "# JPEG conversion: ours (OpenCV) against ImageMagick\n\n"
        f"{result['date']}, {result['machine']}; OpenCV {result['opencv']}; {result['imagemagick']}.\n"
        f"{result['frames']} PNG frames ({result['source']}) at {result['resolution']}, quality 92, "
        f"sampling {SAMPLING_420}; {result['timing']}.\n\n"
        "| converter | seconds | frames/s | mean bytes | mean abs error vs PNG |\n|---|---|---|---|---|\n"
        f"| ours (`prepare.jpeg.convert_one`) | {ours_s:.3f} | {result['frames_per_s']['ours']} | "
        f"{comparison['mean_file_bytes']['ours']} | {comparison['mean_abs_error_vs_png']['ours']} |\n"
        f"| `/usr/bin/convert` | {theirs_s:.3f} | {result['frames_per_s']['imagemagick']} | "
        f"{comparison['mean_file_bytes']['imagemagick']} | {comparison['mean_abs_error_vs_png']['imagemagick']} |\n\n"
        f"Throughput ratio (ours / ImageMagick): {result['throughput_ratio_ours_over_imagemagick']}x.\n\n"
        f"Decoded pixels, ours against ImageMagick: max abs difference "
        f"{comparison['max_abs_pixel_difference']}, mean {comparison['mean_abs_pixel_difference']}; "
        f"{comparison['frames_with_identical_pixels']}/{len(pngs)} frames pixel-identical, "
        f"{comparison['frames_with_identical_bytes']}/{len(pngs)} byte-identical. "
        f"Sampling ours {comparison['sampling']['ours']}, ImageMagick {comparison['sampling']['imagemagick']}; "
        f"quantisation tables equal: {comparison['quantisation_tables_equal']}; Huffman tables equal: "
        f"{comparison['huffman_tables_equal']} (ImageMagick optimises them, hence its smaller files and the "
        f"byte differences); progressive: {comparison['progressive']}.\n"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "jpeg_vs_imagemagick.json", result)
    atomic_write_text(RESULTS / "jpeg_vs_imagemagick.md", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
