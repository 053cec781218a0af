"""`depthrepro prepare --report` on the tiny synthetic world: every section measured, numbers that follow
from what was prepared, a corrupted output caught, the apples-to-apples hint comparison worked by hand,
and real (non-synthetic) trees reported as not available.

The COLMAP section reads coarse poses written here from the world's ground-truth poses with a known
rotation and direction error (COLMAP itself runs in test_colmap_poses.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from depthrepro.cli import main
from depthrepro.io.kitti import SplitEntry, read_split_file, write_split_file
from depthrepro.io.kitti_odometry import read_poses
from depthrepro.io.nyuv2 import read_nyu_split, scene_poses_path
from depthrepro.prepare.gt_export import load_gt_depths
from depthrepro.prepare.hint_accuracy import FUSED, MATCHER_NAMES, HintAccuracy
from depthrepro.prepare.report import Trees, gt_file_section
from depthrepro.synth.rig import rotation_rpy

HINT_SIZE = (64, 208)
ROTATION_ERROR_DEG = 0.3
DIRECTION_ERROR_DEG = 1.5
SCALE = 0.37
"""COLMAP's arbitrary unit: metres per model unit differ per scene."""


def _perturbed(pose: np.ndarray) -> np.ndarray:
    """``pose`` with its rotation turned by ROTATION_ERROR_DEG about y, its translation by DIRECTION_ERROR_DEG
    about an axis normal to it, and its translation scaled."""
    out = pose.copy()
    out[:3, :3] = rotation_rpy(0.0, np.deg2rad(ROTATION_ERROR_DEG), 0.0) @ pose[:3, :3]
    t = pose[:3, 3]
    axis = np.cross(t, [0.0, 0.0, 1.0] if abs(t[2]) < 0.9 * np.linalg.norm(t) else [1.0, 0.0, 0.0])
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(DIRECTION_ERROR_DEG)
    turned = t * np.cos(angle) + np.cross(axis, t) * np.sin(angle) + axis * (axis @ t) * (1 - np.cos(angle))
    out[:3, 3] = SCALE * turned
    return out


def _write_coarse_poses(nyu_root: Path, out: Path) -> None:
    """GasMono's cpose files of every training scene, from the ground truth with a known error."""
    scenes = sorted({e.scene for e in read_nyu_split(nyu_root / "splits" / "nyu" / "train_files.txt")})
    for scene in scenes:
        camera_to_world = read_poses(scene_poses_path(nyu_root, scene))
        (out / scene).mkdir(parents=True)
        for target in range(1, len(camera_to_world) - 1):
            pair = [_perturbed(np.linalg.inv(camera_to_world[s]) @ camera_to_world[target])
                    for s in (target - 1, target + 1)]
            np.save(out / scene / f"{target:04d}.npy", np.stack(pair).astype(np.float32))
    (out / "manifest.json").write_text(json.dumps({"root": str(nyu_root), "scenes": {s: {} for s in scenes}}))


