"""Ground-truth export for the evaluation splits (monodepth2's ``gt_depths.npz``, generalised).

Kinds, named after the test split they serve:

* ``eigen``: raw Velodyne scans projected into camera 2 (``generate_depth_map``), depth measured
  along the LiDAR x axis as monodepth2 keeps it for comparability.
* ``eigen_benchmark``: the KITTI depth-benchmark annotated maps
  (``<drive>/proj_depth/groundtruth/image_02/<frame>.png`` / 256) merged into the raw drive folders.
* ``odometry``: what protocol ``kitti_odom_mr`` scores: the annotated depth of each MonoRec-split
  keyframe (``sequences/<SS>/image_depth_annotated/<frame:06d>.png`` / 256, full size; the protocol's
  ``centre_crop_sparse`` transform is applied when scoring) and its moving-object mask
  (``mvobj_mask/<frame:06d>.npy``, 256x512, at the transformed size) as region ``dynamic``.
* ``nyu``: the NYUv2 test depths of ``color <index> l`` lines, from SC-Depth's 16-bit
  ``Testing/depth/<index:04d>.png`` (metres x 5000), the source GasMono's unshipped
  ``gt_depths.npz`` is built from.
* ``nyu_h5``: the same NYUv2 test images as P2Net's h5 files list them (``nyu_test/<index:05d>.h5``
  lines, ``depth`` in metres at 480x640), the test set of EPCDepth's NYUv2 generalisation test; the
  protocol's window is applied when scoring.

The output npz holds one float32 array per image (``depth_00000``, ...), per region mask
(``region_dynamic_00000``, ...), plus the split entries and the kind, so it loads with
``allow_pickle=False`` on any NumPy version (monodepth2's single ragged ``data`` array breaks on
NumPy >= 1.24, monodepth2#481). Maps are read in parallel (``workers`` processes, a bounded number of
maps in flight) and written one at a time in split order (the odometry test set is about 16 GB of float32
maps), with fixed member timestamps, so the same inputs give the same bytes whatever the worker count. The
npz is written to a temporary sibling and renamed: a killed export leaves nothing and reruns as a whole.
``load_gt_depths`` reads our layout lazily and monodepth2's (or GasMono's stacked ``data``) whole.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import overload

import numpy as np
from tqdm import tqdm

from depthrepro.io import kitti_odometry, nyu_h5, nyuv2
from depthrepro.io.kitti import (
    annotated_depth_path,
    calib_dir,
    read_calib_file,
    read_depth_png,
    read_split_file,
    read_velodyne,
    velodyne_path,
)

GT_KINDS: tuple[str, ...] = ("eigen", "eigen_benchmark", "odometry", "nyu", "nyu_h5")
GT_CAMERA = 2
"""The KITTI exports use the left colour camera (image_02), whatever side the split line names."""
DYNAMIC_REGION = "dynamic"
"""Region of protocol ``kitti_odom_mr`` scored inside the moving-object masks."""

DEPTH_KEY = "depth_{:05d}"
REGION_KEY = "region_{}_{:05d}"
_DEPTH_KEY_PATTERN = re.compile(r"depth_(\d{5,})")
_REGION_KEY_PATTERN = re.compile(r"region_([a-z]+)_(\d{5,})")
LEGACY_KEY = "data"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_MISSING_HINTS = {
    "eigen": "",
    "eigen_benchmark": " (the annotated depth maps must be merged into the raw drive folders)",
    "odometry": " (annotated depth transferred to sequences/<SS>/image_depth_annotated, MonoRec's mvobj_mask)",
    "nyu": " (SC-Depth's Testing/depth PNGs)",
    "nyu_h5": " (P2Net's nyu_test/*.h5 files under the NYUv2 root)",
}


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


@dataclass(frozen=True)
class GtItem:
    """One test image: its split line, the file its depth comes from, how to read it, region mask files."""

    entry: str
    source: Path
    read: Callable[[], np.ndarray]
    regions: dict[str, Path] = field(default_factory=dict)


def _kitti_items(data_root: Path, split_file: Path, kind: str) -> list[GtItem]:
    items = []
    for e in read_split_file(split_file):
        entry = f"{e.folder} {e.frame} {e.side}"
        if kind == "eigen":
            scan, calib = velodyne_path(data_root, e.folder, e.frame), calib_dir(data_root, e.folder)
            items.append(GtItem(entry, scan, partial(generate_depth_map, calib, scan, GT_CAMERA, vel_depth=True)))
        else:
            png = annotated_depth_path(data_root, e.folder, e.frame, "l")
            items.append(GtItem(entry, png, partial(read_depth_png, png)))
    return items


def _odometry_items(root: Path, split_file: Path) -> list[GtItem]:
    items = []
    for k in kitti_odometry.read_keyframes(split_file):
        png = kitti_odometry.annotated_depth_path(root, k.sequence, k.frame)
        mask = kitti_odometry.mvobj_mask_path(root, k.sequence, k.frame)
        items.append(GtItem(f"{k.sequence:02d} {k.frame}", png, partial(read_depth_png, png), {DYNAMIC_REGION: mask}))
    return items


def _nyu_items(root: Path, split_file: Path) -> list[GtItem]:
    items = []
    for e in nyuv2.read_nyu_split(split_file):
        if e.scene != nyuv2.TEST_FOLDER:
            raise ValueError(f"{split_file}: expected test lines '{nyuv2.TEST_FOLDER} <index:04d> l', "
                             f"got scene {e.scene!r} (frame {e.frame})")
        png = nyuv2.labelled_depth_path(root, e.frame)
        items.append(GtItem(f"{e.scene} {e.frame:04d} {e.side}", png, partial(nyuv2.read_depth_png, png)))
    return items


def _nyu_h5_items(root: Path, split_file: Path) -> list[GtItem]:
    return [GtItem(line, root / line, partial(nyu_h5.read_nyu_h5_depth, root / line))
            for line in nyu_h5.read_h5_list(split_file)]


def gt_items(data_root: Path, split_file: Path, kind: str) -> list[GtItem]:
    """The images of ``split_file`` and where their ground truth of ``kind`` comes from under ``data_root``."""
    if kind not in GT_KINDS:
        raise ValueError(f"unknown GT kind {kind!r}; expected one of {list(GT_KINDS)}")
    if kind == "odometry":
        return _odometry_items(data_root, split_file)
    if kind == "nyu":
        return _nyu_items(data_root, split_file)
    if kind == "nyu_h5":
        return _nyu_h5_items(data_root, split_file)
    return _kitti_items(data_root, split_file, kind)


def _write_member(archive: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    """Add ``array`` as ``<key>.npy``, compressed, with a fixed timestamp."""
    info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with archive.open(info, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def read_item(item: GtItem) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The float32 depth map of one test image and its region masks."""
    depth = item.read().astype(np.float32)
    return depth, {region: kitti_odometry.read_mvobj_mask(path) for region, path in item.regions.items()}


