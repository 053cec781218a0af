"""Lay out the real KITTI odometry tree from the unpacked downloads: MonoRec's layout (read by the dynamic
multi-frame method) and monodepth2's ``odom`` split (odometry training, pose evaluation) in one folder.

Inputs, as ``depthrepro download --unpack`` leaves them (params/downloads.yaml):

* ``odometry_root``: KITTI odometry's ``dataset/`` folder (groups ``kitti_odometry``, ``monorec_odometry``):
  ``sequences/<SS>/image_2|image_3/%06d.png, calib.txt, times.txt``, ``poses/<SS>.txt``, and MonoRec's
  ``poses_dvso/<SS>.txt`` and ``sequences/<SS>/mvobj_mask/%06d.npy`` (its README: both archives unpack
  into place in that folder);
* ``annotated_root``: KITTI's ``data_depth_annotated``, ``train|val/<drive>_sync/proj_depth/groundtruth/
  image_02/%010d.png`` (group ``kitti_depth_annotated``);
* ``odom_splits``: monodepth2's ``splits/odom`` files (group ``kitti_splits``);
* the dynamic-multiframe training and evaluation configs (group ``monorec_odometry``): their
  ``data_loader.args.sequences`` name the train and the test sequences.

Tree under ``out`` (``depthrepro.io.kitti_odometry``; the synthetic world's layout)::

    sequences/<SS>/image_2, image_3, calib.txt, times.txt, mvobj_mask   symbolic links into odometry_root
    sequences/<SS>/image_depth_annotated/%06d.png                     hard links into annotated_root
    poses/<SS>.txt, poses_dvso/<SS>.txt                                symbolic links
    splits/odometry/{train,test}_files.txt                            MonoRec keyframes, ``<SS> <frame>``
    splits/odom/*.txt                                                  monodepth2's files, byte for byte
    manifest.json                                                      written last

``out`` may be ``odometry_root`` itself (laid out in place: only annotated depth, splits and manifest are added).

* Annotated depth: odometry sequence ``<SS>`` is frames ``start .. end`` of one raw drive (the KITTI odometry
  devkit's mapping table); raw frame ``r`` becomes frame ``r - start``. MonoRec's transfer script applies only
  sequence 08's start (1100) and also writes raw frames past a sequence's end; within the sequence the files
  are the same. Camera 2 (``image_02``) only, as MonoRec.
* Keyframes: with annotated LiDAR, MonoRec's loader keeps frames 5 .. N-6 of each listed sequence; each
  needs frames k-1 and k+1, its annotated map, its mvobj mask (the configs load masks for training too) and
  a DVSO pose per frame.
* monodepth2's odom lines need their frame, both neighbours and the other camera's frame (training and
  validation lines), or their frame and its successor (``test_files_<SS>`` lines, pose pairs).

Not established from the sources, so checked (an error names each missing file): whether every keyframe has
an mvobj mask, every frame a DVSO pose, every keyframe an annotated map. The masks' stored dtype is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthrepro.io.atomic import atomic_write_bytes
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.kitti_odometry import (
    ANNOTATED_MARGIN,
    MASK_SIZE,
    SIDE_TO_IMAGE_FOLDER,
    Keyframe,
    OdomSplitEntry,
    calib_path,
    centre_crop_box,
    dvso_poses_path,
    poses_path,
    read_odom_split,
    read_odometry_calib,
    sequence_dir,
    times_path,
    write_keyframes,
)
from depthrepro.prepare.tree_layout import (
    LayoutError,
    completed_manifest,
    count_lines,
    hard_link,
    numbered_files,
    raise_problems,
    symlink,
    write_manifest,
)
from depthrepro.prepare.unpack import ANNOTATED_SPLITS, GROUNDTRUTH

FRAME_RATE_HZ = 10.0
"""KITTI's camera rate."""
ANNOTATED_CAMERA = "image_02"
MASK_FOLDER = "mvobj_mask"
ANNOTATED_FOLDER = "image_depth_annotated"
CONFIG_SEQUENCES = ("data_loader", "args", "sequences")
"""Where a dynamic-multiframe (MonoRec-style) config lists its sequences."""
TRAIN_OFFSETS = (-1, 0, 1)
POSE_PAIR_OFFSETS = (0, 1)
TEST_FILE_PREFIX = "test_files_"
OTHER_SIDE = {"l": "r", "r": "l"}