@pytest.fixture(scope="module")
def prepared(tiny_kitti_raw: Path, tiny_odometry: Path, tiny_nyuv2: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny world prepared by the `depthrepro prepare <step>` verbs (every kind of GT, hints of two pairs;
    coarse poses written here, see the module doc) and a datasets file naming its trees."""
    out = tmp_path_factory.mktemp("prepared")
    assert main(["prepare", "jpeg", "--raw-root", str(tiny_kitti_raw), "--out", str(out / "jpeg")]) == 0
    splits = tiny_kitti_raw / "splits"
    gt_sources = {"eigen": tiny_kitti_raw, "eigen_benchmark": tiny_kitti_raw, "odometry": tiny_odometry,
                  "nyu": tiny_nyuv2, "nyu_h5": tiny_nyuv2}
    for kind, root in gt_sources.items():
        split_file = root / "splits" / kind / "test_files.txt"
        assert main(["prepare", "gt", "--raw-root", str(root), "--split-file", str(split_file), "--kind", kind,
                     "--out", str(out / "gt" / f"{kind}.npz"), "--workers", "2", "--no-progress"]) == 0
    pairs = read_split_file(splits / "eigen_zhou" / "train_files.txt")[:2]
    split = out / "pairs.txt"
    write_split_file(split, [SplitEntry(e.folder, e.frame, "l") for e in pairs])
    assert main(["prepare", "depth-hints", "--root", str(out / "jpeg"), "--split-file", str(split), "--out",
                 str(out / "depth_hints" / "pairs_64x208"), "--height", str(HINT_SIZE[0]), "--width",
                 str(HINT_SIZE[1])]) == 0
    _write_coarse_poses(tiny_nyuv2, out / "colmap")
    datasets = out / "datasets.yaml"
    datasets.write_text(yaml.safe_dump({"tiny": {
        "raw_root": str(tiny_kitti_raw),
        "companions": {"kitti_odometry_mr": {"raw_root": str(tiny_odometry)}, "nyuv2": {"raw_root": str(tiny_nyuv2)}},
    }}))
    return out, datasets


def test_report_measures_every_section(prepared: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out, datasets = prepared
    json_path = tmp_path / "report.json"
    assert main(["prepare", "--report", "--dataset", "tiny", "--datasets-file", str(datasets), "--prepared",
                 str(out), "--json", str(json_path), "--max-pairs", "2", "--max-images", "2"]) == 0
    printed = capsys.readouterr().out
    print(printed)
    report = json.loads(json_path.read_text())
    acceptance = report["acceptance"]
    assert acceptance["jpeg_settings_equal_imagemagick"] is True
    assert acceptance["gt_equal_rendered_depth"] is True
    assert acceptance["colmap_within_limits"] is True

    jpeg = report["jpeg"]
    assert jpeg["recorded"]["quality"] == 92 and jpeg["files_checked"] == 2
    if isinstance(jpeg["pixels_vs_imagemagick"], dict):
        assert jpeg["pixels_vs_imagemagick"]["max_abs_difference"] <= 1

    assert sorted(report["gt"]) == ["eigen", "eigen_benchmark", "nyu", "nyu_h5", "odometry"]
    for section in report["gt"].values():
        assert section["status"] == "measured" and section["maps_compared"] == 2 and section["pixels"] > 1000
    assert report["gt"]["eigen"]["median_rel_difference"] < 0.01
    assert report["gt"]["odometry"]["max_abs_difference_m"] <= 0.5 / 256 + 1e-6

    hints = report["depth_hints"]["pairs_64x208"]
    assert hints["status"] == "measured" and hints["pairs_measured"] == 2 and hints["images"] == 4
    assert list(hints["maps"]) == [FUSED, *MATCHER_NAMES]
    assert hints["best_single_common"] in MATCHER_NAMES
    assert 0 < hints["maps"][FUSED]["abs_rel_common"] < 0.2 and 0.5 < hints["maps"][FUSED]["coverage"] <= 1
    assert acceptance["depth_hints_fused_below_best_single"] == hints["fused_below_best_single_common"]

    for scene, row in report["colmap"]["scenes"].items():
        assert row["pairs"] > 0, scene
        assert row["rotation_error_deg"]["median"] == pytest.approx(ROTATION_ERROR_DEG, abs=1e-3)
        assert row["direction_error_deg"]["median"] == pytest.approx(DIRECTION_ERROR_DEG, abs=1e-3)
    assert "fused" in printed and "Acceptance" in printed and "colmap_within_limits: True" in printed


def test_a_wrong_gt_export_fails(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    """One millimetre too far on one annotated map, or raw LiDAR maps without monodepth2's one-pixel shift."""
    out, datasets = prepared
    trees = Trees.from_dataset(yaml.safe_load(datasets.read_text())["tiny"])
    for kind in ("eigen", "eigen_benchmark"):
        with np.load(out / "gt" / f"{kind}.npz", allow_pickle=False) as archive:
            members = {key: archive[key] for key in archive.files}
        if kind == "eigen":
            for key in [k for k in members if k.startswith("depth_")]:
                members[key] = np.roll(members[key], (1, 1), axis=(0, 1))
        else:
            members["depth_00000"] = np.where(members["depth_00000"] > 0, members["depth_00000"] + 0.001, 0)
        broken = tmp_path / f"{kind}.npz"
        np.savez(broken, **members)
        assert len(load_gt_depths(broken)) == len(members["entries"])
        section = gt_file_section(broken, trees, max_images=4)
        assert section["status"] == "measured" and section["equal_within_tolerance"] is False, section


def test_hint_comparison_is_on_common_pixels() -> None:
    """A matcher that abstains on the hard pixel has the best own-pixel abs_rel, not the best common one."""
    gt = np.full((2, 4), 2.0)
    gt[1, 3] = np.inf  # sky: no ground truth
    candidates = np.full((12, 2, 4), 2.0)
    candidates[:, 0, 1] = 3.0  # the hard pixel: every matcher 50 % off ...
    candidates[5] = 2.02  # ... but this one, 1 % off elsewhere, abstains there
    candidates[5, 0, 1] = 0.0
    fused = np.full((2, 4), 2.2)
    accuracy = HintAccuracy(max_depth=10.0)
    accuracy.add(fused, candidates, gt)
    summary = accuracy.summary()
    assert (summary["gt_pixels"], summary["common_pixels"]) == (7, 6)
    maps = summary["maps"]
    assert maps[FUSED] == pytest.approx({"abs_rel_common": 0.1, "abs_rel_own": 0.1, "coverage": 1.0})
    assert maps[MATCHER_NAMES[0]] == pytest.approx({"abs_rel_common": 0.0, "abs_rel_own": 0.5 / 7, "coverage": 1.0})
    assert maps[MATCHER_NAMES[5]] == pytest.approx({"abs_rel_common": 0.01, "abs_rel_own": 0.01, "coverage": 6 / 7})
    assert (summary["best_single_own"], summary["best_single_common"]) == (MATCHER_NAMES[5], MATCHER_NAMES[0])
    assert not summary["fused_below_best_single_common"] and not summary["fused_below_best_single_own"]

    candidates[np.arange(12) != 5] = 2.1  # 5 % off everywhere; the fused hint is exact but on the hard pixel
    fused = np.full((2, 4), 2.0)
    fused[0, 1] = 3.0
    accuracy = HintAccuracy(max_depth=10.0)
    accuracy.add(fused, candidates, gt)
    summary = accuracy.summary()
    assert summary["fused_below_best_single_common"] and not summary["fused_below_best_single_own"]
    with pytest.raises(ValueError, match="12 candidates"):
        accuracy.add(fused, candidates[:11], gt)


def test_real_trees_say_what_is_not_available(prepared: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = prepared
    real = {}
    for name in ("kitti_raw", "kitti_odometry", "nyuv2"):  # trees of a downloaded dataset: no generator
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"dataset": "kitti", "drives": []}))
        real[name] = tmp_path / name
    shutil.copytree(out / "colmap", tmp_path / "colmap")
    datasets = tmp_path / "datasets.yaml"
    datasets.write_text(yaml.safe_dump({"kitti": {
        "raw_root": str(real["kitti_raw"]),
        "companions": {"kitti_odometry_mr": {"raw_root": str(real["kitti_odometry"])},
                       "nyuv2": {"raw_root": str(real["nyuv2"])}},
    }}))
    json_path = tmp_path / "report.json"
    assert main(["prepare", "--report", "--dataset", "kitti", "--datasets-file", str(datasets), "--prepared",
                 str(out), "--json", str(json_path), "--imagemagick", str(tmp_path / "no_convert")]) == 0
    report = json.loads(json_path.read_text())
    assert all("not available" in s["status"] for s in report["gt"].values())
    assert "not available" in report["depth_hints"]["pairs_64x208"]["status"]
    assert "not available" in report["colmap"]["status"]
    assert report["jpeg"]["pixels_vs_imagemagick"].startswith("not available")
    assert report["acceptance"] == {"jpeg_settings_equal_imagemagick": True, "gt_equal_rendered_depth": None,
                                    "depth_hints_fused_below_best_single": None, "colmap_within_limits": None}
    assert "not available" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no dataset 'nope'"):
        main(["prepare", "--report", "--dataset", "nope", "--datasets-file", str(datasets)])
