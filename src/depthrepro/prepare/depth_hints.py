"""Depth hints (Watson et al., ICCV 2019) as EPCDepth trains with them: per pixel, the best of 12 SGBM depths.

For a base image and its stereo partner (the lookup image), 12 OpenCV SGBM matchers give 12 disparity maps
(right-camera images are mirrored first, as SGBM only matches left-referenced). Each becomes a depth map
in training units (``fx · 0.1 / disparity``, 0 where SGBM gave no match); the lookup image is warped into the
base view with each depth map and the 0.85·SSIM + 0.15·L1 reprojection error decides per pixel which
depth is kept. This is depth-hints' precompute script, reproduced bit for bit on the same OpenCV (5.0).

Parameters of the procedure live in this module: they define the method, not a dataset or a run.
Hints are written as ``<out_root>/<folder>/image_0{2,3}/<frame:010d>.npy`` holding a ``(1, H, W)``
float32 array, the layout both depth-hints and EPCDepth's loader use. Every file is written to a
temporary name and renamed; hints already present at the requested size are kept, so a killed job resumes.
"""

from __future__ import annotations

import io
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from depthrepro.geometry.camera import BackprojectDepth, Project3D
from depthrepro.io.atomic import atomic_write_bytes
from depthrepro.io.kitti import SIDE_TO_CAMERA, depth_hint_path, image_path, read_split_file
from depthrepro.losses.photometric import SSIM, reprojection_loss

P_PENALTY_WINDOW = 3
"""P1 and P2 are computed from a fixed 3-pixel window, whatever the matcher's block size."""

MATCHER_PARAMS: tuple[dict[str, int], ...] = tuple(
    {"blockSize": block_size, "numDisparities": num_disparities, "minDisparity": 0, "preFilterCap": 63,
     "uniquenessRatio": 10, "speckleWindowSize": 100, "speckleRange": 16,
     "P1": 4 * P_PENALTY_WINDOW ** 2, "P2": 32 * P_PENALTY_WINDOW ** 2, "mode": cv2.STEREO_SGBM_MODE_SGBM}
    for block_size in (1, 2, 3) for num_disparities in (64, 96, 128, 160)
)
"""The 12 SGBM matchers, in the order their index is reported (block size major); other settings are
OpenCV's defaults (``disp12MaxDiff`` 0). OpenCV's SGBM uses a window of half-size ``blockSize // 2``,
so block sizes 2 and 3 both match 3x3 windows and give identical disparities: with ties going to the
lower index, the block-size-3 matchers are never selected."""

HINT_BASELINE = 0.1
"""Stereo baseline in training units (monodepth2's); hint depths are metric depth / 5.4 on KITTI."""

HINT_NORMALISED_K = np.array([[0.58, 0.0, 0.5], [0.0, 1.92, 0.5]], dtype=np.float32)
"""KITTI-normalised intrinsics (rows divided by width, height) used for every image, whatever its calibration."""

SGBM_FRACTION = 16
"""SGBM writes disparities as fixed point with 4 fractional bits."""

DEPTH_EPS = 1e-7
"""Added to the disparity before dividing, as in the reference procedure."""


def stereo_matchers() -> list[cv2.StereoSGBM]:
    """The 12 SGBM matchers of ``MATCHER_PARAMS``, in that order."""
    return [cv2.StereoSGBM.create(**params) for params in MATCHER_PARAMS]


def read_matcher_params(matcher: cv2.StereoSGBM) -> dict[str, int]:
    """The parameters a matcher object actually holds (for checks against ``MATCHER_PARAMS``)."""
    return {"blockSize": matcher.getBlockSize(), "numDisparities": matcher.getNumDisparities(),
            "minDisparity": matcher.getMinDisparity(), "preFilterCap": matcher.getPreFilterCap(),
            "uniquenessRatio": matcher.getUniquenessRatio(), "speckleWindowSize": matcher.getSpeckleWindowSize(),
            "speckleRange": matcher.getSpeckleRange(), "P1": matcher.getP1(), "P2": matcher.getP2(),
            "mode": matcher.getMode(), "disp12MaxDiff": matcher.getDisp12MaxDiff()}


