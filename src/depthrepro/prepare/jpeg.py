"""PNG → JPEG as monodepth2 prepares KITTI: quality 92, 4:2:0 chroma (`convert -sampling-factor 2x2,1x1,1x1`).

cv2's encoder (libjpeg-turbo) writes the IJG quality-92 tables with 2x2,1x1,1x1 sampling, the settings
of ImageMagick's `convert -quality 92 -sampling-factor 2x2,1x1,1x1`; ``read_jpeg_header`` reads them back
from a file. Every file is written to a temporary name and renamed; files already converted and
decodable are kept, so a killed job resumes. The settings of a run are stamped into the output tree
before any file is written, so a run with other settings (or another encoder) converts everything again
instead of keeping files made with the old ones.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_json

SAMPLING_420 = "2x2,1x1,1x1"
SETTINGS_STAMP = ".jpeg_settings.json"
"""Settings (and encoder) the files of an output tree were written with."""

IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
            14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
"""JPEG standard Annex K luminance quantisation table, row-major (natural) order."""
IJG_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
              47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
"""JPEG standard Annex K chrominance quantisation table, natural order."""
ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
          7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
          39, 46, 53, 60, 61, 54, 47, 55, 62, 63)
"""Natural index of the k-th coefficient in the order a DQT segment stores them."""
_START_OF_FRAME = {0xC0: False, 0xC1: False, 0xC2: True}
_DEFINE_QUANTISATION = 0xDB
_START_OF_SCAN = 0xDA


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

    def stamp(self) -> dict[str, object]:
        """What the bytes of a converted file depend on: these settings and the encoder."""
        return {**asdict(self), "encoder": f"opencv {cv2.__version__}"}


def ijg_tables(quality: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(luma, chroma) quantisation tables, natural order, that libjpeg's ``jpeg_set_quality(quality)`` writes
    (what ImageMagick's ``-quality`` sets): the Annex K tables scaled, clamped to 1..255."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality

    def scaled(table: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(min(max((v * scale + 50) // 100, 1), 255) for v in table)

    return scaled(IJG_LUMA), scaled(IJG_CHROMA)


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG file says about how it was encoded."""

    sampling: str
    """Per-component sampling factors, ``"2x2,1x1,1x1"`` for 4:2:0."""
    progressive: bool
    tables: dict[int, tuple[int, ...]]
    """Quantisation table id -> 64 values in natural order."""
    component_tables: tuple[int, ...]
    """Quantisation table id of each component."""


def read_jpeg_header(data: bytes, source: Path | str = "<bytes>") -> JpegHeader:
    """Sampling factors, quantisation tables and scan type from the segments before the first scan."""
    if data[:2] != b"\xff\xd8":
        raise ValueError(f"{source}: not a JPEG file (no start-of-image marker)")
    tables: dict[int, tuple[int, ...]] = {}
    frame: tuple[str, bool, tuple[int, ...]] | None = None
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] != _START_OF_SCAN:
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        body = data[at + 4:at + 2 + length]
        if marker == _DEFINE_QUANTISATION:
            offset = 0
            while offset < len(body):
                precision, table_id = body[offset] >> 4, body[offset] & 15
                width = 2 if precision else 1
                values = body[offset + 1: offset + 1 + 64 * width]
                zigzag = [int.from_bytes(values[k * width:(k + 1) * width], "big") for k in range(64)]
                natural = [0] * 64
                for k, value in enumerate(zigzag):
                    natural[ZIGZAG[k]] = value
                tables[table_id] = tuple(natural)
                offset += 1 + 64 * width
        elif marker in _START_OF_FRAME:
            count = body[5]
            components = [body[6 + 3 * c: 9 + 3 * c] for c in range(count)]
            sampling = ",".join(f"{c[1] >> 4}x{c[1] & 15}" for c in components)
            frame = (sampling, _START_OF_FRAME[marker], tuple(c[2] for c in components))
        at += 2 + length
    if frame is None:
        raise ValueError(f"{source}: no baseline or progressive frame header before the first scan")
    return JpegHeader(sampling=frame[0], progressive=frame[1], tables=tables, component_tables=frame[2])


