"""PNG → JPEG as monodepth2 prepares KITTI: quality 92, 4:2:0 chroma (`convert -sampling-factor 2x2,1x1,1x1`).

cv2's encoder (libjpeg-turbo) writes the IJG quality-92 tables with 2x2,1x1,1x1 sampling, the settings
of ImageMagick's `convert -quality 92 -sampling-factor 2x2,1x1,1x1`. Every file is written to a temporary
name and renamed; files already converted and decodable are kept, so a killed job resumes.
"""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from depthrepro.io.atomic import atomic_write_bytes

SAMPLING_420 = "2x2,1x1,1x1"


@dataclass(frozen=True)
class JpegSettings:
    """Encoder settings recorded with the output."""

    quality: int = 92
    sampling: str = SAMPLING_420

    def imwrite_params(self) -> list[int]:
        if self.sampling != SAMPLING_420:
            raise ValueError(f"unsupported sampling {self.sampling!r}; monodepth2 uses {SAMPLING_420}")
        return [cv2.IMWRITE_JPEG_QUALITY, self.quality,
                cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]


def _is_valid_jpeg(path: Path) -> bool:
    data = np.fromfile(path, dtype=np.uint8)
    return data.size > 4 and cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is not None


def convert_one(src: Path, dst: Path, settings: JpegSettings) -> str:
    """Convert one PNG; returns the sha256 of the JPEG bytes (existing valid JPEGs are kept)."""
    if not (dst.is_file() and _is_valid_jpeg(dst)):
        img = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"{src}: cannot decode PNG")
        ok, buf = cv2.imencode(".jpg", img, settings.imwrite_params())
        if not ok:
            raise OSError(f"{src}: JPEG encoding failed")
        atomic_write_bytes(dst, buf.tobytes())
    return hashlib.sha256(dst.read_bytes()).hexdigest()


def _convert_job(job: tuple[Path, Path, JpegSettings]) -> str:
    return convert_one(*job)


def convert_tree(raw_root: Path, out_root: Path, settings: JpegSettings, workers: int = 1,
                 keep_png: bool = True) -> dict:
    """Convert every `image_0?/data/*.png` of a KITTI-raw tree; copies calibration files alongside.

    Returns a summary with the settings, the file count and a digest of the JPEG bytes.
    """
    pngs = sorted(raw_root.glob("*/*/image_0[0-3]/data/*.png"))
    if not pngs:
        raise FileNotFoundError(f"{raw_root}: no image_0?/data/*.png files to convert")
    jobs = [(p, out_root / p.relative_to(raw_root).with_suffix(".jpg"), settings) for p in pngs]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            hashes = list(pool.map(_convert_job, jobs, chunksize=16))
    else:
        hashes = [_convert_job(j) for j in jobs]
    for calib in sorted(raw_root.glob("*/calib_*.txt")):
        target = out_root / calib.relative_to(raw_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(calib, target)
    if not keep_png:
        for p in pngs:
            p.unlink()
    tree = hashlib.sha256()
    for (_, dst, _), h in zip(jobs, hashes):
        tree.update(f"{dst.relative_to(out_root).as_posix()} {h}\n".encode())
    return {"quality": settings.quality, "sampling": settings.sampling,
            "encoder": f"opencv {cv2.__version__}", "files": len(jobs), "jpeg_tree_sha256": tree.hexdigest()}