def _read_in_order(items: list[GtItem], workers: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """``read_item`` of every item, in order; over ``workers`` processes with at most ``2 · workers`` maps
    read ahead of the consumer (maps are large; an unbounded map would hold them all)."""
    if workers <= 1:
        yield from map(read_item, items)
        return
    with ProcessPoolExecutor(workers) as pool:
        pending: deque[Future] = deque()
        upcoming = iter(items)
        for item in upcoming:
            pending.append(pool.submit(read_item, item))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done = pending.popleft().result()
            next_item = next(upcoming, None)
            if next_item is not None:
                pending.append(pool.submit(read_item, next_item))
            yield done


def export_gt_depths(data_root: Path, split_file: Path, out_path: Path, kind: str, workers: int = 1,
                     progress: bool = False) -> int:
    """Write the GT of every line of ``split_file`` to ``out_path`` (npz); returns the image count.

    ``data_root`` is the KITTI raw root (``eigen``, ``eigen_benchmark``), the KITTI odometry root
    (``odometry``) or the NYUv2 root (``nyu``, ``nyu_h5``). All source files are checked before any work; maps are
    read by ``workers`` processes (with a progress bar when ``progress``); the npz is written to a
    temporary sibling and renamed.
    """
    data_root, split_file, out_path = Path(data_root), Path(split_file), Path(out_path)
    items = gt_items(data_root, split_file, kind)
    if not items:
        raise ValueError(f"{split_file}: no test lines")
    sources = [path for item in items for path in (item.source, *item.regions.values())]
    missing = [str(path) for path in sources if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{split_file}: {len(missing)} of {len(sources)} {kind} GT files are missing"
                                f"{_MISSING_HINTS[kind]}, first: {missing[:3]}")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            maps = tqdm(_read_in_order(items, workers), total=len(items), desc=f"gt {kind}", unit="map",
                        disable=not progress)
            for index, (depth, regions) in enumerate(maps):
                _write_member(archive, DEPTH_KEY.format(index), depth)
                for region, mask in regions.items():
                    _write_member(archive, REGION_KEY.format(region, index), mask)
            _write_member(archive, "entries", np.array([item.entry for item in items], dtype=np.str_))
            _write_member(archive, "kind", np.array(kind, dtype=np.str_))
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(items)


class StoredMaps(Sequence[np.ndarray]):
    """Maps of an open npz, read from disk when indexed (``keys`` in image order)."""

    def __init__(self, archive: np.lib.npyio.NpzFile, keys: list[str]) -> None:
        self._archive = archive
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self._archive[key] for key in self._keys[index]]
        return self._archive[self._keys[index]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self._archive[key] for key in self._keys)