def _is_valid_jpeg(path: Path) -> bool:
    data = np.fromfile(path, dtype=np.uint8)
    return data.size > 4 and cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is not None


def convert_one(src: Path, dst: Path, settings: JpegSettings, overwrite: bool = False) -> str:
    """Convert one PNG; returns the sha256 of the JPEG bytes (existing valid JPEGs are kept unless ``overwrite``)."""
    if overwrite or not (dst.is_file() and _is_valid_jpeg(dst)):
        img = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"{src}: cannot decode PNG")
        ok, buf = cv2.imencode(".jpg", img, settings.imwrite_params())
        if not ok:
            raise OSError(f"{src}: JPEG encoding failed")
        atomic_write_bytes(dst, buf.tobytes())
    return hashlib.sha256(dst.read_bytes()).hexdigest()


def _convert_job(job: tuple[Path, Path, JpegSettings, bool]) -> str:
    return convert_one(*job)


def _must_reconvert(out_root: Path, settings: JpegSettings) -> bool:
    """True when JPEGs under ``out_root`` may have been made with other settings or another encoder: its
    stamp differs (or is unreadable), or there are JPEGs but no stamp."""
    stamp_path = out_root / SETTINGS_STAMP
    if not stamp_path.is_file():
        return any(out_root.glob("*/*/image_0[0-3]/data/*.jpg"))
    try:
        return json.loads(stamp_path.read_text()) != settings.stamp()
    except json.JSONDecodeError:
        return True


def imagemagick_command(settings: JpegSettings) -> str:
    """The ImageMagick command with the same settings (monodepth2's README command for the defaults)."""
    return f"convert <png> -quality {settings.quality} -sampling-factor {settings.sampling} <jpg>"


def convert_tree(raw_root: Path, out_root: Path, settings: JpegSettings, workers: int = 1,
                 keep_png: bool = True, progress: bool = True) -> dict:
    """Convert every `image_0?/data/*.png` of a KITTI-raw tree; copies calibration files alongside.

    Files are spread over ``workers`` processes, with a progress bar. A tree made with other settings is
    converted again from scratch; its stamp changes only once that has completed, so a killed rerun
    starts over too. Returns a summary with the settings, the file count and a digest of the JPEG bytes.
    """
    pngs = sorted(raw_root.glob("*/*/image_0[0-3]/data/*.png"))
    if not pngs:
        raise FileNotFoundError(f"{raw_root}: no image_0?/data/*.png files to convert")
    out_root.mkdir(parents=True, exist_ok=True)
    overwrite = _must_reconvert(out_root, settings)
    if not overwrite:
        atomic_write_json(out_root / SETTINGS_STAMP, settings.stamp())
    jobs = [(p, out_root / p.relative_to(raw_root).with_suffix(".jpg"), settings, overwrite) for p in pngs]
    bar = {"total": len(jobs), "desc": "jpeg", "unit": "file", "disable": not progress}
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            hashes = list(tqdm(pool.map(_convert_job, jobs, chunksize=16), **bar))
    else:
        hashes = list(tqdm(map(_convert_job, jobs), **bar))
    atomic_write_json(out_root / SETTINGS_STAMP, settings.stamp())
    for calib in sorted(raw_root.glob("*/calib_*.txt")):
        target = out_root / calib.relative_to(raw_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(calib, target)
    if not keep_png:
        for p in pngs:
            p.unlink()
    tree = hashlib.sha256()
    for (_, dst, _, _), h in zip(jobs, hashes):
        tree.update(f"{dst.relative_to(out_root).as_posix()} {h}\n".encode())
    return {"quality": settings.quality, "sampling": settings.sampling, "encoder": settings.stamp()["encoder"],
            "imagemagick_equivalent": imagemagick_command(settings), "files": len(jobs),
            "reconverted_for_new_settings": overwrite, "jpeg_tree_sha256": tree.hexdigest()}
