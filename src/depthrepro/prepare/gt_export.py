"""Ground-truth depth export for KITTI evaluation splits (monodepth2's ``gt_depths.npz``).

* ``eigen``: raw Velodyne scans projected into camera 2 (``generate_depth_map``), depth measured
  along the LiDAR x axis as monodepth2 keeps it for comparability.
* ``eigen_benchmark``: the KITTI depth-benchmark annotated maps
  (``<drive>/proj_depth/groundtruth/image_02/<frame>.png`` / 256) merged into the raw drive folders.

The output npz holds one float32 array per image (``depth_00000``, ...) plus the split entries, so
it loads with ``allow_pickle=False`` on any NumPy version (monodepth2's single ragged ``data``
array breaks on NumPy >= 1.24, monodepth2#481). ``load_gt_depths`` reads both layouts.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from depthrepro.io.kitti import (
    SplitEntry,
    annotated_depth_path,
    calib_dir,
    read_calib_file,
    read_depth_png,
    read_split_file,
    read_velodyne,
    velodyne_path,
)

GT_KINDS: tuple[str, ...] = ("eigen", "eigen_benchmark")
GT_CAMERA = 2
"""Both exports use the left colour camera (image_02), whatever side the split line names."""

DEPTH_KEY = "depth_{:05d}"
_DEPTH_KEY_PATTERN = re.compile(r"depth_(\d{5,})")
LEGACY_KEY = "data"


def _calib_entry(calib: dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    if key not in calib or calib[key].size != size:
        raise ValueError(f"{path}: expected calibration entry {key!r} with {size} numbers")
    return calib[key]


def generate_depth_map(calib_dir: Path, velo_path: Path, cam: int = GT_CAMERA, vel_depth: bool = True) -> np.ndarray:
    """Project one Velodyne scan into rectified camera ``cam``: ``(H, W)`` float32 metres, 0 = no point.

    Points go through ``P_rect_0{cam} · R_rect_00 · [R|T]_velo_to_cam`` from ``calib_cam_to_cam.txt``
    and ``calib_velo_to_cam.txt`` in ``calib_dir``; the image size is ``S_rect_02``. As monodepth2
    does: points with LiDAR x < 0 are dropped; depth is the LiDAR x when ``vel_depth``, else the
    projective depth; pixel coordinates are ``round(·) - 1`` (KITTI's MATLAB convention, NumPy's
    round-half-to-even); points outside the image are dropped; on duplicates the closest point wins.
    Duplicates are found with monodepth2's linear index ``row·(W-1) + col - 1``, which also groups
    pixel ``(r, W-1)`` with ``(r+1, 0)``; this is reproduced so maps equal monodepth2's bit for bit
    (both columns lie outside the Garg crop).
    """
    calib_dir = Path(calib_dir)
    cam_file = calib_dir / "calib_cam_to_cam.txt"
    velo_file = calib_dir / "calib_velo_to_cam.txt"
    cam_to_cam = read_calib_file(cam_file)
    velo_to_cam_calib = read_calib_file(velo_file)

    velo_to_cam = np.eye(4)
    velo_to_cam[:3, :3] = _calib_entry(velo_to_cam_calib, "R", 9, velo_file).reshape(3, 3)
    velo_to_cam[:3, 3] = _calib_entry(velo_to_cam_calib, "T", 3, velo_file)
    width, height = _calib_entry(cam_to_cam, "S_rect_02", 2, cam_file).astype(np.int32)
    rectify = np.eye(4)
    rectify[:3, :3] = _calib_entry(cam_to_cam, "R_rect_00", 9, cam_file).reshape(3, 3)
    projection_rect = _calib_entry(cam_to_cam, f"P_rect_0{cam}", 12, cam_file).reshape(3, 4)
    velo_to_image = np.dot(np.dot(projection_rect, rectify), velo_to_cam)

    points = read_velodyne(velo_path).copy()
    points[:, 3] = 1.0
    points = points[points[:, 0] >= 0]
    image_points = np.dot(velo_to_image, points.T).T
    with np.errstate(divide="ignore", invalid="ignore"):
        image_points[:, :2] = image_points[:, :2] / image_points[:, 2][:, None]
    if vel_depth:
        image_points[:, 2] = points[:, 0]

    cols = np.round(image_points[:, 0]) - 1
    rows = np.round(image_points[:, 1]) - 1
    inside = (cols >= 0) & (rows >= 0) & (cols < width) & (rows < height)
    cols, rows, values = cols[inside], rows[inside], image_points[inside, 2]
    col_index, row_index = cols.astype(np.int64), rows.astype(np.int64)

    depth = np.zeros((height, width))
    depth[row_index, col_index] = values
    group_keys = rows * (width - 1) + cols - 1
    _, first, group, counts = np.unique(group_keys, return_index=True, return_inverse=True, return_counts=True)
    closest = np.full(counts.shape, np.inf)
    np.minimum.at(closest, group, values)
    shared = counts > 1
    depth[row_index[first[shared]], col_index[first[shared]]] = closest[shared]
    depth[depth < 0] = 0
    return depth.astype(np.float32)


def _gt_source_path(data_root: Path, entry: SplitEntry, kind: str) -> Path:
    """The file a split line's GT comes from: its Velodyne scan or its annotated PNG (camera 2)."""
    if kind == "eigen":
        return velodyne_path(data_root, entry.folder, entry.frame)
    return annotated_depth_path(data_root, entry.folder, entry.frame, "l")


