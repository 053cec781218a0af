"""KITTI odometry file formats, with the extras MonoRec-style loaders read: DVSO poses, annotated depth
transferred from KITTI raw, and moving-object masks.

Layout under a dataset root::

    sequences/<SS>/image_2/%06d.png, image_3/%06d.png, calib.txt, times.txt
    sequences/<SS>/image_depth_annotated/%06d.png     uint16 depth * 256 of camera 2 (0: no value)
    sequences/<SS>/mvobj_mask/%06d.npy                (256, 512) float32 moving-object mask
    poses/<SS>.txt, poses_dvso/<SS>.txt               camera-to-world 3x4 per line
    splits/odometry/{train,test}_files.txt            ``<SS> <frame>`` keyframes (MonoRec style)
    splits/odom/{train,val}_files.txt, test_files_<SS>.txt   ``<seq> <frame> l|r`` (monodepth2's odom split)

``calib.txt`` holds ``P0``..``P3`` (3x4 projections of rectified camera-0 points into each camera) and
``Tr`` (3x4, Velodyne to camera 0), every number written ``%.12e`` as KITTI does. Pose files follow the
KITTI devkit: line i is the 3x4 row-major pose of frame i in the frame of the first pose (identity).

Numpy and OpenCV only. Writers are atomic (temporary sibling, then ``os.replace``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrepro.io.atomic import atomic_write_bytes, atomic_write_text
from depthrepro.io.split_lines import read_split_lines

CALIB_KEYS: tuple[str, ...] = ("P0", "P1", "P2", "P3", "Tr")
"""Entries of ``calib.txt``, in file order."""

MASK_SIZE: tuple[int, int] = (256, 512)
"""(height, width) of ``mvobj_mask`` files: the loader's centre-cropped, resized input size."""

ANNOTATED_MARGIN = 5
"""KITTI's annotated depth is missing for the first and last 5 frames of every drive."""

SIDE_TO_IMAGE_FOLDER: dict[str, str] = {"l": "image_2", "r": "image_3"}
"""monodepth2 split side letter to odometry colour camera folder."""


def sequence_dir(root: Path, sequence: int) -> Path:
    """``root/sequences/<SS>``."""
    return Path(root) / "sequences" / f"{sequence:02d}"


def image_path(root: Path, sequence: int, frame: int, camera: int = 2) -> Path:
    """``root/sequences/<SS>/image_<camera>/<frame:06d>.png`` (camera 2: left colour, 3: right colour)."""
    if camera not in (0, 1, 2, 3):
        raise ValueError(f"camera must be 0..3, got {camera}")
    return sequence_dir(root, sequence) / f"image_{camera}" / f"{frame:06d}.png"


def annotated_depth_path(root: Path, sequence: int, frame: int) -> Path:
    """``root/sequences/<SS>/image_depth_annotated/<frame:06d>.png`` (camera 2)."""
    return sequence_dir(root, sequence) / "image_depth_annotated" / f"{frame:06d}.png"


def mvobj_mask_path(root: Path, sequence: int, frame: int) -> Path:
    """``root/sequences/<SS>/mvobj_mask/<frame:06d>.npy``."""
    return sequence_dir(root, sequence) / "mvobj_mask" / f"{frame:06d}.npy"


def calib_path(root: Path, sequence: int) -> Path:
    """``root/sequences/<SS>/calib.txt``."""
    return sequence_dir(root, sequence) / "calib.txt"


def times_path(root: Path, sequence: int) -> Path:
    """``root/sequences/<SS>/times.txt``."""
    return sequence_dir(root, sequence) / "times.txt"


def poses_path(root: Path, sequence: int) -> Path:
    """``root/poses/<SS>.txt``: ground-truth camera-0 poses."""
    return Path(root) / "poses" / f"{sequence:02d}.txt"


def dvso_poses_path(root: Path, sequence: int) -> Path:
    """``root/poses_dvso/<SS>.txt``: DVSO-style camera-2 poses."""
    return Path(root) / "poses_dvso" / f"{sequence:02d}.txt"


