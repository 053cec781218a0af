"""The KITTI odometry tree laid out from small fake downloads (zips in the real archives' layouts, unpacked as
`depthrepro download --unpack` does), read back with the project's odometry readers."""

from __future__ import annotations

import functools
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.data.kitti_odometry import KittiOdometryDataset, KittiOdometryTestSamples
from depthrepro.data.kitti_odometry_mr import KittiOdometryMR, KittiOdometryMRTestSamples
from depthrepro.io.kitti_odometry import (MASK_SIZE, load_odometry_sequence, read_keyframes, read_odom_split,
                                          write_odometry_calib, OdometryCalib)
from depthrepro.prepare import odometry_tree
from depthrepro.prepare.gt_export import export_gt_depths, load_gt_depths, load_region_masks
from depthrepro.prepare.odometry_tree import (LayoutError, OdometrySources, RawSpan, config_sequences,
                                              monorec_roles, prepare_odometry_tree)
from depthrepro.prepare.unpack import unpack_archive

WIDTH, HEIGHT = 40, 12
DRIVES = {
    0: RawSpan("2011_10_03_drive_0027", 0, 15),   # 16 frames, annotated in the depth set's val/ part
    1: RawSpan("2011_09_30_drive_0028", 3, 17),   # 15 frames starting at raw frame 3 (as sequence 08 at 1100)
    2: RawSpan("2011_09_30_drive_0033", 0, 7),    # pose-test sequence: images and GT poses only
}
RAW_FRAMES = {0: 16, 1: 21, 2: 8}
MONOREC_TRAIN, MONOREC_TEST = ["01"], ["00"]
ODOM_SPLITS = {
    "train_files": "1 4 r\n0 3 l\n1 7 l\n0 12 r\n",
    "val_files": "0 8 l\n1 2 r\n",
    "test_files_02": "".join(f"2 {f} l\n" for f in range(7)),
}


def _png(array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _poses(frames: int) -> bytes:
    rows = [np.hstack([np.eye(3), [[0.0], [0.0], [0.8 * f]]]).reshape(-1) for f in range(frames)]
    return "".join(" ".join(f"{v:e}" for v in row) + "\n" for row in rows).encode()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _calib_bytes(tmp: Path) -> bytes:
    K = np.array([[30.0, 0.0, 20.0], [0.0, 30.0, 6.0], [0.0, 0.0, 1.0]])
    P = np.stack([K @ np.hstack([np.eye(3), [[-0.54 * (c % 2)], [0.0], [0.0]]]) for c in range(4)])
    write_odometry_calib(tmp, OdometryCalib(P=P, Tr=np.hstack([np.eye(3), np.zeros((3, 1))])))
    return tmp.read_bytes()


def _build_downloads(base: Path) -> None:
    """Fake archives in the catalogue's layouts, unpacked into the catalogue's unpack_to folders."""
    rng = np.random.default_rng(0)
    color, calib, poses, dvso, masks, annotated = {}, {}, {}, {}, {}, {}
    calib_text = _calib_bytes(base / "calib.txt")
    for seq, span in DRIVES.items():
        for f in range(span.frames):
            for cam in (2, 3):
                color[f"dataset/sequences/{seq:02d}/image_{cam}/{f:06d}.png"] = _png(
                    rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8))
        calib[f"dataset/sequences/{seq:02d}/calib.txt"] = calib_text
        calib[f"dataset/sequences/{seq:02d}/times.txt"] = "".join(f"{0.1 * f:e}\n" for f in range(span.frames)).encode()
        poses[f"dataset/poses/{seq:02d}.txt"] = _poses(span.frames)
        if seq == 2:
            continue
        dvso[f"poses_dvso/{seq:02d}.txt"] = _poses(span.frames)
        for k in range(5, span.frames - 5):
            mask = np.zeros(MASK_SIZE, dtype=np.float32)
            mask[100:140, 200:260] = 1.0
            masks[f"sequences/{seq:02d}/mvobj_mask/{k:06d}.npy"] = _npy(mask)
        part = "val" if seq == 0 else "train"
        for raw in range(1, RAW_FRAMES[seq] - 1):
            depth = np.zeros((HEIGHT, WIDTH), dtype=np.uint16)
            depth[4:10:2, 5:35:3] = 256 * (5 + raw)
            for cam in ("02", "03"):
                annotated[f"{part}/{span.drive}_sync/proj_depth/groundtruth/image_{cam}/{raw:010d}.png"] = _png(depth)
    archives = base / "data" / "archives"
    for name, members, dest in (("data_odometry_color", color, "kitti_odometry"),
                                ("data_odometry_calib", calib, "kitti_odometry"),
                                ("data_odometry_poses", poses, "kitti_odometry"),
                                ("poses_dvso", dvso, "kitti_odometry/dataset"),
                                ("mvobj_mask", masks, "kitti_odometry/dataset"),
                                ("data_depth_annotated", annotated, "kitti_depth_annotated")):
        unpack_archive(_zip(archives / f"{name}.zip", members), base / "data" / dest)
    splits = base / "data" / "kitti_splits"
    for name, text in ODOM_SPLITS.items():
        (splits / "odom").mkdir(parents=True, exist_ok=True)
        (splits / "odom" / f"{name}.txt").write_text(text)
    (splits / "dynamic_multiframe").mkdir()
    for name, sequences in (("train_mr_resnet18", MONOREC_TRAIN), ("eval_mr_resnet18", MONOREC_TEST)):
        config = {"name": name, "data_loader": {"type": "KittiOdometryDataloader",
                                                "args": {"dataset_dir": "./data/dataset/", "sequences": sequences}}}
        (splits / "dynamic_multiframe" / f"{name}.json").write_text(json.dumps(config, indent=2))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("odometry_downloads")
    _build_downloads(base)
    return base