@dataclass(frozen=True)
class RawSpan:
    """Frames ``start .. end`` (inclusive) of KITTI raw drive ``drive`` (``2011_10_03_drive_0027``)."""

    drive: str
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start + 1

    @property
    def folder(self) -> str:
        """``<date>/<drive>_sync``, the drive's folder in the raw tree."""
        return f"{self.drive[:10]}/{self.drive}_sync"


KITTI_ODOMETRY_DRIVES: dict[int, RawSpan] = {
    0: RawSpan("2011_10_03_drive_0027", 0, 4540),
    1: RawSpan("2011_10_03_drive_0042", 0, 1100),
    2: RawSpan("2011_10_03_drive_0034", 0, 4660),
    3: RawSpan("2011_09_26_drive_0067", 0, 800),
    4: RawSpan("2011_09_30_drive_0016", 0, 270),
    5: RawSpan("2011_09_30_drive_0018", 0, 2760),
    6: RawSpan("2011_09_30_drive_0020", 0, 1100),
    7: RawSpan("2011_09_30_drive_0027", 0, 1100),
    8: RawSpan("2011_09_30_drive_0028", 1100, 5170),
    9: RawSpan("2011_09_30_drive_0033", 0, 1590),
    10: RawSpan("2011_09_30_drive_0034", 0, 1200),
}
"""The KITTI odometry devkit's mapping of sequences 00-10 to raw drive frames (its readme.txt; MonoRec's
transfer script has the same drives). Sequence 03's drive is in neither the raw release nor the annotated set."""


@dataclass(frozen=True)
class OdometrySources:
    """The unpacked downloads a tree is made from (see the module docstring)."""

    odometry_root: Path
    annotated_root: Path
    odom_splits: Path
    monorec_train_config: Path
    monorec_eval_config: Path

    def inputs(self) -> dict[str, Any]:
        """What the manifest records to recognise a tree built from the same inputs."""
        return {"odometry_root": str(self.odometry_root), "annotated_root": str(self.annotated_root),
                "odom_splits": {p.name: file_sha256(p) for p in sorted(Path(self.odom_splits).glob("*.txt"))},
                "monorec_train_config": file_sha256(self.monorec_train_config),
                "monorec_eval_config": file_sha256(self.monorec_eval_config)}


def config_sequences(path: Path) -> tuple[int, ...]:
    """Sequence numbers of a MonoRec-style config's ``data_loader.args.sequences`` (``["00", "04"]``)."""
    node: Any = json.loads(Path(path).read_text())
    for key in CONFIG_SEQUENCES:
        if not isinstance(node, dict) or key not in node:
            raise LayoutError(f"{path}: no {'.'.join(CONFIG_SEQUENCES)} (a MonoRec-style config's sequence list)")
        node = node[key]
    if not isinstance(node, list) or not node or not all(isinstance(s, str) and s.isdigit() for s in node):
        raise LayoutError(f"{path}: {'.'.join(CONFIG_SEQUENCES)} must list sequence numbers like '00', got {node!r}")
    return tuple(int(s) for s in node)


def monorec_roles(train_config: Path, eval_config: Path) -> dict[str, tuple[int, ...]]:
    """``{"train": sequences, "test": sequences}`` of the training and evaluation configs (disjoint)."""
    roles = {"train": config_sequences(train_config), "test": config_sequences(eval_config)}
    shared = sorted(set(roles["train"]) & set(roles["test"]))
    if shared:
        raise LayoutError(f"{train_config} and {eval_config}: sequences {shared} are both train and test")
    return roles


def monorec_keyframes(frames: int) -> range:
    """Keyframes of a sequence of ``frames`` frames in MonoRec's loader with annotated depth: 5 .. N-6."""
    return range(ANNOTATED_MARGIN, frames - ANNOTATED_MARGIN)


def read_odom_splits(folder: Path) -> dict[str, list[OdomSplitEntry]]:
    """``{file stem: lines}`` of every ``*.txt`` of monodepth2's ``odom`` split folder."""
    files = sorted(Path(folder).glob("*.txt"))
    if not files:
        raise LayoutError(f"{folder}: no odom split files (*.txt)")
    return {path.stem: read_odom_split(path) for path in files}