def hint_intrinsics(height: int, width: int, fx: float | None = None) -> np.ndarray:
    """``(4, 4)`` float32 pixel intrinsics: ``HINT_NORMALISED_K`` scaled by (width, height) in float32.

    ``fx`` replaces the focal length in pixels; by default it is ``0.58 · width`` rounded to float32.
    """
    K = np.eye(4, dtype=np.float32)
    K[:2, :3] = HINT_NORMALISED_K
    K[0] *= width
    K[1] *= height
    if fx is not None:
        K[0, 0] = fx
    return K


def hint_focal_length(width: int) -> float:
    """Focal length in pixels the hints use at ``width``: ``0.58 · width`` in float32 (371.2 at 640)."""
    return float(hint_intrinsics(1, width)[0, 0])


def _check_pair(left_u8: np.ndarray, right_u8: np.ndarray) -> None:
    for name, image in (("left_u8", left_u8), ("right_u8", right_u8)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{name}: expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    if left_u8.shape != right_u8.shape:
        raise ValueError(f"stereo images differ in size: left {left_u8.shape}, right {right_u8.shape}")


def sgbm_disparities_x16(base_u8: np.ndarray, lookup_u8: np.ndarray, mirror: bool) -> np.ndarray:
    """Raw SGBM output of the 12 matchers, ``(12, H, W)`` int16 (disparity × 16; negative = no match).

    The 3-channel images go to SGBM as they are (a grey conversion changes the result). With ``mirror``
    (the base image is the right camera) both images are flipped left-right before matching and every
    disparity map is flipped back, so the maps are in the base image's pixel grid.
    """
    if mirror:
        base_u8 = np.ascontiguousarray(base_u8[:, ::-1])
        lookup_u8 = np.ascontiguousarray(lookup_u8[:, ::-1])
    raw = np.stack([matcher.compute(base_u8, lookup_u8) for matcher in stereo_matchers()])
    return np.ascontiguousarray(raw[:, :, ::-1]) if mirror else raw


def disparity_to_hint_depth(disparity_x16: np.ndarray, fx: float, baseline: float = HINT_BASELINE) -> torch.Tensor:
    """``(N, H, W)`` raw SGBM disparities -> ``(N, 1, H, W)`` float32 depth ``fx·b / (d + 1e-7)``, 0 where d <= 0."""
    disparity = torch.from_numpy(disparity_x16.astype(np.float32) / SGBM_FRACTION).unsqueeze(1)
    scale = torch.tensor(fx, dtype=torch.float32) * baseline
    return scale / (disparity + DEPTH_EPS) * (disparity > 0).float()


def _image_batch(image_u8: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(image_u8).permute(2, 0, 1).float().unsqueeze(0) / 255


def reprojection_errors(base_u8: np.ndarray, lookup_u8: np.ndarray, depths: torch.Tensor, K: np.ndarray,
                        baseline_x: float) -> torch.Tensor:
    """Photometric error of every candidate depth: ``(N, 1, H, W)`` depths -> ``(N, 1, H, W)`` errors.

    The lookup image is warped into the base view through a camera shifted by ``baseline_x`` along x
    (back-project with ``pinv(K)``, project with ``K``, bilinear ``grid_sample`` with border padding and
    ``align_corners=False``, torch's default), then compared with ``0.85 · SSIM + 0.15 · L1``.
    Each candidate's error is independent of the others, so they are scored one at a time: the
    intermediate maps then stay in cache, twice as fast as one batch of 12 and bit-identical to it.
    """
    _, _, height, width = depths.shape
    K_one = torch.from_numpy(K).unsqueeze(0)
    inv_K_one = torch.from_numpy(np.linalg.pinv(K)).unsqueeze(0)
    T = torch.eye(4).unsqueeze(0)
    T[0, 0, 3] = baseline_x
    backproject = BackprojectDepth(1, height, width)
    project = Project3D(1, height, width)
    base = _image_batch(base_u8)
    lookup = _image_batch(lookup_u8)
    ssim = SSIM()
    errors = []
    for depth in depths.split(1):
        grid = project(backproject(depth, inv_K_one), K_one, T)
        warped = F.grid_sample(lookup, grid, padding_mode="border", align_corners=False)
        errors.append(reprojection_loss(warped, base, ssim))
    return torch.cat(errors)


@dataclass(frozen=True)
class HintSelection:
    """Everything one hint is made of, in the base image's pixel grid."""

    hint: np.ndarray
    """``(1, H, W)`` float32 depth in training units; 0 where the chosen matcher had no match."""
    best_index: np.ndarray
    """``(1, H, W)`` int64 index into ``MATCHER_PARAMS`` of the chosen matcher."""
    disparities_x16: np.ndarray
    """``(12, H, W)`` int16 raw SGBM output of every matcher."""
    candidate_depths: np.ndarray
    """``(12, H, W)`` float32 depth of every matcher."""


def candidate_hint_depths(left_u8: np.ndarray, right_u8: np.ndarray, side: str, K00: float,
                          baseline: float = HINT_BASELINE) -> tuple[np.ndarray, torch.Tensor]:
    """The 12 matchers' answers for the ``side`` image of a rectified ``(H, W, 3)`` uint8 RGB pair: raw
    disparities ``(12, H, W)`` int16 and candidate depths ``(12, 1, H, W)`` float32 (0 = no match)."""
    _check_pair(left_u8, right_u8)
    if side not in SIDE_TO_CAMERA:
        raise ValueError(f"side must be one of {sorted(SIDE_TO_CAMERA)}, got {side!r}")
    base, lookup = (left_u8, right_u8) if side == "l" else (right_u8, left_u8)
    disparities = sgbm_disparities_x16(base, lookup, mirror=side == "r")
    return disparities, disparity_to_hint_depth(disparities, K00, baseline)


def select_depth_hint(left_u8: np.ndarray, right_u8: np.ndarray, side: str, K00: float,
                      baseline: float = HINT_BASELINE) -> HintSelection:
    """Depth hint of the ``side`` (``"l"`` or ``"r"``) image of a rectified ``(H, W, 3)`` uint8 RGB pair.

    ``K00`` is the focal length in pixels at this resolution (``hint_focal_length(W)`` reproduces the
    reference exactly). Ties between equal errors go to the lower matcher index.
    """
    disparities, depths = candidate_hint_depths(left_u8, right_u8, side, K00, baseline)
    base, lookup = (left_u8, right_u8) if side == "l" else (right_u8, left_u8)
    height, width = base.shape[:2]
    baseline_x = -baseline if side == "l" else baseline
    errors = reprojection_errors(base, lookup, depths, hint_intrinsics(height, width, K00), baseline_x)
    best_index = torch.argmin(errors, dim=0)
    hint = torch.gather(depths, 0, best_index.unsqueeze(0))[0]
    return HintSelection(hint=hint.numpy(), best_index=best_index.numpy(), disparities_x16=disparities,
                         candidate_depths=depths[:, 0].numpy())


def compute_hint(left_u8: np.ndarray, right_u8: np.ndarray, side: str, K00: float,
                 baseline: float = HINT_BASELINE) -> np.ndarray:
    """``(1, H, W)`` float32 depth hint of the ``side`` image; see ``select_depth_hint``."""
    return select_depth_hint(left_u8, right_u8, side, K00, baseline).hint


def load_hint_image(path: Path, height: int, width: int) -> np.ndarray:
    """An image as the hints see it: PIL RGB, Lanczos-resized to ``(width, height)``; ``(H, W, 3)`` uint8."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError) as error:
        raise OSError(f"{path}: cannot read image for depth hints ({error})") from error
    return np.array(rgb.resize((width, height), Image.Resampling.LANCZOS))


def is_valid_hint(path: Path, height: int, width: int) -> bool:
    """True when ``path`` holds a complete ``(1, height, width)`` float32 ``.npy`` array."""
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return False
    return array.dtype == np.float32 and array.shape == (1, height, width)


def write_hint(path: Path, hint: np.ndarray) -> None:
    """Save a ``(1, H, W)`` float32 hint as ``.npy``, atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(hint, dtype=np.float32))
    atomic_write_bytes(path, buffer.getvalue())


@dataclass(frozen=True)
class PairJob:
    """The hints of one stereo pair still to compute: ``sides`` among ``"l"``, ``"r"``."""

    root: Path
    out_root: Path
    folder: str
    frame: int
    sides: tuple[str, ...]
    height: int
    width: int
    image_ext: str


def hints_for_pair(job: PairJob) -> dict[str, float]:
    """Compute and write the hints of one pair; returns ``{side: valid fraction}``."""
    images = {side: load_hint_image(image_path(job.root, job.folder, job.frame, side, job.image_ext),
                                    job.height, job.width) for side in SIDE_TO_CAMERA}
    valid: dict[str, float] = {}
    for side in job.sides:
        hint = compute_hint(images["l"], images["r"], side, hint_focal_length(job.width))
        write_hint(depth_hint_path(job.out_root, job.folder, job.frame, side), hint)
        valid[side] = float((hint > 0).mean())
    return valid


def _init_worker(cv2_threads: int) -> None:
    """One pair per process at a time: no nested threading in OpenCV or torch."""
    cv2.setNumThreads(cv2_threads)
    torch.set_num_threads(1)


def split_pairs(split_file: Path) -> list[tuple[str, int]]:
    """Distinct ``(folder, frame)`` pairs of a split file, in order of first appearance."""
    return list(dict.fromkeys((entry.folder, entry.frame) for entry in read_split_file(split_file)))


def _run_jobs(jobs: list[PairJob], workers: int, cv2_threads: int) -> Iterator[dict[str, float]]:
    """Results of ``hints_for_pair`` in job order; in this process (torch single-threaded meanwhile, as
    the many small ops of one hint run slower on several threads) when one worker would do."""
    workers = min(workers, len(jobs))
    if workers <= 1:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield from map(hints_for_pair, jobs)
        finally:
            torch.set_num_threads(torch_threads)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(cv2_threads,)) as pool:
        yield from pool.map(hints_for_pair, jobs)


