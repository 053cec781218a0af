"""The NYUv2 tree laid out from small fake downloads (SC-Depth's bundle as a zip, P2Net's h5 files as a tar,
GasMono's and EPCDepth's lists), read back with the project's NYUv2 readers."""

from __future__ import annotations

import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.data.nyu_h5 import NyuH5TestSamples
from depthrepro.data.nyuv2 import NyuTestSamples, NyuTrainDataset, coarse_pose_path
from depthrepro.io.nyu_h5 import write_nyu_h5
from depthrepro.io.nyuv2 import read_nyu_split
from depthrepro.prepare import nyu_tree
from depthrepro.prepare.colmap_poses import scene_frames
from depthrepro.prepare.gt_export import export_gt_depths, load_gt_depths
from depthrepro.prepare.nyu_tree import LayoutError, NyuSources, prepare_nyu_tree, sc_depth_folders
from depthrepro.prepare.unpack import unpack_archive

SCENES = {"kitchen_0045a": 7, "living_room_0062": 6}
TRAIN = "kitchen_0045a 0001 l\nkitchen_0045a 0003 l\nliving_room_0062 0004 l\nkitchen_0045a 0005 l\n"
VAL = "living_room_0062 0002 l\nkitchen_0045a 0002 l\n"
TEST_INDICES = (1, 9, 14)
TEST = "".join(f"color {i:04d} l\n" for i in TEST_INDICES)
H5_LIST = "".join(f"nyu_test/{i:05d}.h5\n" for i in TEST_INDICES)
FRAME_SIZE = (64, 48)
K_TEXT = "5.1885790e+01 0.0 3.2558240e+01\n0.0 5.1946960e+01 2.5373620e+01\n0.0 0.0 1.0\n"


