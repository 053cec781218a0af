"""monodepth2's `odom` split of KITTI odometry on the tiny rendered world: paths, the KITTI raw sample layout,
the stereo frame, intrinsics, test pairs, and the `kitti_odometry` data format's dispatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depthrepro.data import formats
from depthrepro.data.formats import DataSources, training_dataset
from depthrepro.data.kitti_odometry import KittiOdometryDataset, KittiOdometryTestSamples, odom_image_path
from depthrepro.data.kitti_raw import TRAIN_STEREO_BASELINE, to_tensor
from depthrepro.io.kitti_odometry import OdomSplitEntry, read_odom_split
from depthrepro.synth.kitti_odometry import render_kitti_odometry

K_NORM = np.array([[0.58, 0, 0.5], [0, 1.92, 0.5]])
HEIGHT, WIDTH = 64, 192
DATA = {"format": "kitti_odometry", "image_ext": "png",
        "augment": {"flip_prob": 0.5, "color_prob": 0.5, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2,
                    "hue": 0.1}}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("odometry")
    render_kitti_odometry(out, preset="tiny", seed=0, workers=1)
    return out


def _split(root: Path, name: str) -> Path:
    return root / "splits" / "odom" / f"{name}.txt"


def _resized(path: Path) -> torch.Tensor:
    with Image.open(path) as img:
        return to_tensor(img.convert("RGB").resize((WIDTH, HEIGHT), Image.LANCZOS))


def test_paths_follow_the_odometry_layout(root: Path) -> None:
    assert odom_image_path(root, 1, 7, "l", "png") == root / "sequences" / "01" / "image_2" / "000007.png"
    assert odom_image_path(root, 1, 7, "r", "jpg") == root / "sequences" / "01" / "image_3" / "000007.jpg"
    with pytest.raises(ValueError, match="side must be one of"):
        odom_image_path(root, 1, 7, "2", "png")


def test_training_samples_read_the_neighbours_and_the_other_camera(root: Path) -> None:
    entry = read_odom_split(_split(root, "train_files"))[0]
    data = KittiOdometryDataset(root, [entry], HEIGHT, WIDTH, [0, 1, -1, "s"], K_NORM, is_train=False)
    sample = data[0]
    other = "r" if entry.side == "l" else "l"
    for frame_id, frame, side in ((0, entry.frame, entry.side), (1, entry.frame + 1, entry.side),
                                  (-1, entry.frame - 1, entry.side), ("s", entry.frame, other)):
        expected = _resized(odom_image_path(root, entry.sequence, frame, side, "png"))
        torch.testing.assert_close(sample[("color", frame_id, 0)], expected, atol=0, rtol=0)
        torch.testing.assert_close(sample[("color_aug", frame_id, 0)], expected, atol=0, rtol=0)
        assert sample[("color", frame_id, 3)].shape == (3, HEIGHT // 8, WIDTH // 8)
    K = sample[("K", 0)].numpy()
    assert K[0, 0] == pytest.approx(0.58 * WIDTH) and K[1, 2] == pytest.approx(0.5 * HEIGHT)
    side_sign = -1.0 if entry.side == "l" else 1.0
    assert sample["stereo_T"][0, 3].item() == pytest.approx(side_sign * TRAIN_STEREO_BASELINE)
    assert sample["side"].item() == (0 if entry.side == "l" else 1)


def test_augmentation_streams_and_flips_as_kitti_raw(root: Path) -> None:
    entries = read_odom_split(_split(root, "train_files"))
    make = lambda seed: training_dataset(DATA, DataSources(root, _split(root, "train_files")), HEIGHT, WIDTH,  # noqa: E731
                                         [0, "s"], K_NORM, seed, "test")
    a, b = make(1), make(1)
    assert isinstance(a, KittiOdometryDataset) and len(a) == len(entries)
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0] if torch.is_tensor(a[0][k]))
    flips = []
    for index in range(2):  # seed 1 flips sample 1, not sample 0 (the draws of KittiRawDataset)
        sample, entry = a[index], entries[index]
        plain = _resized(odom_image_path(root, entry.sequence, entry.frame, entry.side, "png"))
        flipped = torch.allclose(sample[("color", 0, 0)], plain.flip(-1))
        assert flipped or torch.allclose(sample[("color", 0, 0)], plain)
        side_sign = -1.0 if entry.side == "l" else 1.0
        assert sample["stereo_T"][0, 3].item() == pytest.approx(side_sign * (-1.0 if flipped else 1.0) * 0.1)
        flips.append(flipped)
    assert flips == [False, True]


def test_test_pairs_and_the_format_dispatch(root: Path) -> None:
    split = _split(root, "test_files_00")
    entries = read_odom_split(split)
    samples = formats.test_dataset(DATA, root, split, HEIGHT, WIDTH, [0, 1], K_NORM, "test")
    assert isinstance(samples, KittiOdometryTestSamples) and len(samples) == len(entries)
    assert samples.missing_frames() == []
    last = samples[len(samples) - 1]
    torch.testing.assert_close(last[("color", 1, 0)],
                               _resized(odom_image_path(root, 0, entries[-1].frame + 1, "l", "png")), atol=0, rtol=0)
    assert last[("K", 2)][0, 0].item() == pytest.approx(0.58 * WIDTH / 4)
    beyond = KittiOdometryTestSamples(root, [OdomSplitEntry(0, entries[-1].frame + 1, "l")], HEIGHT, WIDTH, K_NORM,
                                      [0, 1])
    assert len(beyond.missing_frames()) == 1 and beyond[0][("color", 1, 0)].abs().sum() == 0
    assert formats.test_image_paths(DATA, root, split, "test") == [odom_image_path(root, 0, e.frame, "l", "png")
                                                                    for e in entries]


def test_depth_hints_are_refused(root: Path) -> None:
    with pytest.raises(ValueError, match="depth_hints is not available for data.format kitti_odometry"):
        training_dataset({**DATA, "depth_hints": True}, DataSources(root, _split(root, "train_files")), HEIGHT, WIDTH,
                         [0, 1], K_NORM, 0, "test")
