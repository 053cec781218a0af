"""`depthrepro pose-ablation` on a hand-made two-scene NYUv2 tree with exact poses and COLMAP-like coarse poses."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depthrepro.cli import main
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.kitti_odometry import write_poses
from depthrepro.io.nyuv2 import (NyuSplitEntry, cam_path, scene_poses_path, training_image_path, write_cam_txt,
                                 write_nyu_split)
from depthrepro.methods.registry import build_method
from depthrepro.verbs.pose_ablation import compare

CFG = {"height": 64, "width": 64}
SCENES = ("office_0001", "kitchen_0002")
FRAMES = 6
TARGETS = (1, 2, 3, 4)
SFM_UNITS = 5.0
"""Coarse translations are this many times the metres (an arbitrary structure-from-motion scale)."""

pytestmark = pytest.mark.usefixtures("one_thread")


def _rotation_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _camera_poses(scene: int) -> np.ndarray:
    poses = np.stack([np.eye(4)] * FRAMES)
    for i in range(FRAMES):
        poses[i, :3, :3] = _rotation_z((2.0 + scene) * i)
        poses[i, :3, 3] = (0.03 * i, 0.01 * scene * i, 0.02 * i)
    return poses


def _coarse(poses: np.ndarray, frame: int, tilt_deg: float) -> np.ndarray:
    """T_(f←0) for f = -1, +1 in structure-from-motion units, the rotation tilted by `tilt_deg`."""
    out = []
    for f in (-1, 1):
        T = np.linalg.inv(poses[frame + f]) @ poses[frame]
        T[:3, :3] = _rotation_z(tilt_deg) @ T[:3, :3]
        T[:3, 3] *= SFM_UNITS
        out.append(T)
    return np.stack(out).astype(np.float32)


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.dvc").write_text("outs:\n- md5: 0123456789abcdef.dir\n  path: data\n")
    rng = np.random.default_rng(0)
    root, cpose = tmp_path / "nyuv2", tmp_path / "colmap"
    entries = []
    for s, scene in enumerate(SCENES):
        for frame in range(FRAMES):
            image = cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (5, 5), 0)
            path = training_image_path(root, scene, frame)
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
        write_cam_txt(cam_path(root, scene), np.array([[52.0, 0.0, 32.0], [0.0, 52.0, 24.0], [0.0, 0.0, 1.0]]))
        poses = _camera_poses(s)
        write_poses(scene_poses_path(root, scene), poses)
        (cpose / scene).mkdir(parents=True)
        for frame in TARGETS:
            np.save(cpose / scene / f"{frame:04d}.npy", _coarse(poses, frame, tilt_deg=0.5 * s))
            entries.append(NyuSplitEntry(scene, frame))
    write_nyu_split(cpose / "splits" / "nyu" / "train_files.txt", entries)
    (cpose / "manifest.json").write_text("{}\n")
    torch.manual_seed(0)
    model = build_method("gasmono", CFG)
    torch.save({"method": "gasmono", "params_name": "gasmono", "model_cfg": CFG, "trained_with_stereo": False,
                "data": {"format": "nyuv2", "image_ext": "jpg"}, "stage": "final", "state": model.checkpoint_state()},
               tmp_path / "final.pt")
    return {"root": root, "cpose": cpose, "split": cpose / "splits" / "nyu" / "train_files.txt",
            "checkpoint": tmp_path / "final.pt"}


def _run(tree: dict[str, Path], out: Path) -> int:
    return main(["pose-ablation", "--checkpoint", str(tree["checkpoint"]), "--images", str(tree["root"]),
                 "--coarse-poses", str(tree["cpose"]), "--split-file", str(tree["split"]), "--out", str(out),
                 "--batch-size", "3", "--results-dir", "results"])


def test_pose_ablation_record(tree: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ablation" / "poses.json"
    assert _run(tree, out) == 0
    record = json.loads(out.read_text())
    assert record["frames"] == len(SCENES) * len(TARGETS)
    assert sorted(record["sequences"]) == sorted(SCENES)
    exact, tilted = (record["sequences"][scene] for scene in SCENES)
    for sets in (exact, tilted):
        assert set(sets) == {"colmap", "aligned", "refined"}
        assert all(summary["pairs"] == 2 * len(TARGETS) for summary in sets.values())
    # the exact scene's COLMAP poses only differ by their units: scale 1/5, no error
    assert exact["colmap"]["scale"] == pytest.approx(1 / SFM_UNITS, rel=1e-5)
    for metric in ("rotation_deg", "translation", "direction_deg"):
        assert exact["colmap"][metric]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert tilted["colmap"]["rotation_deg"]["mean"] == pytest.approx(0.5, abs=1e-3)
    # the AlignNet keeps the COLMAP rotation
    assert tilted["aligned"]["rotation_deg"]["mean"] == pytest.approx(0.5, abs=1e-3)
    assert record["overall"]["colmap"]["pairs"] == 2 * record["frames"]
    by_mean = record["comparison"]["by_mean_error"]
    assert set(by_mean) == {"rotation_deg", "translation", "direction_deg"}
    assert by_mean["translation"]["colmap"] == pytest.approx(record["overall"]["colmap"]["translation"]["mean"])
    # an untrained network does not beat the exact COLMAP scene
    assert record["comparison"]["refined_closer"] is False
    assert "least-squares scale" in record["alignment"]
    prov = record["provenance"]
    assert prov["checkpoint.sha256"] == file_sha256(tree["checkpoint"])
    assert prov["stage"] == "pose_ablation" and prov["weights"] == "final" and prov["mlflow_run_id"]
    assert prov["data.md5"] == "0123456789abcdef.dir"


def test_missing_ground_truth_is_named(tree: dict[str, Path], tmp_path: Path) -> None:
    scene_poses_path(tree["root"], SCENES[1]).unlink()
    with pytest.raises(SystemExit, match=f"{SCENES[1]}/poses.txt: no ground-truth poses"):
        _run(tree, tmp_path / "poses.json")


def test_verdict_says_closer_when_refined_poses_are() -> None:
    entries = [NyuSplitEntry("scene_0001", frame) for frame in TARGETS]
    poses = _camera_poses(0)
    exact = np.stack([_coarse(poses, frame, 0.0) for frame in TARGETS]).astype(np.float64)
    noisy = np.stack([_coarse(poses, frame, 1.0) for frame in TARGETS]).astype(np.float64)
    noisy[..., :3, 3] += 0.01
    result = compare({"colmap": noisy, "aligned": noisy, "refined": exact}, entries, {"scene_0001": poses})
    assert result["comparison"]["refined_closer"] is True
    assert all(m["refined_lower"] for m in result["comparison"]["by_mean_error"].values())
    flipped = compare({"colmap": exact, "aligned": exact, "refined": noisy}, entries, {"scene_0001": poses})
    assert flipped["comparison"]["refined_closer"] is False