@dataclass(frozen=True)
class OdometryCalib:
    """One sequence's ``calib.txt``: ``P`` (4, 3, 4) projections of cameras 0..3, ``Tr`` (3, 4) Velodyne
    to rectified camera 0."""

    P: np.ndarray
    Tr: np.ndarray

    def K(self, camera: int) -> np.ndarray:
        """(3, 3) intrinsics of ``camera`` (the left 3x3 block of its projection)."""
        return self.P[camera][:, :3].copy()

    def T_cam_from_cam0(self, camera: int) -> np.ndarray:
        """(4, 4) transform from rectified camera 0 to ``camera``: ``[I | K^-1 P[:, 3]]``."""
        out = np.eye(4)
        out[:3, 3] = np.linalg.solve(self.K(camera), self.P[camera][:, 3])
        return out

    def T_cam0_from_velo(self) -> np.ndarray:
        """(4, 4) homogeneous ``Tr``."""
        out = np.eye(4)
        out[:3, :] = self.Tr
        return out


def read_odometry_calib(path: Path) -> OdometryCalib:
    """Read ``calib.txt``; raises ValueError naming the file and line for a malformed or missing entry."""
    path = Path(path)
    entries: dict[str, np.ndarray] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        try:
            values = np.array([float(token) for token in rest.split()], dtype=np.float64)
        except ValueError:
            values = np.zeros(0)
        if not sep or values.size != 12:
            raise ValueError(f"{path}:{number}: expected '<key>: <12 numbers>', got {line!r}")
        entries[key.strip()] = values.reshape(3, 4)
    missing = [key for key in CALIB_KEYS if key not in entries]
    if missing:
        raise ValueError(f"{path}: missing calibration entries {missing}; expected {list(CALIB_KEYS)}")
    return OdometryCalib(P=np.stack([entries[f"P{i}"] for i in range(4)]), Tr=entries["Tr"])


def write_odometry_calib(path: Path, calib: OdometryCalib) -> None:
    """Write ``calib.txt`` as KITTI: ``P0: v1 ... v12`` .. ``Tr: ...``, numbers ``%.12e``."""
    P = np.asarray(calib.P, dtype=np.float64)
    Tr = np.asarray(calib.Tr, dtype=np.float64)
    if P.shape != (4, 3, 4) or Tr.shape != (3, 4):
        raise ValueError(f"{path}: expected P (4, 3, 4) and Tr (3, 4), got {P.shape} and {Tr.shape}")
    rows = [*P, Tr]
    lines = [f"{key}: " + " ".join(f"{v:.12e}" for v in (row.reshape(-1) + 0.0)) for key, row in zip(CALIB_KEYS, rows)]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def read_times(path: Path) -> np.ndarray:
    """Read ``times.txt``: (N,) float64 seconds, one per line."""
    path = Path(path)
    values = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(float(line))
        except ValueError:
            raise ValueError(f"{path}:{number}: expected one number of seconds, got {line!r}") from None
    return np.array(values, dtype=np.float64)


def write_times(path: Path, times: np.ndarray) -> None:
    """Write (N,) seconds as KITTI's ``times.txt``: ``%e`` per line."""
    atomic_write_text(Path(path), "".join(f"{t:e}\n" for t in np.asarray(times, dtype=np.float64).reshape(-1)))


def read_poses(path: Path) -> np.ndarray:
    """Read a KITTI pose file (12 numbers per line, row-major 3x4) as (N, 4, 4) float64 camera-to-world."""
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(token) for token in line.split()]
        except ValueError:
            values = []
        if len(values) != 12:
            raise ValueError(f"{path}:{number}: expected 12 numbers (a row-major 3x4 pose), got {line!r}")
        rows.append(values)
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    if rows:
        poses[:, :3, :] = np.array(rows).reshape(-1, 3, 4)
    return poses


