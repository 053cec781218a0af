"""Lay out the real NYUv2 tree from the unpacked downloads: SC-Depth's pre-processed video as GasMono reads it,
its 654 labelled test images, and P2Net's h5 test files (EPCDepth's NYUv2 generalisation test).

Inputs, as ``depthrepro download --unpack`` leaves them (group ``nyuv2`` of params/downloads.yaml):

* ``sc_depth_root``: the unpacked SC-Depth NYU bundle. SC-Depth's README names its folders ``Training/<scene>/
  *.jpg + cam.txt`` and ``Testing/color``, ``Testing/depth`` while its loaders open ``training`` and
  ``testing``; the bundle may also sit in a top folder. The one folder (``sc_depth_root`` or up to two levels
  below) holding both a training and a testing folder, in either spelling, is used.
* ``p2net_root``: the unpacked ``nyu_test.tar.gz``, ``nyu_test/<index:05d>.h5`` (P2Net's README extracts it
  into the data folder that its list's ``nyu_test/...`` lines are relative to).
* ``gasmono_splits``: GasMono's ``splits/{train,val,test}_files.txt`` (``<scene> <frame:04d> l``, test lines
  ``color <index:04d> l``).
* ``h5_list``: EPCDepth's ``nyuv2Testing/nyu_test.txt`` (``nyu_test/<index:05d>.h5``, the same file as
  P2Net's ``splits/nyu_test.txt``).

Tree under ``out`` (``depthrepro.io.nyuv2`` and ``depthrepro.io.nyu_h5``; the synthetic world's layout)::

    Training/<scene>/%06d.jpg, cam.txt          symbolic links to the bundle's files (scenes of the lists)
    Testing/color/%04d.png, Testing/depth/%04d.png   symbolic links (the test list's indices)
    nyu_test                                    symbolic link to P2Net's folder
    splits/nyu/{train,val,test}_files.txt       GasMono's files, byte for byte
    splits/nyu_h5/test_files.txt                EPCDepth's list, byte for byte
    manifest.json                               written last

GasMono's loader opens ``<scene>/<frame:06d>.jpg`` and ``color/<index:04d>.png``; SC-Depth's own file naming is
not documented. Files are therefore linked by the number their name holds, whatever its zero padding; a scene
frame or test index a list names that no file holds is an error naming the file. Test images are read as PNG
(GasMono's naming) and must be 640x480 with a 16-bit depth PNG of the same size (SC-Depth's depth: metres x
5000). The synthetic tree's ``splits/nyu/gt_depths.npz`` is not written: nothing reads it, the ground truth is
exported from ``Testing/depth`` (``depthrepro prepare gt --kind nyu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image

from depthrepro.io.atomic import atomic_write_bytes
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.nyu_h5 import IMAGE_SIZE as H5_IMAGE_SIZE
from depthrepro.io.nyu_h5 import TEST_FOLDER as H5_FOLDER
from depthrepro.io.nyu_h5 import read_h5_list
from depthrepro.io.nyuv2 import (
    DEPTH_PNG_SCALE,
    TEST_FOLDER,
    NyuSplitEntry,
    cam_path,
    labelled_color_path,
    labelled_depth_path,
    read_cam_txt,
    read_nyu_split,
    training_image_path,
)
from depthrepro.prepare.tree_layout import (
    LayoutError,
    completed_manifest,
    numbered_files,
    raise_problems,
    symlink,
    write_manifest,
)

SPLIT_NAMES = ("train_files", "val_files", "test_files")
"""GasMono's lists, written to ``splits/nyu/``."""
H5_LIST = Path("splits") / "nyu_h5" / "test_files.txt"
TEST_IMAGE_SIZE = (640, 480)
"""(width, height) of NYUv2's labelled images, which SC-Depth's test folder holds uncropped."""
FOLDER_SPELLINGS = {"training": ("Training", "training"), "testing": ("Testing", "testing")}
FRAME_OFFSETS = (-1, 0, 1)
"""GasMono's frames of a training sample."""