@pytest.fixture()
def sources(template: Path, tmp_path: Path) -> OdometrySources:
    shutil.copytree(template / "data", tmp_path / "data", symlinks=True)
    data = tmp_path / "data"
    return OdometrySources(odometry_root=data / "kitti_odometry" / "dataset",
                           annotated_root=data / "kitti_depth_annotated",
                           odom_splits=data / "kitti_splits" / "odom",
                           monorec_train_config=data / "kitti_splits" / "dynamic_multiframe" / "train_mr_resnet18.json",
                           monorec_eval_config=data / "kitti_splits" / "dynamic_multiframe" / "eval_mr_resnet18.json")


def test_complete_layout_reads_with_the_odometry_readers(sources: OdometrySources, tmp_path: Path) -> None:
    out = tmp_path / "data" / "kitti_odometry"
    manifest = prepare_odometry_tree(sources, out, drives=DRIVES)

    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["splits"] == {"odometry": {"train": 5, "test": 6},
                                  "odom": {"train_files": 4, "val_files": 2, "test_files_02": 7}}
    records = {r["sequence"]: r for r in manifest["sequences"]}
    assert records["01"]["raw_drive"] == "2011_09_30/2011_09_30_drive_0028_sync"
    assert records["01"]["roles"] == {"odometry": "train", "odom": "train"}
    assert records["00"]["roles"] == {"odometry": "test", "odom": "train"}
    assert records["02"]["roles"] == {"odom": "test"}
    assert records["00"]["image_size"] == [WIDTH, HEIGHT] and manifest["mvobj_mask"]["dtype"] == "float32"
    assert "seed" not in manifest and "preset" not in manifest
    assert not (sources.odometry_root / "sequences" / "00" / "image_depth_annotated").exists(), "inputs untouched"

    # annotated transfer: raw frame r of sequence 01's drive is frame r - 3, camera 2 only, inside the span
    transferred = sorted(p.name for p in (out / "sequences" / "01" / "image_depth_annotated").iterdir())
    assert transferred == [f"{f:06d}.png" for f in range(0, 15)]
    raw = sources.annotated_root / "train" / "2011_09_30_drive_0028_sync" / "proj_depth" / "groundtruth" / "image_02"
    assert (out / "sequences" / "01" / "image_depth_annotated" / "000002.png").samefile(raw / "0000000005.png")
    assert len(list((out / "sequences" / "00" / "image_depth_annotated").iterdir())) == 14   # raw 1 .. 14

    # split files: MonoRec keyframes 5 .. N-6, monodepth2's odom files byte for byte
    assert [f"{k.sequence:02d} {k.frame}" for k in read_keyframes(out / "splits/odometry/test_files.txt")] == \
        [f"00 {k}" for k in range(5, 11)]
    assert [k.frame for k in read_keyframes(out / "splits/odometry/train_files.txt")] == [5, 6, 7, 8, 9]
    for name, text in ODOM_SPLITS.items():
        assert (out / "splits" / "odom" / f"{name}.txt").read_text() == text

    for seq in (0, 1, 2):
        loaded = load_odometry_sequence(out, seq)
        assert loaded.frames == DRIVES[seq].frames and loaded.poses is not None
    train = KittiOdometryMR(out, out / "splits/odometry/train_files.txt", 8, 16, is_train=True,
                            augment={"brightness": 0.2})
    sample = train[0]
    assert sample["frames"].shape == (2, 3, 8, 16) and sample["mvobj_mask"].shape == (1, 8, 16)
    assert (sample["target"] > 0).any()
    test = KittiOdometryMRTestSamples(out, out / "splits/odometry/test_files.txt", 256, 512)
    assert len(test) == 6 and test[5]["mvobj_mask"].sum() > 0
    odom = KittiOdometryDataset(out, read_odom_split(out / "splits/odom/train_files.txt"), 32, 64, [0, -1, 1, "s"],
                                np.array([[0.58, 0, 0.5], [0, 1.92, 0.5]], dtype=np.float32), image_ext="png")
    assert odom[0][("color", "s", 0)].shape == (3, 32, 64)
    pose_pairs = KittiOdometryTestSamples(out, read_odom_split(out / "splits/odom/test_files_02.txt"), 32, 64,
                                          np.array([[0.58, 0, 0.5], [0, 1.92, 0.5]], dtype=np.float32), (0, 1),
                                          image_ext="png")
    assert pose_pairs.missing_frames() == []

    gt = tmp_path / "gt_odometry.npz"
    assert export_gt_depths(out, out / "splits/odometry/test_files.txt", gt, "odometry") == 6
    assert load_gt_depths(gt)[0].shape == (HEIGHT, WIDTH) and len(load_region_masks(gt)["dynamic"]) == 6