def write_poses(path: Path, poses: np.ndarray) -> None:
    """Write (N, 4, 4) or (N, 3, 4) camera-to-world poses, one row-major 3x4 per line.

    Numbers are ``%.12e``: KITTI's files use ``%e`` (7 digits), which any reader of them also parses;
    the extra digits keep synthetic ground truth exact.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] not in ((3, 4), (4, 4)):
        raise ValueError(f"{path}: expected (N, 3, 4) or (N, 4, 4) poses, got shape {poses.shape}")
    flat = poses[:, :3, :].reshape(-1, 12) + 0.0
    atomic_write_text(Path(path), "".join(" ".join(f"{v:.12e}" for v in row) + "\n" for row in flat))


def centre_crop_box(width: int, height: int, target: tuple[int, int] = MASK_SIZE) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the loader's centre crop of a ``width`` x ``height`` image to the
    aspect of ``target`` (height, width), keeping the full height (or full width for tall images).

    Matches the MonoRec loader's arithmetic: for 1241x376 and (256, 512) it is (244, 0, 997, 376), so
    the right bound is ``width - left`` and an odd remainder widens the crop by one pixel.
    """
    aspect = target[0] / target[1]
    if height / width >= aspect:
        new_height = aspect * width
        top = int((height - new_height) // 2)
        return 0, top, width, height - top
    new_width = height / aspect
    left = int((width - new_width) // 2)
    return left, 0, width - left, height


def cropped_intrinsics(K: np.ndarray, width: int, height: int, target: tuple[int, int] = MASK_SIZE) -> np.ndarray:
    """(3, 3) intrinsics of the centre-cropped image resized to ``target`` (height, width).

    The crop box has a non-integer ideal extent (``height / aspect``); as the loader, the principal point
    is shifted by half the ideal margin and the focal length scaled by ``target / ideal extent``.
    """
    aspect = target[0] / target[1]
    out = np.asarray(K, dtype=np.float64).copy()
    if height / width >= aspect:
        new_height = aspect * width
        scale = target[1] / width
        out[1, 2] -= (height - new_height) / 2
    else:
        new_width = height / aspect
        scale = target[0] / height
        out[0, 2] -= (width - new_width) / 2
    out[:2, :] *= scale
    return out


def centre_crop_sparse(gt_depth: np.ndarray, output_size: tuple[int, ...]) -> np.ndarray:
    """``output_size`` map of the valid (> 0) pixels of a ``(H, W)`` map inside its centre crop.

    The crop keeps the full height (or width) at the aspect of ``output_size``; pixel ``(r, c)``
    of the crop goes to ``round(r / crop_h · out_h)``, ``round(c / crop_w · out_w)``, clipped to the
    grid (numpy's round-half-to-even, as the reference loader).
    """
    height, width = gt_depth.shape
    out_height, out_width = output_size
    left, top, right, bottom = centre_crop_box(width, height, (out_height, out_width))
    rows, cols = np.nonzero(gt_depth > 0)
    inside = (top <= rows) & (rows < bottom) & (left <= cols) & (cols < right)
    rows, cols = rows[inside], cols[inside]
    values = gt_depth[rows, cols]
    out_rows = np.clip((rows - top) / (bottom - top) * out_height, 0, out_height - 1)
    out_cols = np.clip((cols - left) / (right - left) * out_width, 0, out_width - 1)
    out = np.zeros((out_height, out_width), dtype=gt_depth.dtype)
    out[np.around(out_rows).astype(np.int64), np.around(out_cols).astype(np.int64)] = values
    return out


def read_mvobj_mask(path: Path) -> np.ndarray:
    """Read a moving-object mask: (256, 512) float32, 1 on moving-object pixels, 0 elsewhere."""
    path = Path(path)
    mask = np.load(path, allow_pickle=False)
    if mask.shape != MASK_SIZE:
        raise ValueError(f"{path}: expected a {MASK_SIZE} mask, got shape {mask.shape}")
    return mask.astype(np.float32)


def write_mvobj_mask(path: Path, mask: np.ndarray) -> None:
    """Write a (256, 512) mask as a float32 ``.npy`` of 0/1 values.

    float32 because the loader builds a float32 tensor from the file and thresholds it at 0.5; storing
    that dtype makes the file what the evaluation compares, with no conversion.
    """
    mask = np.asarray(mask)
    if mask.shape != MASK_SIZE:
        raise ValueError(f"{path}: expected a {MASK_SIZE} mask, got shape {mask.shape}")
    buffer = io.BytesIO()
    np.save(buffer, (mask > 0.5).astype(np.float32), allow_pickle=False)
    atomic_write_bytes(Path(path), buffer.getvalue())


@dataclass(frozen=True)
class OdomSplitEntry:
    """One line of monodepth2's ``odom`` split: sequence number, frame index, side ``l``/``r``."""

    sequence: int
    frame: int
    side: str

    def __post_init__(self) -> None:
        if self.side not in SIDE_TO_IMAGE_FOLDER:
            raise ValueError(f"split side must be one of {sorted(SIDE_TO_IMAGE_FOLDER)}, got {self.side!r}")


def read_odom_split(path: Path) -> list[OdomSplitEntry]:
    """Read ``<seq> <frame> l|r`` lines (``8 1430 r``); errors name the file and line."""
    return [OdomSplitEntry(int(seq), frame, side)
            for seq, frame, side in read_split_lines(path, "sequence", numeric_name=True)]


def write_odom_split(path: Path, entries: list[OdomSplitEntry]) -> None:
    """Write monodepth2 ``odom`` split lines: the sequence without zero padding, as monodepth2's files."""
    atomic_write_text(Path(path), "".join(f"{e.sequence} {e.frame} {e.side}\n" for e in entries))


@dataclass(frozen=True)
class Keyframe:
    """One line of a MonoRec-style split: a keyframe (with frames ``frame - 1`` and ``frame + 1``)."""

    sequence: int
    frame: int


def read_keyframes(path: Path) -> list[Keyframe]:
    """Read ``<SS> <frame>`` lines (``00 5``); errors name the file and line."""
    path = Path(path)
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or not tokens[0].isdigit() or not tokens[1].isdigit():
            raise ValueError(f"{path}:{number}: expected '<SS> <frame>', got {line!r}")
        entries.append(Keyframe(int(tokens[0]), int(tokens[1])))
    return entries


def write_keyframes(path: Path, entries: list[Keyframe]) -> None:
    """Write ``<SS> <frame>`` lines, the sequence as its two-digit folder name."""
    atomic_write_text(Path(path), "".join(f"{e.sequence:02d} {e.frame}\n" for e in entries))


@dataclass(frozen=True)
class OdometrySequence:
    """What a loader needs of one sequence: ``calib``; ``times`` (N,); ``poses`` (N, 4, 4) camera-0 GT or
    None when ``poses/<SS>.txt`` is absent (KITTI's test sequences 11-21); ``dvso_poses`` (N, 4, 4)
    camera-2 poses or None when ``poses_dvso`` is absent; ``frames`` (N) counted from ``image_2``;
    ``annotated`` the frames that have ``image_depth_annotated``."""

    sequence: int
    calib: OdometryCalib
    times: np.ndarray
    poses: np.ndarray | None
    dvso_poses: np.ndarray | None
    frames: int
    annotated: tuple[int, ...]


def load_odometry_sequence(root: Path, sequence: int) -> OdometrySequence:
    """Read calibration, times and both pose files of one sequence; checks that their lengths agree."""
    root = Path(root)
    images = sorted((sequence_dir(root, sequence) / "image_2").glob("*.png"))
    if not images:
        raise ValueError(f"{sequence_dir(root, sequence) / 'image_2'}: no PNG frames")
    frames = len(images)

    def checked(path: Path, values: np.ndarray) -> np.ndarray:
        if len(values) != frames:
            raise ValueError(f"{path}: {len(values)} entries, but image_2 holds {frames} frames")
        return values

    times = checked(times_path(root, sequence), read_times(times_path(root, sequence)))
    gt_path, dvso_path = poses_path(root, sequence), dvso_poses_path(root, sequence)
    poses = checked(gt_path, read_poses(gt_path)) if gt_path.is_file() else None
    dvso = checked(dvso_path, read_poses(dvso_path)) if dvso_path.is_file() else None
    annotated_dir = annotated_depth_path(root, sequence, 0).parent
    annotated = tuple(sorted(int(p.stem) for p in annotated_dir.glob("*.png"))) if annotated_dir.is_dir() else ()
    return OdometrySequence(sequence=sequence, calib=read_odometry_calib(calib_path(root, sequence)), times=times,
                            poses=poses, dvso_poses=dvso, frames=frames, annotated=annotated)