def _encode(ext: str, array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(ext, array)
    assert ok
    return data.tobytes()


def _build_downloads(base: Path) -> None:
    """SC-Depth's bundle with a top folder, lower-case folder names and 7-digit frame names (its naming is not
    documented), P2Net's tar, and the two list files; unpacked as the catalogue says."""
    rng = np.random.default_rng(1)
    bundle: dict[str, bytes] = {}
    for scene, frames in SCENES.items():
        bundle[f"nyu/training/{scene}/cam.txt"] = K_TEXT.encode()
        for f in range(frames):
            image = rng.integers(0, 255, (FRAME_SIZE[1], FRAME_SIZE[0], 3), dtype=np.uint8)
            bundle[f"nyu/training/{scene}/{f:07d}.jpg"] = _encode(".jpg", image)
    bundle["nyu/training/train.txt"] = "".join(f"{s}\n" for s in SCENES).encode()
    depth = np.zeros((480, 640), dtype=np.uint16)
    depth[100:300, 200:400] = 12500                       # 2.5 m at SC-Depth's scale (metres x 5000)
    for index in TEST_INDICES:
        bundle[f"nyu/testing/color/{index:04d}.png"] = _encode(".png", np.full((480, 640, 3), index, np.uint8))
        bundle[f"nyu/testing/depth/{index:04d}.png"] = _encode(".png", depth)
    archives = base / "data" / "archives" / "nyu"
    archives.mkdir(parents=True)
    with zipfile.ZipFile(archives / "sc_depth_nyu.zip", "w") as zf:
        for name, data in bundle.items():
            zf.writestr(name, data)
    with tarfile.open(archives / "nyu_test.tar.gz", "w:gz") as tf:
        for index in TEST_INDICES:
            h5 = base / f"{index:05d}.h5"
            write_nyu_h5(h5, np.full((480, 640, 3), index, np.uint8), depth.astype(np.float32) / 5000)
            tf.add(h5, arcname=f"nyu_test/{index:05d}.h5")
    unpack_archive(archives / "sc_depth_nyu.zip", base / "data" / "nyu_sc_depth")
    unpack_archive(archives / "nyu_test.tar.gz", base / "data" / "nyu_p2net_test")
    lists = base / "data" / "nyu_splits"
    (lists / "gasmono").mkdir(parents=True)
    (lists / "epcdepth").mkdir()
    for name, text in (("train_files", TRAIN), ("val_files", VAL), ("test_files", TEST)):
        (lists / "gasmono" / f"{name}.txt").write_text(text)
    (lists / "epcdepth" / "nyu_test.txt").write_text(H5_LIST)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("nyu_downloads")
    _build_downloads(base)
    return base


@pytest.fixture()
def sources(template: Path, tmp_path: Path) -> NyuSources:
    shutil.copytree(template / "data", tmp_path / "data", symlinks=True)
    data = tmp_path / "data"
    return NyuSources(sc_depth_root=data / "nyu_sc_depth", p2net_root=data / "nyu_p2net_test",
                      gasmono_splits=data / "nyu_splits" / "gasmono",
                      h5_list=data / "nyu_splits" / "epcdepth" / "nyu_test.txt")


def test_complete_layout_reads_with_the_nyu_readers(sources: NyuSources, tmp_path: Path) -> None:
    out = tmp_path / "data" / "nyuv2"
    manifest = prepare_nyu_tree(sources, out)

    assert manifest["splits"] == {"train_files": 4, "val_files": 2, "test_files": 3}
    assert manifest["h5_test"] == {"list": "splits/nyu_h5/test_files.txt", "image_size": [640, 480], "files": 3}
    assert [s["scene"] for s in manifest["scenes"]] == sorted(SCENES)
    assert manifest["scenes"][0]["frames"] == 7 and manifest["scenes"][0]["image_size"] == list(FRAME_SIZE)
    assert "seed" not in manifest and "test_views" not in manifest
    assert (out / "Training/kitchen_0045a/000003.jpg").samefile(
        sources.sc_depth_root / "nyu/training/kitchen_0045a/0000003.jpg"), "linked by frame number, 6 digits"
    assert sorted(scene_frames(out / "Training" / "kitchen_0045a", "jpg")) == list(range(7))

    cpose = tmp_path / "cpose"
    for entry in read_nyu_split(out / "splits/nyu/train_files.txt"):
        coarse_pose_path(cpose, entry.scene, entry.frame).parent.mkdir(parents=True, exist_ok=True)
        np.save(coarse_pose_path(cpose, entry.scene, entry.frame), np.stack([np.eye(4)] * 2))
    train = NyuTrainDataset(out, out / "splits/nyu/train_files.txt", cpose, 32, 64, is_train=False, augment=None)
    sample = train[2]
    assert sample[("color", -1, 0)].shape == (3, 32, 64) and sample[("K", 0)][0, 0] > 0
    test = NyuTestSamples(out, out / "splits/nyu/test_files.txt", 32, 64)
    assert len(test) == 3 and test[1][("color", 0, 0)].mean() == pytest.approx(9 / 255, abs=1e-3)
    h5 = NyuH5TestSamples(out, out / "splits/nyu_h5/test_files.txt", 32, 64, window=[44, 471, 40, 601])
    assert h5[2][("color", 0, 0)].shape == (3, 32, 64)

    for kind, split in (("nyu", "splits/nyu/test_files.txt"), ("nyu_h5", "splits/nyu_h5/test_files.txt")):
        gt = tmp_path / f"gt_{kind}.npz"
        assert export_gt_depths(out, out / split, gt, kind) == 3
        assert load_gt_depths(gt)[0][200, 300] == pytest.approx(2.5)


def test_capitalised_folders_at_the_top_are_found_and_two_bundles_refused(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    for name in ("Training", "Testing"):
        (root / name).mkdir(parents=True)
    assert sc_depth_folders(root) == (root / "Training", root / "Testing")
    for name in ("training", "testing"):
        (root / "copy" / name).mkdir(parents=True)
    with pytest.raises(LayoutError, match="expected one folder holding Training/ and Testing/"):
        sc_depth_folders(root)


def test_missing_files_give_one_error_naming_each(sources: NyuSources, tmp_path: Path) -> None:
    bundle = sources.sc_depth_root / "nyu"
    (bundle / "training/kitchen_0045a/0000006.jpg").unlink()         # frame +1 of line kitchen_0045a 0005
    (bundle / "testing/depth/0009.png").unlink()
    (sources.p2net_root / "nyu_test/00014.h5").unlink()
    (bundle / "training/living_room_0062/cam.txt").write_text("1 2 3\n")
    out = tmp_path / "tree"
    with pytest.raises(LayoutError) as info:
        prepare_nyu_tree(sources, out)
    message = str(info.value)
    assert "training/kitchen_0045a: no image of frame(s) [6]" in message and "train_files.txt line 4" in message
    assert "testing/depth: no PNG of test index 9" in message
    assert "nyu_test/00014.h5: missing, needed by" in message
    assert "living_room_0062/cam.txt: " in message and "expected 9 numbers" in message
    assert not out.exists(), "nothing is written before the checks pass"


def test_wrong_test_image_size_is_named(sources: NyuSources, tmp_path: Path) -> None:
    color = sources.sc_depth_root / "nyu/testing/color/0014.png"
    color.write_bytes(_encode(".png", np.zeros((427, 561, 3), np.uint8)))
    with pytest.raises(LayoutError, match=r"0014.png: 561x427, expected 640x480"):
        prepare_nyu_tree(sources, tmp_path / "tree")


def test_interrupted_run_resumes_and_a_finished_tree_is_kept(sources: NyuSources, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tree"

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(nyu_tree, "write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare_nyu_tree(sources, out)
    monkeypatch.undo()
    assert not (out / "manifest.json").exists()
    for path in sorted((out / "Training/kitchen_0045a").iterdir())[:3]:
        path.unlink()                                                  # as if killed while linking
    (out / "nyu_test").unlink()
    manifest = prepare_nyu_tree(sources, out)
    assert (out / "manifest.json").is_file() and len(list((out / "Training/kitchen_0045a").iterdir())) == 8
    assert len(NyuH5TestSamples(out, out / "splits/nyu_h5/test_files.txt", 32, 64)) == 3

    monkeypatch.setattr(nyu_tree, "sc_depth_folders", killed)
    assert prepare_nyu_tree(sources, out) == manifest, "same inputs: the tree is kept"


def test_split_lines_have_the_official_formats(sources: NyuSources, tmp_path: Path) -> None:
    out = tmp_path / "tree"
    prepare_nyu_tree(sources, out)
    scene_line = r"[a-z][a-z0-9_]* \d{4} l"       # kitchen_0045a, nyu_office_1
    for name, pattern in (("train_files", scene_line), ("val_files", scene_line), ("test_files", r"color \d{4} l")):
        text = (out / "splits" / "nyu" / f"{name}.txt").read_text()
        assert text == (sources.gasmono_splits / f"{name}.txt").read_text(), "GasMono's file, byte for byte"
        assert all(re.fullmatch(pattern, line) for line in text.splitlines())
    lines = (out / "splits" / "nyu_h5" / "test_files.txt").read_text().splitlines()
    assert lines and all(re.fullmatch(r"nyu_test/\d{5}\.h5", line) for line in lines)