def test_layout_in_place_adds_only_annotated_depth_splits_and_manifest(sources: OdometrySources) -> None:
    out = sources.odometry_root
    prepare_odometry_tree(sources, out, drives=DRIVES)
    assert (out / "sequences" / "00" / "image_2").is_dir() and not (out / "sequences" / "00" / "image_2").is_symlink()
    assert (out / "sequences" / "00" / "image_depth_annotated" / "000005.png").is_file()
    assert len(KittiOdometryMRTestSamples(out, out / "splits/odometry/test_files.txt", 256, 512)) == 6


def test_missing_files_give_one_error_naming_each(sources: OdometrySources, tmp_path: Path) -> None:
    annotated = sources.annotated_root / "train/2011_09_30_drive_0028_sync/proj_depth/groundtruth/image_02"
    (annotated / "0000000009.png").unlink()                                  # keyframe 01 6 = raw 9
    (sources.odometry_root / "sequences/00/mvobj_mask/000007.npy").unlink()
    (sources.odometry_root / "sequences/02/image_2/000003.png").unlink()     # test lines 2 2 l and 2 3 l
    out = tmp_path / "tree"
    with pytest.raises(LayoutError) as info:
        prepare_odometry_tree(sources, out, drives=DRIVES)
    message = str(info.value)
    assert "0000000009.png: missing, the annotated depth of keyframe 01 6" in message
    assert "sequences/00/mvobj_mask/000007.npy: missing, the moving-object mask of keyframe 00 7" in message
    assert "sequences/02/image_2/000003.png: missing, needed by" in message and "test_files_02.txt line 4" in message
    assert "frames are not numbered 0 .. 6; missing e.g. [3]" in message
    assert not out.exists(), "nothing is written before the checks pass"


def test_wrong_sizes_and_lengths_are_named(sources: OdometrySources, tmp_path: Path) -> None:
    root = sources.odometry_root
    (root / "sequences/00/mvobj_mask/000006.npy").write_bytes(_npy(np.zeros((128, 256), np.float32)))
    (root / "poses_dvso/01.txt").write_bytes(_poses(14))
    with pytest.raises(LayoutError) as info:
        prepare_odometry_tree(sources, tmp_path / "tree", drives={**DRIVES, 2: RawSpan("2011_09_30_drive_0033", 0, 9)})
    message = str(info.value)
    assert "000006.npy: shape (128, 256), expected (256, 512)" in message
    assert "poses_dvso/01.txt: 14 lines, but image_2 holds 15 frames" in message
    assert "8 frames, but the devkit maps frames 0 .. 9 of 2011_09_30_drive_0033" in message