def odom_line_frames(name: str, entry: OdomSplitEntry) -> list[tuple[str, int]]:
    """``(camera folder, frame)`` images an odom line of split file ``name`` needs."""
    own = SIDE_TO_IMAGE_FOLDER[entry.side]
    if name.startswith(TEST_FILE_PREFIX):
        return [(own, entry.frame + o) for o in POSE_PAIR_OFFSETS]
    return [(own, entry.frame + o) for o in TRAIN_OFFSETS] + [(SIDE_TO_IMAGE_FOLDER[OTHER_SIDE[entry.side]],
                                                                entry.frame)]


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` of a ``.npy`` file, read from its header only."""
    with open(path, "rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)
    return tuple(shape), np.dtype(dtype)


@dataclass(frozen=True)
class SequenceFiles:
    """What the unpacked downloads hold of one sequence: images per camera folder, the annotated maps
    (odometry frame -> source file), the mvobj masks; ``image_size`` (width, height) of image_2."""

    sequence: int
    span: RawSpan | None
    images: dict[str, dict[int, Path]]
    annotated: dict[int, Path]
    masks: dict[int, Path]
    image_size: tuple[int, int] | None

    @property
    def frames(self) -> int:
        return len(self.images["image_2"])


def annotated_sources(annotated_root: Path, span: RawSpan) -> dict[int, Path]:
    """``{odometry frame: annotated PNG}`` of the drive's camera-2 maps inside the sequence's frame span."""
    folders = [Path(annotated_root) / split / f"{span.drive}_sync" / GROUNDTRUTH / ANNOTATED_CAMERA
               for split in ANNOTATED_SPLITS]
    found = [folder for folder in folders if folder.is_dir()]
    if len(found) > 1:
        raise LayoutError(f"{annotated_root}: drive {span.drive} is in both {found[0]} and {found[1]}")
    maps = numbered_files(found[0], ".png") if found else {}
    return {raw - span.start: path for raw, path in sorted(maps.items()) if span.start <= raw <= span.end}


def scan_sequence(sources: OdometrySources, sequence: int, span: RawSpan | None) -> SequenceFiles:
    """List one sequence's files in the unpacked downloads (no file is opened but image_2's first frame)."""
    folder = sequence_dir(sources.odometry_root, sequence)
    images = {camera: numbered_files(folder / camera, ".png") for camera in SIDE_TO_IMAGE_FOLDER.values()}
    size = None
    if images["image_2"]:
        with Image.open(images["image_2"][min(images["image_2"])]) as first:
            size = first.size
    return SequenceFiles(sequence=sequence, span=span, images=images,
                         annotated=annotated_sources(sources.annotated_root, span) if span else {},
                         masks=numbered_files(folder / MASK_FOLDER, ".npy"), image_size=size)


def _sequence_problems(sources: OdometrySources, files: SequenceFiles, needs_gt_poses: bool) -> list[str]:
    """Problems of a sequence's frames, calibration, times and pose files."""
    root, sequence, n = sources.odometry_root, files.sequence, files.frames
    image_dir = sequence_dir(root, sequence) / "image_2"
    if n == 0:
        return [f"{image_dir}: no %06d.png frames (KITTI odometry colour images not unpacked?)"]
    problems = []
    if sorted(files.images["image_2"]) != list(range(n)):
        missing = sorted(set(range(max(files.images["image_2"]) + 1)) - set(files.images["image_2"]))
        problems.append(f"{image_dir}: frames are not numbered 0 .. {n - 1}; missing e.g. {missing[:5]}")
    if files.span is not None and n != files.span.frames:
        problems.append(f"{image_dir}: {n} frames, but the devkit maps frames {files.span.start} .. "
                        f"{files.span.end} of {files.span.drive} ({files.span.frames} frames) to this sequence")
    last = files.images["image_2"][max(files.images["image_2"])]
    with Image.open(last) as image:
        if image.size != files.image_size:
            problems.append(f"{last}: {image.size[0]}x{image.size[1]}, but frame "
                            f"{min(files.images['image_2'])} is {files.image_size[0]}x{files.image_size[1]}")
    try:
        read_odometry_calib(calib_path(root, sequence))
    except (OSError, ValueError) as err:
        problems.append(f"{calib_path(root, sequence)}: {err}")
    for path, required in ((times_path(root, sequence), True), (poses_path(root, sequence), needs_gt_poses)):
        if path.is_file():
            if count_lines(path) != n:
                problems.append(f"{path}: {count_lines(path)} lines, but image_2 holds {n} frames")
        elif required:
            problems.append(f"{path}: missing")
    return problems


def _keyframe_problems(sources: OdometrySources, files: SequenceFiles, keyframes: range) -> list[str]:
    """Problems of the MonoRec keyframes of a sequence: DVSO poses, annotated maps, moving-object masks."""
    sequence, n = files.sequence, files.frames
    problems = []
    dvso = dvso_poses_path(sources.odometry_root, sequence)
    if not dvso.is_file():
        problems.append(f"{dvso}: missing (MonoRec's poses_dvso.zip unpacked into {sources.odometry_root}?)")
    elif count_lines(dvso) != n:
        problems.append(f"{dvso}: {count_lines(dvso)} lines, but image_2 holds {n} frames")
    if not keyframes:
        problems.append(f"{sequence_dir(sources.odometry_root, sequence)}: {n} frames leave no keyframe "
                        f"({ANNOTATED_MARGIN} .. N-{ANNOTATED_MARGIN + 1})")
    drive = files.span.drive if files.span else "no raw drive"
    for k in keyframes:
        source = files.annotated.get(k)
        if source is None:
            raw = k + files.span.start if files.span else k
            problems.append(f"{sources.annotated_root}/*/{drive}_sync/{GROUNDTRUTH.as_posix()}/{ANNOTATED_CAMERA}/"
                            f"{raw:010d}.png: missing, the annotated depth of keyframe {sequence:02d} {k}")
        else:
            with Image.open(source) as image:
                if image.size != files.image_size or not image.mode.startswith("I"):
                    problems.append(f"{source}: {image.mode} {image.size[0]}x{image.size[1]}, expected a 16-bit "
                                    f"map of the sequence's {files.image_size[0]}x{files.image_size[1]}")
        mask = files.masks.get(k)
        if mask is None:
            problems.append(f"{sequence_dir(sources.odometry_root, sequence) / MASK_FOLDER / f'{k:06d}.npy'}: "
                            f"missing, the moving-object mask of keyframe {sequence:02d} {k}")
        elif npy_header(mask)[0] != MASK_SIZE:
            problems.append(f"{mask}: shape {npy_header(mask)[0]}, expected {MASK_SIZE}")
    return problems


def _odom_problems(sources: OdometrySources, splits: dict[str, list[OdomSplitEntry]],
                   scanned: Mapping[int, SequenceFiles]) -> list[str]:
    """Images named by odom split lines that the unpacked colour images lack."""
    problems = []
    for name, entries in splits.items():
        for number, entry in enumerate(entries, start=1):
            for camera, frame in odom_line_frames(name, entry):
                if frame not in scanned[entry.sequence].images[camera]:
                    path = sequence_dir(sources.odometry_root, entry.sequence) / camera / f"{frame:06d}.png"
                    problems.append(f"{path}: missing, needed by {Path(sources.odom_splits) / name}.txt line {number} "
                                    f"({entry.sequence} {entry.frame} {entry.side})")
    return problems


def _lay_out_sequence(sources: OdometrySources, files: SequenceFiles, out: Path) -> None:
    """Link one sequence's files into ``out`` and transfer its annotated depth (links in place are kept)."""
    src, dst = sequence_dir(sources.odometry_root, files.sequence), sequence_dir(out, files.sequence)
    for name in ("image_2", "image_3", "calib.txt", "times.txt", MASK_FOLDER):
        if (src / name).exists():
            symlink(src / name, dst / name)
    for path_of in (poses_path, dvso_poses_path):
        if path_of(sources.odometry_root, files.sequence).is_file():
            symlink(path_of(sources.odometry_root, files.sequence), path_of(out, files.sequence))
    for frame, source in sorted(files.annotated.items()):
        hard_link(source, dst / ANNOTATED_FOLDER / f"{frame:06d}.png")


def _sequence_record(files: SequenceFiles, roles: dict[str, str]) -> dict[str, Any]:
    """The manifest entry of a sequence; ``crop_box`` is the loader's centre crop (where mvobj masks live)."""
    width, height = files.image_size or (0, 0)
    record: dict[str, Any] = {
        "sequence": f"{files.sequence:02d}", "frames": files.frames, "image_size": [width, height],
        "crop_box": list(centre_crop_box(width, height)), "roles": roles, "mvobj_masks": len(files.masks),
        "annotated": {"maps": len(files.annotated), "first": min(files.annotated, default=None),
                      "last": max(files.annotated, default=None)},
    }
    if files.span is not None:
        record.update(raw_drive=files.span.folder, raw_frames=[files.span.start, files.span.end])
    return record


def prepare_odometry_tree(sources: OdometrySources, out: Path,
                          drives: Mapping[int, RawSpan] = KITTI_ODOMETRY_DRIVES) -> dict[str, Any]:
    """Check the unpacked downloads, lay out the tree under ``out`` and write its ``manifest.json`` last.

    Returns the manifest. A tree whose manifest records the same inputs is returned untouched; otherwise
    every step is redone (links already in place are kept), so an interrupted run resumes. Raises
    ``LayoutError`` naming every missing or malformed file before anything is written. ``drives`` maps
    sequences to raw drive frames (the devkit's table); a sequence without an entry gets no annotated depth.
    """
    out = Path(out)
    inputs = sources.inputs()
    done = completed_manifest(out, inputs)
    if done is not None:
        return done
    roles = monorec_roles(sources.monorec_train_config, sources.monorec_eval_config)
    splits = read_odom_splits(sources.odom_splits)
    odom_roles = {e.sequence: "test" if name.startswith(TEST_FILE_PREFIX) else "train"
                  for name, entries in splits.items() for e in entries}
    monorec_role = {s: role for role, sequences in roles.items() for s in sequences}
    sequences = sorted(set(monorec_role) | set(odom_roles))
    scanned = {s: scan_sequence(sources, s, drives.get(s)) for s in sequences}
    keyframes = {s: monorec_keyframes(scanned[s].frames) for s in monorec_role}

    problems = []
    for s in sequences:
        problems += _sequence_problems(sources, scanned[s], needs_gt_poses=odom_roles.get(s) == "test")
    for s in monorec_role:
        if scanned[s].frames:
            problems += _keyframe_problems(sources, scanned[s], keyframes[s])
    problems += _odom_problems(sources, splits, scanned)
    raise_problems(problems, f"KITTI odometry tree from {sources.odometry_root}")

    for s in sequences:
        _lay_out_sequence(sources, scanned[s], out)
    for role, role_sequences in roles.items():
        write_keyframes(out / "splits" / "odometry" / f"{role}_files.txt",
                        [Keyframe(s, k) for s in role_sequences for k in keyframes[s]])
    for name in splits:
        official = Path(sources.odom_splits) / f"{name}.txt"
        atomic_write_bytes(out / "splits" / "odom" / official.name, official.read_bytes())

    first_mask = next((files.masks[min(files.masks)] for files in scanned.values() if files.masks), None)
    manifest = {
        "dataset": "kitti_odometry",
        "source": "download",
        "frame_rate_hz": FRAME_RATE_HZ,
        "annotated_margin": ANNOTATED_MARGIN,
        "mvobj_mask": {"size": list(MASK_SIZE),
                       "dtype": str(npy_header(first_mask)[1]) if first_mask is not None else None},
        "sequences": [_sequence_record(scanned[s], {split: by_sequence[s] for split, by_sequence in
                                                    (("odometry", monorec_role), ("odom", odom_roles))
                                                    if s in by_sequence})
                      for s in sequences],
        "splits": {"odometry": {role: sum(len(keyframes[s]) for s in seqs) for role, seqs in roles.items()},
                   "odom": {name: len(entries) for name, entries in splits.items()}},
        "inputs": inputs,
    }
    write_manifest(out, manifest)
    return manifest
