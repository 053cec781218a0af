"""GasMono's NYUv2 datasets on a tiny synthetic NYUv2 world: keys, intrinsics, coarse poses (checked by
warping with the rendered depth), per-image augmentation, seeding, missing poses, test samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthrepro.data.gasmono_augment import OPS, ColourPipeline
from depthrepro.data.nyuv2 import NyuTestSamples, NyuTrainDataset, coarse_pose_path
from depthrepro.geometry.camera import BackprojectDepth, Project3D
from depthrepro.io.kitti_odometry import read_poses
from depthrepro.io.nyuv2 import read_nyu_split, scene_poses_path
from depthrepro.synth.nyuv2 import build_scene, nyu_K, nyu_preset, render_nyuv2

H, W = 64, 96
PRESET = nyu_preset("tiny")
OFFICIAL_AUGMENT = {"color_prob": 0.5, "ops": [
    ["rgb_shift", 0.5], ["channel_dropout", 0.1], ["equalize", 0.1], ["hue_saturation_value", 0.5],
    ["channel_shuffle", 0.2], ["brightness_contrast", 0.5], ["gamma", 0.1], ["motion_blur", 0.1],
    ["blur", 0.2], ["to_gray", 0.1], ["median_blur", 0.1], ["jpeg_compression", 0.1], ["gamma", 0.2],
    ["gauss_noise", 0.1], ["gaussian_blur", 0.1], ["clahe", 0.1]]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny NYUv2 world and coarse poses from its exact camera poses (T_s←t = P_s⁻¹ P_t)."""
    base = tmp_path_factory.mktemp("nyu")
    root, cpose = base / "nyuv2", base / "cpose"
    render_nyuv2(root, preset="tiny", seed=0, workers=1)
    for room in range(len(PRESET.train_rooms)):
        scene = PRESET.scene_name(room)
        poses = read_poses(scene_poses_path(root, scene))
        for t in range(1, len(poses) - 1):
            rel = np.stack([np.linalg.inv(poses[t + f]) @ poses[t] for f in (-1, 1)])
            path = coarse_pose_path(cpose, scene, t)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, rel)
    return root, cpose


def dataset(world: tuple[Path, Path], **kwargs) -> NyuTrainDataset:  # type: ignore[no-untyped-def]
    root, cpose = world
    options = {"is_train": True, "augment": OFFICIAL_AUGMENT, "seed": 0, **kwargs}
    return NyuTrainDataset(root, root / "splits/nyu/train_files.txt", cpose, H, W, **options)