def test_interrupted_run_resumes_and_a_finished_tree_is_kept(sources: OdometrySources, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tree"

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(odometry_tree, "write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare_odometry_tree(sources, out, drives=DRIVES)
    monkeypatch.undo()
    assert not (out / "manifest.json").exists() and (out / "splits/odometry/test_files.txt").is_file()
    for stale in sorted((out / "sequences/01/image_depth_annotated").iterdir())[:4]:
        stale.unlink()                                                      # as if killed mid-transfer
    (out / "sequences/00/image_2").unlink()

    manifest = prepare_odometry_tree(sources, out, drives=DRIVES)
    assert (out / "manifest.json").is_file()
    assert len(list((out / "sequences/01/image_depth_annotated").iterdir())) == 15
    assert len(KittiOdometryMRTestSamples(out, out / "splits/odometry/test_files.txt", 256, 512)) == 6

    monkeypatch.setattr(odometry_tree, "scan_sequence", killed)
    assert prepare_odometry_tree(sources, out, drives=DRIVES) == manifest, "same inputs: the tree is kept"
    (sources.odom_splits / "val_files.txt").write_text("0 9 l\n")
    with pytest.raises(KeyboardInterrupt):
        prepare_odometry_tree(sources, out, drives=DRIVES)                # changed inputs: rebuilt


def test_split_lines_have_the_official_formats(sources: OdometrySources, tmp_path: Path) -> None:
    out = tmp_path / "tree"
    prepare_odometry_tree(sources, out, drives=DRIVES)
    for part in ("train", "test"):
        lines = (out / "splits" / "odometry" / f"{part}_files.txt").read_text().splitlines()
        assert lines and all(re.fullmatch(r"\d\d \d+", line) for line in lines), "<SS> <frame>"
    for path in (out / "splits" / "odom").iterdir():
        assert all(re.fullmatch(r"[1-9]?\d \d+ [lr]", line) for line in path.read_text().splitlines()), \
            "monodepth2: <seq> unpadded, <frame>, l|r"


def test_config_sequences_follow_the_official_configs(tmp_path: Path) -> None:
    train, test = tmp_path / "train.json", tmp_path / "eval.json"
    train.write_text(json.dumps({"data_loader": {"args": {"sequences": ["01", "02", "06", "08", "09", "10"]}},
                                 "val_data_loader": {"args": {"sequences": ["00", "04"]}}}))
    test.write_text(json.dumps({"data_loader": {"args": {"sequences": ["00", "04", "05", "07"]}}}))
    assert monorec_roles(train, test) == {"train": (1, 2, 6, 8, 9, 10), "test": (0, 4, 5, 7)}
    test.write_text(json.dumps({"data_loader": {"args": {"sequences": ["00", "01"]}}}))
    with pytest.raises(LayoutError, match=r"sequences \[1\] are both train and test"):
        monorec_roles(train, test)
    test.write_text(json.dumps({"data_loader": {"args": {}}}))
    with pytest.raises(LayoutError, match=r"eval.json: no data_loader.args.sequences"):
        config_sequences(test)


def test_the_verb_finds_the_downloads_where_the_catalogue_puts_them(template: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`depthrepro prepare odometry-tree` reads the catalogue's paths; a missing input names its archive."""
    from depthrepro.cli import main
    from depthrepro.verbs import odometry_tree as verb

    monkeypatch.setattr(verb, "prepare_odometry_tree", functools.partial(prepare_odometry_tree, drives=DRIVES))
    catalogue = Path(__file__).resolve().parents[2] / "params" / "downloads.yaml"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="archive data_odometry_color: `depthrepro download --name data_odometry_color"):
        main(["prepare", "odometry-tree", "--catalogue", str(catalogue), "--out", "data/kitti_odometry"])
    assert not (tmp_path / "data" / "kitti_odometry" / "manifest.json").exists()
    shutil.copytree(template / "data", tmp_path / "data", symlinks=True)
    assert main(["prepare", "odometry-tree", "--catalogue", str(catalogue), "--out", "data/kitti_odometry"]) == 0
    manifest = json.loads((tmp_path / "data" / "kitti_odometry" / "manifest.json").read_text())
    assert manifest["dataset"] == "kitti_odometry" and manifest["sequences"]