@dataclass(frozen=True)
class NyuSources:
    """The unpacked downloads a tree is made from (see the module docstring)."""

    sc_depth_root: Path
    p2net_root: Path
    gasmono_splits: Path
    h5_list: Path

    def inputs(self) -> dict[str, Any]:
        """What the manifest records to recognise a tree built from the same inputs."""
        return {"sc_depth_root": str(self.sc_depth_root), "p2net_root": str(self.p2net_root),
                "gasmono_splits": {name: file_sha256(Path(self.gasmono_splits) / f"{name}.txt")
                                   for name in SPLIT_NAMES},
                "h5_list": file_sha256(self.h5_list)}


def _spelled(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_dir()), None)


def sc_depth_folders(sc_depth_root: Path) -> tuple[Path, Path]:
    """``(training, testing)`` folders of the unpacked SC-Depth bundle (see the module docstring)."""
    root = Path(sc_depth_root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not found (SC-Depth's NYU bundle not unpacked?)")
    candidates = [root, *(d for d in sorted(root.iterdir()) if d.is_dir()),
                  *(d for c in sorted(root.iterdir()) if c.is_dir() for d in sorted(c.iterdir()) if d.is_dir())]
    found = []
    for folder in candidates:
        training = _spelled(folder, FOLDER_SPELLINGS["training"])
        testing = _spelled(folder, FOLDER_SPELLINGS["testing"])
        if training is not None and testing is not None:
            found.append((training, testing))
    if len(found) != 1:
        what = "none" if not found else ", ".join(str(t.parent) for t, _ in found)
        raise LayoutError(f"{root}: expected one folder holding Training/ and Testing/ (or training/, testing/) "
                          f"within two levels; found {what}")
    return found[0]


def _image_size(path: Path) -> tuple[tuple[int, int], str]:
    with Image.open(path) as image:
        return image.size, image.mode


def _scene_problems(training: Path, scene: str, frames: dict[int, Path], entries: list[tuple[str, int, int]]
                    ) -> list[str]:
    """Problems of one training scene: its cam.txt and the frames its split lines need."""
    folder = training / scene
    if not folder.is_dir():
        return [f"{folder}: missing, needed by {entries[0][0]} line {entries[0][1]}"]
    problems = []
    try:
        K = read_cam_txt(folder / "cam.txt")
    except (OSError, ValueError) as err:
        problems.append(f"{folder / 'cam.txt'}: {err}")
    else:
        if frames:
            (width, height), _ = _image_size(frames[min(frames)])
            if not (0 < K[0, 2] < width and 0 < K[1, 2] < height):
                problems.append(f"{folder / 'cam.txt'}: principal point ({K[0, 2]}, {K[1, 2]}) outside the "
                                f"{width}x{height} frames")
    for where, number, frame in entries:
        missing = [frame + o for o in FRAME_OFFSETS if frame + o not in frames]
        if missing:
            problems.append(f"{folder}: no image of frame(s) {missing} (any zero padding, .jpg), needed by "
                            f"{where} line {number} ({scene} {frame:04d} l)")
    return problems


def _test_problems(testing: Path, color: dict[int, Path], depth: dict[int, Path], test_list: Path,
                   entries: list[NyuSplitEntry]) -> list[str]:
    """Problems of the labelled test images a test list names: presence, sizes, 16-bit depth."""
    problems = []
    for number, entry in enumerate(entries, start=1):
        if entry.scene != TEST_FOLDER:
            problems.append(f"{test_list}:{number}: expected '{TEST_FOLDER} <index:04d> l', got scene {entry.scene!r}")
            continue
        for folder, files in (("color", color), ("depth", depth)):
            if entry.frame not in files:
                problems.append(f"{testing / folder}: no PNG of test index {entry.frame} (any zero padding), "
                                f"needed by {test_list} line {number}")
        if entry.frame in color and entry.frame in depth:
            color_size, _ = _image_size(color[entry.frame])
            depth_size, depth_mode = _image_size(depth[entry.frame])
            if color_size != TEST_IMAGE_SIZE:
                problems.append(f"{color[entry.frame]}: {color_size[0]}x{color_size[1]}, expected "
                                f"{TEST_IMAGE_SIZE[0]}x{TEST_IMAGE_SIZE[1]}")
            if depth_size != color_size or not depth_mode.startswith("I"):
                problems.append(f"{depth[entry.frame]}: {depth_mode} {depth_size[0]}x{depth_size[1]}, expected a "
                                f"16-bit map of the colour image's size")
    return problems


def _h5_problems(p2net_root: Path, h5_list: Path) -> list[str]:
    """Problems of the h5 files a list names: presence and the shapes of ``rgb`` and ``depth``."""
    problems = []
    height, width = H5_IMAGE_SIZE
    for number, line in enumerate(read_h5_list(h5_list), start=1):
        path = Path(p2net_root) / line
        if not path.is_file():
            problems.append(f"{path}: missing, needed by {h5_list} line {number}")
            continue
        with h5py.File(path, "r") as handle:
            shapes = {key: handle[key].shape if key in handle else None for key in ("rgb", "depth")}
        if shapes != {"rgb": (3, height, width), "depth": (height, width)}:
            problems.append(f"{path}: datasets {shapes}, expected rgb (3, {height}, {width}) and depth "
                            f"({height}, {width})")
    return problems


def prepare_nyu_tree(sources: NyuSources, out: Path) -> dict[str, Any]:
    """Check the unpacked downloads, lay out the tree under ``out`` and write its ``manifest.json`` last.

    Returns the manifest. A tree whose manifest records the same inputs is returned untouched; otherwise
    every step is redone (links already in place are kept), so an interrupted run resumes. Raises
    ``LayoutError`` naming every missing or malformed file before anything is written.
    """
    out = Path(out)
    inputs = sources.inputs()
    done = completed_manifest(out, inputs)
    if done is not None:
        return done
    training, testing = sc_depth_folders(sources.sc_depth_root)
    lists = {name: Path(sources.gasmono_splits) / f"{name}.txt" for name in SPLIT_NAMES}
    splits = {name: read_nyu_split(path) for name, path in lists.items()}

    uses: dict[str, list[tuple[str, int, int]]] = {}
    for name in ("train_files", "val_files"):
        for number, entry in enumerate(splits[name], start=1):
            uses.setdefault(entry.scene, []).append((str(lists[name]), number, entry.frame))
    scenes = {scene: numbered_files(training / scene, ".jpg") for scene in sorted(uses)}
    color = numbered_files(testing / "color", ".png")
    depth = numbered_files(testing / "depth", ".png")
    problems = []
    for scene, frames in scenes.items():
        problems += _scene_problems(training, scene, frames, uses[scene])
    problems += _test_problems(testing, color, depth, lists["test_files"], splits["test_files"])
    problems += _h5_problems(sources.p2net_root, sources.h5_list)
    raise_problems(problems, f"NYUv2 tree from {sources.sc_depth_root} and {sources.p2net_root}")

    for scene, frames in scenes.items():
        symlink(training / scene / "cam.txt", cam_path(out, scene))
        for frame, path in frames.items():
            symlink(path, training_image_path(out, scene, frame))
    for entry in splits["test_files"]:
        symlink(color[entry.frame], labelled_color_path(out, entry.frame))
        symlink(depth[entry.frame], labelled_depth_path(out, entry.frame))
    symlink(Path(sources.p2net_root) / H5_FOLDER, out / H5_FOLDER)
    for name, path in lists.items():
        atomic_write_bytes(out / "splits" / "nyu" / path.name, path.read_bytes())
    atomic_write_bytes(out / H5_LIST, Path(sources.h5_list).read_bytes())

    manifest = {
        "dataset": "nyuv2",
        "source": "download",
        "image_size": list(TEST_IMAGE_SIZE),
        "depth_png_scale": DEPTH_PNG_SCALE,
        "training_image_name": "Training/<scene>/%06d.jpg",
        "bundle": {"training": str(training), "testing": str(testing)},
        "scenes": [{"scene": scene, "role": "train", "frames": len(frames),
                    "image_size": list(_image_size(frames[min(frames)])[0]),
                    "intrinsics": np.round(read_cam_txt(cam_path(out, scene)), 9).tolist()}
                   for scene, frames in scenes.items()],
        "splits": {name: len(entries) for name, entries in splits.items()},
        "h5_test": {"list": H5_LIST.as_posix(), "image_size": [H5_IMAGE_SIZE[1], H5_IMAGE_SIZE[0]],
                    "files": len(read_h5_list(sources.h5_list))},
        "inputs": inputs,
    }
    write_manifest(out, manifest)
    return manifest