def compute_hints_for_split(root: Path, split_file: Path, out_root: Path, height: int = 320, width: int = 1024,
                            workers: int = 1, image_ext: str = "jpg", *, overwrite: bool = False,
                            cv2_threads: int = 0, progress: bool = True) -> dict:
    """Depth hints of both cameras for every pair listed in a split file, as depth-hints' ``seq l``/``seq r``.

    Images come from ``root/<folder>/image_02|03/data/<frame:010d>.<image_ext>``; hints go to
    ``depth_hint_path(out_root, ...)``. Pairs are spread over ``workers`` processes (each single-threaded in
    torch, ``cv2.setNumThreads(cv2_threads)``; SGBM's mode is single-threaded anyway); ``workers <= 1``
    runs in this process, torch single-threaded. Hints already
    present at this size are kept unless ``overwrite``. Returns a summary: pairs, pairs computed, hints
    written and kept, mean valid fraction of the written hints, seconds.
    """
    start = time.perf_counter()
    pairs = split_pairs(split_file)
    if not pairs:
        raise ValueError(f"{split_file}: no '<folder> <frame> l|r' lines")
    missing = [str(image_path(root, folder, frame, side, image_ext)) for folder, frame in pairs
               for side in SIDE_TO_CAMERA if not image_path(root, folder, frame, side, image_ext).is_file()]
    if missing:
        raise FileNotFoundError(f"{split_file}: {len(missing)} images listed but not found under {root}, "
                                f"e.g. {missing[:3]}")
    jobs = []
    for folder, frame in pairs:
        sides = tuple(side for side in SIDE_TO_CAMERA if overwrite
                      or not is_valid_hint(depth_hint_path(out_root, folder, frame, side), height, width))
        if sides:
            jobs.append(PairJob(Path(root), Path(out_root), folder, frame, sides, height, width, image_ext))
    valid: list[float] = []
    results = _run_jobs(jobs, workers, cv2_threads)
    for result in tqdm(results, total=len(jobs), desc="depth hints", unit="pair", disable=not progress):
        valid.extend(result.values())
    seconds = time.perf_counter() - start
    return {"pairs": len(pairs), "pairs_computed": len(jobs), "hints_written": len(valid),
            "hints_kept": 2 * len(pairs) - len(valid), "valid_fraction": float(np.mean(valid)) if valid else None,
            "height": height, "width": width, "image_ext": image_ext, "workers": workers, "seconds": round(seconds, 2),
            "pairs_per_s": round(len(jobs) / seconds, 3), "opencv": cv2.__version__}