def export_gt_depths(data_root: Path, split_file: Path, out_path: Path, kind: str) -> int:
    """Write the GT depth maps of every line of ``split_file`` to ``out_path`` (npz); returns the count.

    ``kind`` is ``eigen`` (Velodyne projection) or ``eigen_benchmark`` (annotated maps). All source
    files are checked before any work, and the npz is written atomically.
    """
    if kind not in GT_KINDS:
        raise ValueError(f"unknown GT kind {kind!r}; expected one of {list(GT_KINDS)}")
    data_root, split_file, out_path = Path(data_root), Path(split_file), Path(out_path)
    entries = read_split_file(split_file)
    sources = [_gt_source_path(data_root, entry, kind) for entry in entries]
    missing = [str(path) for path in sources if not path.is_file()]
    if missing:
        hint = (
            " (the annotated depth maps must be merged into the raw drive folders)" if kind == "eigen_benchmark" else ""
        )
        raise FileNotFoundError(
            f"{split_file}: {len(missing)} of {len(sources)} {kind} GT files are missing{hint}, first: {missing[:3]}"
        )

    arrays: dict[str, Any] = {}
    for index, (entry, source) in enumerate(zip(entries, sources, strict=True)):
        if kind == "eigen":
            depth = generate_depth_map(calib_dir(data_root, entry.folder), source, GT_CAMERA, vel_depth=True)
        else:
            depth = read_depth_png(source)
        arrays[DEPTH_KEY.format(index)] = depth.astype(np.float32)
    arrays["entries"] = np.array([f"{e.folder} {e.frame} {e.side}" for e in entries], dtype=np.str_)
    arrays["kind"] = np.array(kind, dtype=np.str_)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(entries)


def load_gt_depths(path: Path) -> list[np.ndarray]:
    """Read GT depth maps ``[(H_i, W_i)]`` from our npz or from monodepth2's legacy ``gt_depths.npz``.

    The legacy file keeps all maps under ``data``, as a ragged object array when sizes differ; that
    needs ``allow_pickle=True``, the only place the project unpickles data. Only load legacy files
    you produced or trust.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as archive:
        if LEGACY_KEY not in archive.files:
            return _read_per_image(path, archive)
    with np.load(path, allow_pickle=True, fix_imports=True, encoding="latin1") as archive:
        data = archive[LEGACY_KEY]
    return [np.asarray(depth) for depth in data]


def _read_per_image(path: Path, archive: np.lib.npyio.NpzFile) -> list[np.ndarray]:
    """The ``depth_00000 .. depth_N-1`` arrays of an open npz, checked against its ``entries``."""
    indices = sorted(int(m.group(1)) for key in archive.files if (m := _DEPTH_KEY_PATTERN.fullmatch(key)))
    if not indices or indices != list(range(len(indices))):
        raise ValueError(f"{path}: expected keys depth_00000 .. depth_<N-1> or a legacy 'data' array")
    depths = [archive[DEPTH_KEY.format(i)] for i in indices]
    if "entries" in archive.files and len(archive["entries"]) != len(depths):
        raise ValueError(f"{path}: {len(archive['entries'])} split entries for {len(depths)} depth maps")
    return depths