def load_gt_depths(path: Path) -> Sequence[np.ndarray]:
    """GT depth maps ``[(H_i, W_i)]`` of our npz (read lazily) or of monodepth2's legacy ``gt_depths.npz``.

    The legacy file keeps all maps under ``data``, as a ragged object array when sizes differ; that
    needs ``allow_pickle=True``, the only place the project unpickles data. Only load legacy files
    you produced or trust.
    """
    path = Path(path)
    archive = np.load(path, allow_pickle=False)
    if LEGACY_KEY not in archive.files:
        return StoredMaps(archive, _depth_keys(path, archive))
    archive.close()
    with np.load(path, allow_pickle=True, fix_imports=True, encoding="latin1") as legacy:
        data = legacy[LEGACY_KEY]
    return [np.asarray(depth) for depth in data]


def load_region_masks(path: Path) -> dict[str, Sequence[np.ndarray]]:
    """``{region: masks}`` stored beside the depth maps (``region_<name>_<index>``), one mask per image;
    empty for files without regions (every kind but ``odometry``, and legacy files)."""
    path = Path(path)
    archive = np.load(path, allow_pickle=False)
    count = 0 if LEGACY_KEY in archive.files else len(_depth_keys(path, archive))
    found: dict[str, list[int]] = {}
    for key in archive.files:
        if m := _REGION_KEY_PATTERN.fullmatch(key):
            found.setdefault(m.group(1), []).append(int(m.group(2)))
    for region, indices in found.items():
        if sorted(indices) != list(range(count)):
            raise ValueError(f"{path}: region {region!r} has {len(indices)} masks for {count} depth maps "
                             f"(expected region_{region}_00000 .. _{count - 1:05d})")
    return {region: StoredMaps(archive, [REGION_KEY.format(region, i) for i in range(count)])
            for region in sorted(found)}


def _depth_keys(path: Path, archive: np.lib.npyio.NpzFile) -> list[str]:
    """``depth_00000 .. depth_N-1`` of an open npz, checked against its ``entries``."""
    indices = sorted(int(m.group(1)) for key in archive.files if (m := _DEPTH_KEY_PATTERN.fullmatch(key)))
    if not indices or indices != list(range(len(indices))):
        raise ValueError(f"{path}: expected keys depth_00000 .. depth_<N-1> or a legacy 'data' array")
    if "entries" in archive.files and len(archive["entries"]) != len(indices):
        raise ValueError(f"{path}: {len(archive['entries'])} split entries for {len(indices)} depth maps")
    return [DEPTH_KEY.format(i) for i in indices]
