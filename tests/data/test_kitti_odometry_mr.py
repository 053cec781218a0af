"""The MonoRec-layout KITTI odometry samples on the tiny synthetic world: crop/resize and intrinsics,
sparse inverse-depth GT against the renderer, moving-object masks, DVSO poses, augmentation streams."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depthrepro.data.augment import ColorJitter, JitterConfig
from depthrepro.data.kitti_odometry_mr import KittiOdometryMR, KittiOdometryMRTestSamples
from depthrepro.io.kitti_odometry import load_odometry_sequence, mvobj_mask_path, read_keyframes
from depthrepro.synth.kitti_odometry import build_sequence, odometry_K, odometry_preset, render_kitti_odometry

PRESET = odometry_preset("tiny")          # 416x128 images
JITTER = {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("odometry")
    render_kitti_odometry(out, preset="tiny", seed=0, workers=1)
    return out


def _split(root: Path, part: str) -> Path:
    return root / "splits" / "odometry" / f"{part}_files.txt"


def test_crop_resize_and_intrinsics_match_a_hand_computation(root: Path) -> None:
    data = KittiOdometryMRTestSamples(root, _split(root, "test"), 64, 128)
    sample = data[0]
    keyframe = data.keyframes[0]
    # 416x128 at aspect 1:2 keeps the full height: a 256-px wide centre crop starting at column 80,
    # then a 0.5 scale to 64x128.
    K = odometry_K(PRESET.width, PRESET.height)
    expected = np.array([[K[0, 0] * 0.5, 0, (K[0, 2] - 80) * 0.5, 0], [0, K[1, 1] * 0.5, K[1, 2] * 0.5, 0],
                         [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    np.testing.assert_allclose(sample["keyframe_intrinsics"].numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(sample["intrinsics"].numpy(), np.stack([expected, expected]))
    for image, frame in ((sample["keyframe"], keyframe.frame), (sample["frames"][0], keyframe.frame - 1),
                         (sample["frames"][1], keyframe.frame + 1)):
        path = root / "sequences" / f"{keyframe.sequence:02d}" / "image_2" / f"{frame:06d}.png"
        with Image.open(path) as img:
            hand = np.asarray(img.convert("RGB").crop((80, 0, 336, 128)).resize((128, 64), Image.BILINEAR))
        np.testing.assert_allclose(image.numpy(), hand.transpose(2, 0, 1) / 255.0 - 0.5, atol=1e-6)
    assert sample["keyframe"].min() >= -0.5 and sample["keyframe"].max() <= 0.5
    shapes = {k: tuple(v.shape) for k, v in sample.items()}
    assert shapes == {"keyframe": (3, 64, 128), "keyframe_pose": (4, 4), "keyframe_intrinsics": (4, 4),
                      "frames": (2, 3, 64, 128), "poses": (2, 4, 4), "intrinsics": (2, 4, 4),
                      "target": (1, 64, 128), "mvobj_mask": (1, 64, 128)}


def test_dvso_poses_of_the_keyframe_and_its_neighbours(root: Path) -> None:
    data = KittiOdometryMRTestSamples(root, _split(root, "train"), 64, 128)
    for index, keyframe in enumerate(data.keyframes):
        dvso = load_odometry_sequence(root, keyframe.sequence).dvso_poses
        sample = data[index]
        np.testing.assert_allclose(sample["keyframe_pose"].numpy(), dvso[keyframe.frame], atol=1e-6)
        np.testing.assert_allclose(sample["poses"].numpy(), dvso[[keyframe.frame - 1, keyframe.frame + 1]], atol=1e-6)
        # The camera-2 motion between the frames is the renderer's.
        drive = build_sequence("tiny", 0, keyframe.sequence)
        relative = torch.linalg.inv(sample["poses"][0].double()) @ sample["keyframe_pose"].double()
        np.testing.assert_allclose(relative.numpy(), drive.relative_pose(keyframe.frame, keyframe.frame - 1, 2),
                                   atol=1e-5)


def test_sparse_target_is_the_rendered_inverse_depth(root: Path) -> None:
    """At the crop's own size (128x256) the scatter is the identity: every GT pixel is the rendered depth
    of the same crop pixel; at half size each GT pixel is the depth of a pixel rounding to it."""
    full = KittiOdometryMRTestSamples(root, _split(root, "test"), 128, 256)
    half = KittiOdometryMRTestSamples(root, _split(root, "test"), 64, 128)
    for index in (0, len(full) - 1):
        keyframe = full.keyframes[index]
        depth = build_sequence("tiny", 0, keyframe.sequence).render_camera(keyframe.frame, 2).depth[:, 80:336]
        target = full[index]["target"][0].numpy()
        valid = target > 0
        assert 0.1 < valid.mean() < 0.6
        np.testing.assert_allclose(1 / target[valid], depth[valid], atol=0.5 / 256 + 1e-5)
        # Half size: GT pixel (r, c) comes from a crop pixel (r', c') with round(r'/2) = r, round(c'/2) = c.
        small = half[index]["target"][0].numpy()
        rows, cols = np.nonzero(small)
        assert len(rows) > 100
        candidates = np.stack([depth[np.clip(2 * rows + dr, 0, 127), np.clip(2 * cols + dc, 0, 255)]
                               for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
        error = np.abs(candidates - 1 / small[rows, cols]).min(0)
        assert error.max() < 0.5 / 256 + 1e-5


def test_moving_object_masks_are_aligned_with_the_crop(root: Path) -> None:
    checked = 0
    for part in ("train", "test"):
        native = KittiOdometryMRTestSamples(root, _split(root, part), 256, 512)
        half = KittiOdometryMRTestSamples(root, _split(root, part), 128, 256)
        for index, keyframe in enumerate(native.keyframes):
            stored = np.load(mvobj_mask_path(root, keyframe.sequence, keyframe.frame))
            np.testing.assert_array_equal(native[index]["mvobj_mask"][0].numpy(), stored)
            mask = half[index]["mvobj_mask"][0].numpy() > 0.5
            np.testing.assert_array_equal(mask, stored[::2, ::2] > 0.5)
            dynamic = build_sequence("tiny", 0, keyframe.sequence).render_camera(keyframe.frame, 2).dynamic[:, 80:336]
            if dynamic.sum() >= 100:
                iou = (mask & dynamic).sum() / (mask | dynamic).sum()
                assert iou > 0.8, f"{keyframe}: IoU {iou:.2f}"
                checked += 1
    assert checked >= 1


def test_augmentation_is_a_function_of_seed_epoch_and_index(root: Path) -> None:
    split = _split(root, "train")

    def dataset(seed: int) -> KittiOdometryMR:
        return KittiOdometryMR(root, split, 64, 128, is_train=True, augment=JITTER, seed=seed)

    a, b = dataset(0), dataset(0)
    first = a[1]
    torch.testing.assert_close(first["frames"], b[1]["frames"], rtol=0, atol=0)
    torch.testing.assert_close(first["keyframe"], b[1]["keyframe"], rtol=0, atol=0)
    b.set_epoch(1)
    assert not torch.equal(first["keyframe"], b[1]["keyframe"])
    assert not torch.equal(first["keyframe"], dataset(1)[1]["keyframe"])
    plain = KittiOdometryMRTestSamples(root, split, 64, 128)[1]
    assert not torch.equal(first["keyframe"], plain["keyframe"])
    for key in ("target", "mvobj_mask", "poses", "keyframe_intrinsics"):
        torch.testing.assert_close(first[key], plain[key], rtol=0, atol=0)
    unaugmented = KittiOdometryMR(root, split, 64, 128, is_train=True, augment=None)[1]
    torch.testing.assert_close(unaugmented["keyframe"], plain["keyframe"], rtol=0, atol=0)
    # One jitter per sample, drawn from the (seed, epoch, index) stream, applied to all three frames.
    jitter = ColorJitter.sample(JitterConfig(**JITTER), np.random.default_rng((0, 0, 1)))
    torch.testing.assert_close(first["keyframe"], jitter(plain["keyframe"] + 0.5) - 0.5, rtol=0, atol=1e-6)
    for i in range(2):
        torch.testing.assert_close(first["frames"][i], jitter(plain["frames"][i] + 0.5) - 0.5, rtol=0, atol=1e-6)


def test_bad_inputs_name_the_problem(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="twice the height"):
        KittiOdometryMRTestSamples(root, _split(root, "test"), 64, 96)
    with pytest.raises(KeyError, match="unknown augment keys"):
        KittiOdometryMR(root, _split(root, "test"), 64, 128, is_train=True, augment={"flip_prob": 0.5})
    bad = tmp_path / "split.txt"
    last = read_keyframes(_split(root, "test"))[-1]
    bad.write_text(f"{last.sequence:02d} {PRESET.sequences[last.sequence].drive.frames - 1}\n")
    with pytest.raises(ValueError, match="needs frames"):
        KittiOdometryMRTestSamples(root, bad, 64, 128)
    no_dvso = tmp_path / "no_dvso"
    no_dvso.mkdir()
    (no_dvso / "sequences").symlink_to(root / "sequences")
    with pytest.raises(FileNotFoundError, match="poses_dvso"):
        KittiOdometryMRTestSamples(no_dvso, _split(root, "test"), 64, 128)
