"""FeatDepth's EuRoC loader on a small hand-made ASL tree: the KITTI sample keys and shapes, neighbours and
the other camera, grayscale as three channels, intrinsics, the stereo sign under flips, one colour jitter per
sample, the `euroc` data format's dispatch, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depthrepro.data import formats
from depthrepro.data.euroc import EurocDataset, normalised_intrinsics
from depthrepro.data.kitti_raw import AugmentConfig, to_tensor
from depthrepro.io.euroc import CameraSensor, image_path, write_frame_csv, write_sensor_yaml
from depthrepro.io.kitti import SplitEntry, write_split_file

FOLDER = "MH_09_test/mav0"
STAMPS = [1403636579763555584 + i * 50_000_000 for i in range(5)]
SIZE = (94, 60)                              # (width, height) of the stored images
HEIGHT, WIDTH = 32, 64                       # the samples' size
CAMERA = {"fx": 435.2047, "fy": 435.2047, "width": 752, "height": 480}
K_NORM = normalised_intrinsics(CAMERA, "test")
MS = [0, -1, 1, "s"]
DATA = {"format": "euroc", "intrinsics": CAMERA,
        "augment": {"flip_prob": 0.5, "color_prob": 0.5, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2,
                    "hue": 0.1}}


def make_tree(root: Path, same_images: bool = False) -> Path:
    """Two cameras of five 8-bit grayscale frames (random, or all one image), data.csv and sensor.yaml."""
    rng = np.random.default_rng(0)
    common = rng.integers(0, 256, (SIZE[1], SIZE[0]), dtype=np.uint8)
    for camera in ("cam0", "cam1"):
        for stamp in STAMPS:
            pixels = common if same_images else rng.integers(0, 256, (SIZE[1], SIZE[0]), dtype=np.uint8)
            path = image_path(root, FOLDER, camera, f"{stamp}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, mode="L").save(path)
        write_frame_csv(root / FOLDER / camera / "data.csv", STAMPS)
        write_sensor_yaml(root / FOLDER / camera / "sensor.yaml",
                          CameraSensor(20.0, SIZE, (54.4, 54.4, 47.0, 30.0), (0.0,) * 4, np.eye(4)))
    return root


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


def expected_image(root: Path, camera: str, frame: int, flip: bool = False) -> torch.Tensor:
    with Image.open(image_path(root, FOLDER, camera, f"{STAMPS[frame]}.png")) as img:
        rgb = img.convert("RGB")
    if flip:
        rgb = rgb.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(rgb.resize((WIDTH, HEIGHT), Image.LANCZOS))


def dataset(root: Path, entries: list[SplitEntry], frame_ids: list = MS, **kwargs) -> EurocDataset:
    return EurocDataset(root, entries, HEIGHT, WIDTH, frame_ids, K_NORM, **kwargs)


def test_samples_have_the_kitti_keys_and_read_neighbours_and_the_other_camera(tree: Path) -> None:
    sample = dataset(tree, [SplitEntry(FOLDER, 2, "l")])[0]
    assert set(sample) == ({(kind, f, s) for kind in ("color", "color_aug") for f in MS for s in range(4)}
                           | {(kind, s) for kind in ("K", "inv_K") for s in range(4)} | {"stereo_T", "side"})
    for frame_id, camera, frame in ((0, "cam0", 2), (-1, "cam0", 1), (1, "cam0", 3), ("s", "cam1", 2)):
        expected = expected_image(tree, camera, frame)
        torch.testing.assert_close(sample[("color", frame_id, 0)], expected, atol=0, rtol=0)
        torch.testing.assert_close(sample[("color_aug", frame_id, 0)], expected, atol=0, rtol=0)
        for s in range(4):
            assert sample[("color", frame_id, s)].shape == (3, HEIGHT // 2**s, WIDTH // 2**s)
    color = sample[("color", 0, 0)]
    assert torch.equal(color[0], color[1]) and torch.equal(color[1], color[2])   # grey as three equal channels
    assert sample["stereo_T"][0, 3].item() == pytest.approx(-0.1) and sample["side"].item() == 0


def test_intrinsics_are_the_loader_constant_scaled_per_level(tree: Path) -> None:
    np.testing.assert_allclose(K_NORM, [[435.2047 / 752, 0, 0.5], [0, 435.2047 / 480, 0.5]])
    sample = dataset(tree, [SplitEntry(FOLDER, 1, "l")], [0])[0]
    for s in range(4):
        h, w = HEIGHT / 2**s, WIDTH / 2**s
        expected = np.array([[435.2047 / 752 * w, 0, w / 2, 0], [0, 435.2047 / 480 * h, h / 2, 0],
                             [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
        np.testing.assert_allclose(sample[("K", s)].numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(sample[("inv_K", s)].numpy() @ expected, np.eye(4), atol=1e-5)
    with pytest.raises(ValueError, match=r"where: data.intrinsics must be a mapping with keys"):
        normalised_intrinsics({"fx": 435.2047, "width": 752, "height": 480}, "where")
    with pytest.raises(ValueError, match="positive numbers"):
        normalised_intrinsics({**CAMERA, "fx": -1.0}, "where")


def test_flip_mirrors_every_frame_and_reverses_the_stereo_sign(tree: Path) -> None:
    entries = [SplitEntry(FOLDER, 2, "l"), SplitEntry(FOLDER, 2, "r")]
    flipped = dataset(tree, entries, is_train=True, augment=AugmentConfig(flip_prob=1.0, color_prob=0.0))
    plain = dataset(tree, entries, is_train=True, augment=AugmentConfig(flip_prob=0.0, color_prob=0.0))
    left, left_flipped = plain[0], flipped[0]
    right, right_flipped = plain[1], flipped[1]
    assert left["stereo_T"][0, 3].item() == pytest.approx(-0.1)
    assert left_flipped["stereo_T"][0, 3].item() == pytest.approx(0.1)
    assert right["stereo_T"][0, 3].item() == pytest.approx(0.1) and right["side"].item() == 1
    assert right_flipped["stereo_T"][0, 3].item() == pytest.approx(-0.1)
    for frame_id, camera, frame in ((0, "cam0", 2), (-1, "cam0", 1), ("s", "cam1", 2)):
        torch.testing.assert_close(left_flipped[("color", frame_id, 0)],
                                   expected_image(tree, camera, frame, flip=True), atol=0, rtol=0)
    # an `r` line targets cam1; its stereo frame is cam0's image of the same name
    torch.testing.assert_close(right[("color", 0, 0)], expected_image(tree, "cam1", 2), atol=0, rtol=0)
    torch.testing.assert_close(right[("color", "s", 0)], expected_image(tree, "cam0", 2), atol=0, rtol=0)


def test_one_colour_jitter_for_all_frames_of_a_sample(tmp_path: Path) -> None:
    root = make_tree(tmp_path, same_images=True)
    data = dataset(root, [SplitEntry(FOLDER, f, "l") for f in (1, 2, 3)], is_train=True,
                   augment=AugmentConfig(flip_prob=0.0, color_prob=1.0))
    jittered = 0
    for index in range(len(data)):
        sample = data[index]
        reference = sample[("color_aug", 0, 0)]
        for f in MS:
            torch.testing.assert_close(sample[("color_aug", f, 0)], reference, atol=0, rtol=0)
            torch.testing.assert_close(sample[("color", f, 0)], sample[("color", 0, 0)], atol=0, rtol=0)
        jittered += not torch.allclose(reference, sample[("color", 0, 0)], atol=1e-3)
    assert jittered == len(data)


def test_errors_name_the_file(tree: Path) -> None:
    entries = [SplitEntry(FOLDER, 2, "l")]
    with pytest.raises(ValueError, match=r"split line 'MH_09_test/mav0 0 l' needs frame -1 \(frame id -1\)"):
        dataset(tree, [SplitEntry(FOLDER, 0, "l")])
    with pytest.raises(ValueError, match=r"needs frame 5 \(frame id 1\), but cam0/data holds frames 0..4"):
        dataset(tree, [SplitEntry(FOLDER, 4, "l")])
    bad = image_path(tree, FOLDER, "cam1", f"{STAMPS[2]}.png")
    Image.fromarray(np.zeros((SIZE[1], SIZE[0] - 2), np.uint8), mode="L").save(bad)
    with pytest.raises(ValueError, match=rf"{bad}: image is 92x60, but .*cam1/sensor.yaml gives the resolution 94x60"):
        dataset(tree, entries)
    bad.write_bytes(b"not a png")
    with pytest.raises(OSError, match=rf"{bad}: cannot read image"):
        dataset(tree, entries)
    bad.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{bad}: image not found"):
        dataset(tree, entries)
    (tree / FOLDER / "cam1" / "sensor.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"cam1/sensor.yaml: camera sensor file not found"):
        dataset(tree, entries)
    for path in sorted((tree / FOLDER / "cam1").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (tree / FOLDER / "cam1").rmdir()
    with pytest.raises(FileNotFoundError, match=r"mav0/cam1/data: camera folder not found"):
        dataset(tree, entries)
    assert len(dataset(tree, entries, [0, -1, 1])) == 1   # without 's' the right camera is not needed


def test_euroc_format_dispatch(tree: Path) -> None:
    split = tree / "splits" / "MH_09_test" / "train_files.txt"
    write_split_file(split, [SplitEntry(FOLDER, f, "l") for f in (1, 2, 3)])
    data = formats.training_dataset(DATA, formats.DataSources(tree, split), HEIGHT, WIDTH, MS, None, 0, "where")
    assert isinstance(data, EurocDataset) and len(data) == 3 and data.is_train
    np.testing.assert_allclose(data.intrinsics, K_NORM.astype(np.float32))
    with pytest.raises(ValueError, match="where: data.intrinsics must be a mapping"):
        formats.training_dataset({"format": "euroc"}, formats.DataSources(tree, split), HEIGHT, WIDTH, MS, None, 0,
                                 "where")
    with pytest.raises(ValueError, match="where: data.format euroc has no test split"):
        formats.test_dataset(DATA, tree, split, HEIGHT, WIDTH, [0], None, "where")
    with pytest.raises(ValueError, match="where: data.format euroc has no test split"):
        formats.test_image_paths(DATA, tree, split, "where")