def test_sample_keys_shapes_and_intrinsics(world: tuple[Path, Path]) -> None:
    data = dataset(world, is_train=False)
    sample = data[0]
    for f in (0, -1, 1):
        for s in range(4):
            for kind in ("color", "color_aug"):
                assert sample[(kind, f, s)].shape == (3, H // 2**s, W // 2**s)
            assert torch.equal(sample[("color_aug", f, s)], sample[("color", f, s)]), "no augmentation in eval"
    assert ("color", 0, -1) not in sample
    expected = nyu_K(PRESET.width, PRESET.height)
    for s in range(4):
        K = sample[("K", s)].numpy()
        np.testing.assert_allclose(K[0, :3], expected[0] / PRESET.width * (W // 2**s), rtol=1e-6)
        np.testing.assert_allclose(K[1, :3], expected[1] / PRESET.height * (H // 2**s), rtol=1e-6)
        np.testing.assert_allclose(sample[("inv_K", s)].numpy() @ K, np.eye(4), atol=1e-5)
    entry = data.entries[0]
    stored = np.load(coarse_pose_path(world[1], entry.scene, entry.frame))
    assert sample[("coarse_pose", -1)].dtype == torch.float32
    np.testing.assert_allclose(sample[("coarse_pose", -1)].numpy(), stored[0], rtol=1e-6)
    np.testing.assert_allclose(sample[("coarse_pose", 1)].numpy(), stored[1], rtol=1e-6)


def test_coarse_poses_warp_the_source_onto_the_target(world: tuple[Path, Path]) -> None:
    """With the rendered depth, T_(f←0) and the dataset's K reproject frame f onto frame 0 (the method's
    projection convention) far better than the unwarped frame does."""
    data = dataset(world, is_train=False)
    entry = data.entries[2]
    sample = data[2]
    room = [PRESET.scene_name(r) for r in range(len(PRESET.train_rooms))].index(entry.scene)
    depth = torch.from_numpy(build_scene("tiny", 0, room).render(entry.frame).depth).float()[None, None]
    depth = F.interpolate(depth, (H, W), mode="nearest")
    points = BackprojectDepth(1, H, W)(depth, sample[("inv_K", 0)][None])
    target = sample[("color", 0, 0)][None]
    for f in (-1, 1):
        grid = Project3D(1, H, W)(points, sample[("K", 0)][None], sample[("coarse_pose", f)][None])
        source = sample[("color", f, 0)][None]
        warped = F.grid_sample(source, grid, padding_mode="border", align_corners=True)
        inside = ((grid.abs() < 0.95).all(-1))[:, None].expand_as(target)
        warped_error = (warped - target).abs()[inside].mean()
        identity_error = (source - target).abs()[inside].mean()
        assert warped_error < 0.5 * identity_error, (f, float(warped_error), float(identity_error))


def test_augmentation_is_per_image_and_reproducible(world: tuple[Path, Path]) -> None:
    data = dataset(world, augment={"color_prob": 1.0, "ops": [["channel_dropout", 1.0]]})
    sample = data[0]
    dropped = []
    for f in (0, -1, 1):
        for s in range(4):
            aug, raw = sample[("color_aug", f, s)], sample[("color", f, s)]
            zero = [c for c in range(3) if float(aug[c].abs().max()) == 0.0]
            assert len(zero) == 1 and float(raw[zero[0]].max()) > 0
            others = [c for c in range(3) if c != zero[0]]
            assert torch.equal(aug[others], raw[others])
            dropped.append(zero[0])
    assert len(set(dropped)) > 1, "every frame and scale draws its own augmentation"
    again = data[0]
    assert all(torch.equal(again[k], v) for k, v in sample.items())
    data.set_epoch(1)
    assert not all(torch.equal(data[0][("color_aug", f, 0)], sample[("color_aug", f, 0)]) for f in (0, -1, 1))

    official = dataset(world)
    flags = [not torch.equal(official[i][("color_aug", 0, 0)], official[i][("color", 0, 0)])
             for i in range(len(official))]
    assert any(flags) and not all(flags), "about half the samples are augmented"
    for i in range(len(official)):
        item = official[i]
        assert all(float(item[("color_aug", f, s)].min()) >= 0 and float(item[("color_aug", f, s)].max()) <= 1
                   for f in (0, -1, 1) for s in range(4))


def test_every_operation_keeps_a_uint8_image() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    for name, op in OPS.items():
        out = op(img.copy(), np.random.default_rng(1))
        assert out.dtype == np.uint8 and out.shape == img.shape, name
    gray = OPS["to_gray"](img, rng)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    shuffled = OPS["channel_shuffle"](img, np.random.default_rng(3))
    assert sorted(map(bytes, np.moveaxis(shuffled, -1, 0))) == sorted(map(bytes, np.moveaxis(img, -1, 0)))
    bright = ColourPipeline(1.0, (("brightness_contrast", 1.0),))(np.full((4, 4, 3), 100, np.uint8),
                                                                  np.random.default_rng(5))
    assert len(np.unique(bright)) == 1 and 60 <= int(bright[0, 0, 0]) <= 171
    with pytest.raises(ValueError, match="augment.ops"):
        ColourPipeline.from_dict({"ops": [["sharpen", 0.5]]})
    with pytest.raises(KeyError, match="unknown keys"):
        ColourPipeline.from_dict({"flip_prob": 0.5})


def test_frames_without_coarse_pose_are_refused(world: tuple[Path, Path], tmp_path: Path) -> None:
    root, cpose = world
    entries = read_nyu_split(root / "splits/nyu/train_files.txt")
    split = tmp_path / "train_files.txt"
    split.write_text("".join(f"{e.scene} {e.frame:04d} l\n" for e in entries) + f"{entries[0].scene} 0000 l\n")
    with pytest.raises(FileNotFoundError, match="1 of .* frames have no coarse pose"):
        NyuTrainDataset(root, split, cpose, H, W, is_train=True, augment=None)
    bad = tmp_path / "cpose"
    target = coarse_pose_path(bad, entries[0].scene, entries[0].frame)
    target.parent.mkdir(parents=True)
    np.save(target, np.eye(4))
    one = tmp_path / "one.txt"
    one.write_text(f"{entries[0].scene} {entries[0].frame:04d} l\n")
    with pytest.raises(ValueError, match="shape \\(2, 4, 4\\)"):
        NyuTrainDataset(root, one, bad, H, W, is_train=False, augment=None)[0]


def test_test_samples(world: tuple[Path, Path]) -> None:
    root, _ = world
    samples = NyuTestSamples(root, root / "splits/nyu/test_files.txt", H, W)
    assert len(samples) == len(read_nyu_split(root / "splits/nyu/test_files.txt"))
    item = samples[0]
    assert list(item) == [("color", 0, 0)] and item[("color", 0, 0)].shape == (3, H, W)
    with pytest.raises(ValueError, match="test lines must start with 'color'"):
        NyuTestSamples(root, root / "splits/nyu/train_files.txt", H, W)
