"""KITTI-raw training samples: monodepth2's keys, shapes, intrinsics per scale, stereo transform, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depthrepro.data.kitti_raw import KittiRawDataset, KittiTestSamples, intrinsics_at
from depthrepro.io.kitti import SplitEntry, image_path

FOLDER = "2011_09_26/2011_09_26_drive_0001_sync"
K_NORM = np.array([[0.58, 0, 0.5], [0, 1.92, 0.5]])


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for side in ("l", "r"):
        for frame in range(3):
            path = image_path(tmp_path, FOLDER, frame, side, "jpg")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (60, 200, 3), dtype=np.uint8)).save(path, quality=92)
    return tmp_path


def test_sample_keys_shapes_and_intrinsics(root: Path) -> None:
    ds = KittiRawDataset(root, [SplitEntry(FOLDER, 1, "l")], 64, 192, [0, -1, 1, "s"], K_NORM, is_train=True)
    sample = ds[0]
    for f in (0, -1, 1, "s"):
        for s in range(4):
            assert sample[("color", f, s)].shape == (3, 64 // 2**s, 192 // 2**s)
            assert sample[("color_aug", f, s)].shape == (3, 64 // 2**s, 192 // 2**s)
    K1 = sample[("K", 1)].numpy()
    assert K1[0, 0] == pytest.approx(0.58 * 96) and K1[1, 2] == pytest.approx(0.5 * 32)
    np.testing.assert_allclose(sample[("inv_K", 1)].numpy() @ K1, np.eye(4), atol=1e-5)
    assert abs(sample["stereo_T"][0, 3].item()) == pytest.approx(0.1)


def test_augmentation_is_a_function_of_seed_epoch_and_index(root: Path) -> None:
    make = lambda seed: KittiRawDataset(root, [SplitEntry(FOLDER, 1, "r")], 64, 192, [0, -1, 1], K_NORM,  # noqa: E731
                                        is_train=True, seed=seed)
    a, b = make(0), make(0)
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0] if torch.is_tensor(a[0][k]))
    outcomes = set()
    for epoch in range(12):
        a.set_epoch(epoch)
        outcomes.add(torch.equal(a[0][("color_aug", 0, 0)], a[0][("color", 0, 0)]))
    assert outcomes == {True, False}  # colour jitter applied in some epochs only


def test_eval_samples_are_not_augmented(root: Path) -> None:
    ds = KittiRawDataset(root, [SplitEntry(FOLDER, 1, "l")], 64, 192, [0], K_NORM, is_train=False)
    sample = ds[0]
    assert torch.equal(sample[("color", 0, 0)], sample[("color_aug", 0, 0)])
    test = KittiTestSamples(root, [SplitEntry(FOLDER, 1, "l")], 64, 192, K_NORM)[0]
    torch.testing.assert_close(test[("color", 0, 0)], sample[("color", 0, 0)])
    torch.testing.assert_close(test[("K", 2)], sample[("K", 2)])


def test_missing_lookup_frame_is_zeros_at_test_time(root: Path) -> None:
    sample = KittiTestSamples(root, [SplitEntry(FOLDER, 0, "l")], 64, 192, K_NORM, frame_ids=[0, -1])[0]
    assert sample[("color", -1, 0)].abs().sum() == 0 and sample[("color", 0, 0)].abs().sum() > 0


def test_missing_frame_names_the_file(root: Path) -> None:
    ds = KittiRawDataset(root, [SplitEntry(FOLDER, 2, "l")], 64, 192, [0, -1, 1], K_NORM)
    with pytest.raises(FileNotFoundError, match="0000000003.jpg"):
        ds[0]


def test_truncated_image_names_the_file(root: Path) -> None:
    path = image_path(root, FOLDER, 1, "l", "jpg")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(OSError, match="0000000001.jpg"):
        KittiTestSamples(root, [SplitEntry(FOLDER, 1, "l")], 64, 192, K_NORM)[0]


def test_resolution_must_be_a_multiple_of_32(root: Path) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        KittiRawDataset(root, [], 60, 192, [0], K_NORM)


def test_intrinsics_at_scales_rows() -> None:
    K = intrinsics_at(K_NORM, 192, 640)
    assert K[0, 0] == pytest.approx(371.2) and K[1, 1] == pytest.approx(368.64) and K[0, 2] == 320


def _jitter_draws(ds: KittiRawDataset) -> tuple[bool, bool]:
    """(frames differ from their un-jittered copies by the same factor?, any jitter at all?) over epochs."""
    same_everywhere, jittered = True, False
    for epoch in range(8):
        ds.set_epoch(epoch)
        sample = ds[0]
        ratios = [(sample[("color_aug", f, 0)].mean() / sample[("color", f, 0)].mean()).item() for f in (0, -1, 1)]
        if not np.allclose(ratios, 1.0):
            jittered = True
            same_everywhere &= bool(np.allclose(ratios, ratios[0], rtol=1e-3))
    return same_everywhere, jittered


def test_per_frame_jitter_draws_each_image_independently(root: Path) -> None:
    from depthrepro.data.kitti_raw import AugmentConfig

    shared = KittiRawDataset(root, [SplitEntry(FOLDER, 1, "l")], 64, 192, [0, -1, 1], K_NORM, is_train=True,
                             augment=AugmentConfig.from_dict({"flip_prob": 0.0, "color_prob": 1.0, "hue": 0.0,
                                                              "contrast": 0.0, "saturation": 0.0}))
    independent = KittiRawDataset(root, [SplitEntry(FOLDER, 1, "l")], 64, 192, [0, -1, 1], K_NORM, is_train=True,
                                  augment=AugmentConfig.from_dict({"flip_prob": 0.0, "color_prob": 1.0, "hue": 0.0,
                                                                   "contrast": 0.0, "saturation": 0.0,
                                                                   "per_frame_jitter": True}))
    assert _jitter_draws(shared) == (True, True)  # one brightness factor for every frame of a sample
    assert _jitter_draws(independent) == (False, True)


def test_depth_hints_and_side_follow_the_image(root: Path, tmp_path: Path) -> None:
    from depthrepro.data.kitti_raw import AugmentConfig
    from depthrepro.io.kitti import depth_hint_path

    hints = tmp_path / "hints"
    hint = np.zeros((1, 32, 96), np.float32)
    hint[0, :, :48] = 2.0  # left half 2, right half 0 (invalid)
    path = depth_hint_path(hints, FOLDER, 1, "r")
    path.parent.mkdir(parents=True)
    np.save(path, hint)
    make = lambda flip: KittiRawDataset(  # noqa: E731
        root, [SplitEntry(FOLDER, 1, "r")], 64, 192, [0, "s"], K_NORM, is_train=True, depth_hints_root=hints,
        augment=AugmentConfig(flip_prob=flip, color_prob=0.0))
    plain, flipped = make(0.0)[0], make(1.0)[0]
    assert plain["side"].item() == 1 and flipped["side"].item() == 1  # the camera, not the flip
    assert plain["depth_hint"].shape == (1, 64, 192)
    assert torch.all(plain["depth_hint"][0, :, :96] == 2) and torch.all(plain["depth_hint"][0, :, 96:] == 0)
    assert torch.equal(flipped["depth_hint"], plain["depth_hint"].flip(-1))
    np.save(path, np.zeros((32, 96), np.float32))
    with pytest.raises(ValueError, match=r"0000000001.npy: expected a \(1, H, W\) depth hint"):
        make(0.0)[0]


def test_even_subset_spreads_over_the_split_and_passes_epochs(root: Path) -> None:
    from depthrepro.data.formats import EvenSubset

    entries = [SplitEntry(FOLDER, 1, side) for side in ("l", "r")] * 5
    ds = KittiRawDataset(root, entries, 64, 192, [0], K_NORM, is_train=True)
    subset = EvenSubset(ds, 3)
    assert subset.indices == [0, 4, 9] and len(subset) == 3
    subset.set_epoch(4)
    assert ds.epoch == 4
    assert len(EvenSubset(ds, 100)) == 10
    with pytest.raises(ValueError, match="train_samples must be positive"):
        EvenSubset(ds, 0)
