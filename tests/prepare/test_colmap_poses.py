"""COLMAP coarse poses on the synthetic indoor world: GasMono's file contract, accuracy against the
rendered camera poses, filtered splits, failed scenes, resuming and reproducibility.

The tiny world's rooms are rendered at 320x240. Its hand-held walks turn several degrees per frame
while moving 2-4 cm, so neighbouring frames see almost no parallax: COLMAP recovers their rotations
to a few hundredths of a degree, but their translation directions only to a few degrees. The
translation test therefore adds one scene of the same world whose camera side-steps 12 cm per frame
while turning 1.5 degrees, where the direction is well determined (its largest direction error is about
0.6 degrees; with 8 cm steps in the rooms of 6.5-9 m it was 3.3).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.cli import main
from depthrepro.io.kitti_odometry import read_poses, write_poses
from depthrepro.io.nyuv2 import (
    NyuSplitEntry,
    cam_path,
    read_nyu_split,
    scene_poses_path,
    training_image_path,
    write_cam_txt,
    write_nyu_split,
)
from depthrepro.prepare.colmap_poses import (
    PIXEL_CENTRE_OFFSET,
    SCENE_RECORD,
    ColmapSettings,
    colmap_camera_params,
    colmap_poses,
    filter_split,
    process_scene,
    relative_source_poses,
    scene_fingerprint,
    scene_frames,
    scene_is_complete,
)
from depthrepro.synth.nyuv2 import JPEG_QUALITY, build_scene, nyu_K, render_nyuv2
from depthrepro.synth.rig import rotation_rpy

SIDEWAYS = "living_room_0002_sideways"
BLANK = "blank_0009"
FRAMES = 8
STEP_M, TURN_DEG = 0.12, 1.5
MAX_ROTATION_ERROR_DEG = 0.5
MAX_DIRECTION_ERROR_DEG = 2.0
HANDHELD_MAX_DIRECTION_ERROR_DEG = 30.0
"""Loose bound for the near-parallax-free hand-held walks (largest errors of 6-20 degrees, depending on the seed);
it still catches an inverted or mis-ordered pose, which is off by tens of degrees or more."""


def _write_sideways_scene(root: Path) -> None:
    """Room 1 of the tiny world, filmed from its first hand-held pose while side-stepping and turning."""
    scene = build_scene("tiny", 0, 1)
    start = scene.poses[0]
    poses = np.stack([start.copy() for _ in range(FRAMES)])
    for frame in range(FRAMES):
        poses[frame, :3, :3] = rotation_rpy(0.0, 0.0, np.deg2rad(TURN_DEG * frame)) @ start[:3, :3]
        poses[frame, :3, 3] = start[:3, 3] + STEP_M * frame * start[:3, 0]
    x0, x1, y0, y1 = scene.room.free
    assert np.all((poses[:, 0, 3] >= x0) & (poses[:, 0, 3] <= x1) & (poses[:, 1, 3] >= y0) & (poses[:, 1, 3] <= y1))
    walk = dataclasses.replace(scene, poses=poses)
    (root / "Training" / SIDEWAYS).mkdir(parents=True)
    for frame in range(FRAMES):
        bgr = np.ascontiguousarray(walk.render(frame).rgb[..., ::-1])
        path = training_image_path(root, SIDEWAYS, frame)
        assert cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    write_cam_txt(cam_path(root, SIDEWAYS), nyu_K(scene.preset.width, scene.preset.height))
    write_poses(scene_poses_path(root, SIDEWAYS), poses)


def _write_blank_scene(root: Path) -> None:
    """Four featureless frames: COLMAP cannot reconstruct them."""
    folder = root / "Training" / BLANK
    folder.mkdir(parents=True)
    for frame in range(4):
        assert cv2.imwrite(str(folder / f"{frame:06d}.jpg"), np.full((240, 320, 3), 128, np.uint8))
    write_cam_txt(folder / "cam.txt", nyu_K(320, 240))


@pytest.fixture(scope="module")
def nyu_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world") / "nyuv2"
    render_nyuv2(root, preset="tiny", seed=0, workers=1)
    _write_sideways_scene(root)
    _write_blank_scene(root)
    splits = root / "splits" / "nyu"
    train = read_nyu_split(splits / "train_files.txt")
    extra = [NyuSplitEntry(SIDEWAYS, frame) for frame in range(1, FRAMES - 1)] + [NyuSplitEntry(BLANK, 1)]
    write_nyu_split(splits / "train_files.txt", train + extra[:-2])
    write_nyu_split(splits / "val_files.txt", read_nyu_split(splits / "val_files.txt") + extra[-2:])
    return root


@pytest.fixture(scope="module")
def poses_run(nyu_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[str]]:
    out = tmp_path_factory.mktemp("cpose")
    lines: list[str] = []
    manifest = colmap_poses(nyu_root, nyu_root / "splits" / "nyu", out, workers=2, report=lines.append)
    return out, manifest, lines


def _scenes(nyu_root: Path) -> list[str]:
    return sorted(p.name for p in (nyu_root / "Training").iterdir())


def _angle_deg(rotation: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))


def _pose_errors(nyu_root: Path, out: Path, scene: str) -> tuple[list[float], list[float], list[float]]:
    """Rotation errors, translation-direction errors (degrees) and COLMAP-to-metre scales of all written poses."""
    camera_to_world = read_poses(scene_poses_path(nyu_root, scene))
    rotations, directions, scales = [], [], []
    for path in sorted((out / scene).glob("*.npy")):
        target = int(path.stem)
        for pose, source in zip(np.load(path), (target - 1, target + 1), strict=True):
            truth = np.linalg.inv(camera_to_world[source]) @ camera_to_world[target]
            rotations.append(_angle_deg(pose[:3, :3].astype(np.float64).T @ truth[:3, :3]))
            t, t_true = pose[:3, 3].astype(np.float64), truth[:3, 3]
            cosine = t @ t_true / np.linalg.norm(t) / np.linalg.norm(t_true)
            directions.append(float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))))
            scales.append(float(np.linalg.norm(t_true) / np.linalg.norm(t)))
    return rotations, directions, scales


def test_relative_source_poses_follow_gasmono_convention() -> None:
    rng = np.random.default_rng(0)
    cam_from_world = {}
    for frame in (0, 1, 2, 4, 5, 6):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        E = np.eye(4)
        E[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
        E[:3, 3] = rng.normal(size=3)
        cam_from_world[frame] = E
    poses = relative_source_poses(cam_from_world)
    assert sorted(poses) == [1, 5]  # 0 and 6 lack a neighbour, 2 and 4 miss frame 3
    point_world = np.array([0.3, -0.2, 2.0, 1.0])
    for target, pair in poses.items():
        assert pair.shape == (2, 4, 4) and pair.dtype == np.float32
        in_target = cam_from_world[target] @ point_world
        for pose, source in zip(pair, (target - 1, target + 1), strict=True):
            np.testing.assert_allclose(pose @ in_target, cam_from_world[source] @ point_world, rtol=1e-5, atol=1e-5)


def test_camera_params_move_the_principal_point_to_colmaps_pixel_centres(tmp_path: Path) -> None:
    K = nyu_K(320, 240)
    params = [float(v) for v in colmap_camera_params(K, 320, 240, tmp_path / "cam.txt").split(",")]
    assert params == [K[0, 0], K[1, 1], K[0, 2] + PIXEL_CENTRE_OFFSET, K[1, 2] + PIXEL_CENTRE_OFFSET]
    with pytest.raises(ValueError, match=r"cam\.txt: intrinsics .* do not fit 160x120"):
        colmap_camera_params(K, 160, 120, tmp_path / "cam.txt")


def test_file_contract_splits_and_manifest(nyu_root: Path, poses_run: tuple[Path, dict, list[str]]) -> None:
    out, manifest, lines = poses_run
    scenes = _scenes(nyu_root)
    assert len(lines) == len(scenes) and all(line.startswith("[") for line in lines)
    assert sorted(p.name for p in out.iterdir()) == sorted([*scenes, "manifest.json", "splits"])
    for scene in scenes:
        record = json.loads((out / scene / SCENE_RECORD).read_text())
        registered = set(record["registered"])
        expected = sorted(f for f in registered if f - 1 in registered and f + 1 in registered)
        assert record["targets"] == expected
        assert sorted(int(p.stem) for p in (out / scene).glob("*.npy")) == expected
        for frame in expected:
            pair = np.load(out / scene / f"{frame:04d}.npy")
            assert pair.shape == (2, 4, 4) and pair.dtype == np.float32
            np.testing.assert_array_equal(pair[:, 3], [[0, 0, 0, 1]] * 2)
            for pose in pair:
                np.testing.assert_allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-5)
        assert manifest["scenes"][scene]["registered"] == len(registered)
        assert manifest["scenes"][scene]["targets"] == len(expected)

    for scene in [s for s in scenes if s != BLANK]:
        assert manifest["scenes"][scene]["registered"] == FRAMES
        assert sorted(int(p.stem) for p in (out / scene).glob("*.npy")) == list(range(1, FRAMES - 1))
    assert manifest["failed_scenes"] == [BLANK]
    assert manifest["scenes"][BLANK]["models"] == [] and not list((out / BLANK).glob("*.npy"))
    assert manifest["version"]["pycolmap"].startswith("4.")
    mapping = manifest["options"]["colmap"]["mapping"]
    assert mapping["ba_refine_focal_length"] is False and mapping["ba_refine_principal_point"] is False
    assert mapping["random_seed"] == 0 and mapping["num_threads"] == 1

    for name in ("train_files", "val_files"):
        given = read_nyu_split(nyu_root / "splits" / "nyu" / f"{name}.txt")
        kept = read_nyu_split(out / "splits" / "nyu" / f"{name}.txt")
        assert kept == [e for e in given if e.scene != BLANK]
        assert manifest["splits"][name] == {"input": len(given), "kept": len(kept)}
        first = (out / "splits" / "nyu" / f"{name}.txt").read_text().splitlines()[0].split()
        assert len(first[1]) == 4 and first[2] == "l"


def test_sideways_walk_matches_the_rendered_poses(nyu_root: Path, poses_run: tuple[Path, dict, list[str]]) -> None:
    rotations, directions, scales = _pose_errors(nyu_root, poses_run[0], SIDEWAYS)
    print(f"\n{SIDEWAYS}: rotation error max {max(rotations):.3f} deg, direction error max {max(directions):.2f} "
          f"(mean {np.mean(directions):.2f}) deg, metres per COLMAP unit {min(scales):.4f}..{max(scales):.4f}")
    assert len(rotations) == 2 * (FRAMES - 2)
    assert max(rotations) < MAX_ROTATION_ERROR_DEG
    assert max(directions) < MAX_DIRECTION_ERROR_DEG
    assert max(scales) / min(scales) < 1.1, "both source poses of every frame must share the scene's scale"


def test_handheld_walks_match_the_rendered_rotations(nyu_root: Path,
                                                     poses_run: tuple[Path, dict, list[str]]) -> None:
    for scene in [s for s in _scenes(nyu_root) if s not in (SIDEWAYS, BLANK)]:
        rotations, directions, scales = _pose_errors(nyu_root, poses_run[0], scene)
        print(f"\n{scene}: rotation error max {max(rotations):.3f} deg, direction error max {max(directions):.2f} deg")
        assert len(rotations) == 2 * (FRAMES - 2)
        assert max(rotations) < MAX_ROTATION_ERROR_DEG
        assert max(directions) < HANDHELD_MAX_DIRECTION_ERROR_DEG
        assert max(scales) / min(scales) < 1.25


def test_rerun_is_reproducible_and_resumes_only_complete_scenes(nyu_root: Path, tmp_path: Path,
                                                                 poses_run: tuple[Path, dict, list[str]]) -> None:
    out = tmp_path / "cpose"
    out.mkdir()
    (out / f".{SIDEWAYS}.stale.tmp").mkdir()  # left behind by a killed run
    task = (str(nyu_root), SIDEWAYS, str(out), "jpg", ColmapSettings())
    first = process_scene(task)
    assert not first["skipped"] and not list(out.glob(".*.tmp"))
    written = sorted((out / SIDEWAYS).glob("*.npy"))
    assert len(written) == FRAMES - 2
    for path in written:  # one process here, two for the whole dataset: the same bytes
        assert path.read_bytes() == (poses_run[0] / SIDEWAYS / path.name).read_bytes()
    assert oct((out / SIDEWAYS).stat().st_mode & 0o777) == "0o755"
    assert process_scene(task)["skipped"]

    fingerprint = json.loads((out / SIDEWAYS / SCENE_RECORD).read_text())["fingerprint"]
    scene_dir = nyu_root / "Training" / SIDEWAYS
    assert scene_is_complete(out / SIDEWAYS, fingerprint)
    other = scene_fingerprint(scene_dir, scene_frames(scene_dir, "jpg"), ColmapSettings(max_num_features=4096))
    assert not scene_is_complete(out / SIDEWAYS, other)
    written[2].unlink()
    assert not scene_is_complete(out / SIDEWAYS, fingerprint)


def test_cli_resumes_a_complete_output(nyu_root: Path, poses_run: tuple[Path, dict, list[str]],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out, manifest, _ = poses_run
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*.npy")}
    assert main(["prepare", "colmap-poses", "--root", str(nyu_root), "--split-dir", str(nyu_root / "splits" / "nyu"),
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("(kept)") == len(_scenes(nyu_root))
    assert json.loads(captured.out)["failed_scenes"] == [BLANK]
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.npy")} == before
    assert json.loads((out / "manifest.json").read_text())["scenes"] == manifest["scenes"]


def test_missing_inputs_are_named(nyu_root: Path, tmp_path: Path) -> None:
    split_dir = tmp_path / "splits"
    write_nyu_split(split_dir / "train_files.txt", [NyuSplitEntry("kitchen_0042", 3)])
    with pytest.raises(FileNotFoundError, match=r"val_files\.txt: missing split list"):
        colmap_poses(nyu_root, split_dir, tmp_path / "out")
    write_nyu_split(split_dir / "val_files.txt", [])
    with pytest.raises(FileNotFoundError, match=r"1 scenes of the split lists are missing, first: \['kitchen_0042'\]"):
        colmap_poses(nyu_root, split_dir, tmp_path / "out")
    broken = tmp_path / "broken"
    (broken / "Training" / "hall_0001").mkdir(parents=True)
    for frame in range(3):
        cv2.imwrite(str(training_image_path(broken, "hall_0001", frame)), np.zeros((8, 8, 3), np.uint8))
    write_nyu_split(split_dir / "train_files.txt", [NyuSplitEntry("hall_0001", 1)])
    with pytest.raises(RuntimeError, match=r"Training/hall_0001: coarse poses failed: .*hall_0001/cam\.txt: missing"):
        colmap_poses(broken, split_dir, tmp_path / "out")


def test_filter_split_keeps_order_and_drops_unposed_frames() -> None:
    entries = [NyuSplitEntry("b", 2), NyuSplitEntry("a", 1), NyuSplitEntry("a", 3), NyuSplitEntry("c", 1)]
    records = {"a": {"targets": [1, 2]}, "b": {"targets": [2]}}
    assert filter_split(entries, records) == [NyuSplitEntry("b", 2), NyuSplitEntry("a", 1)]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="min_model_size must be >= 3"):
        ColmapSettings(min_model_size=2).validate()
    with pytest.raises(ValueError, match="init_min_tri_angle"):
        ColmapSettings(init_min_tri_angle=0.0).validate()
