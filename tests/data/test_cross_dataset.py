"""Cross-dataset test inputs: the shipped definitions agree with their protocols, bad entries are refused,
the odometry keyframes are read as monodepth2 reads frames, and predictions land on the GT's centre crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from depthrepro.data.cross_dataset import CrossDatasetInput, CrossDatasetTest, centre_crop_resample, load_test_input
from depthrepro.data.kitti_raw import intrinsics_at
from depthrepro.evaluate.protocols import load_protocol
from depthrepro.io.kitti_odometry import Keyframe, centre_crop_box, centre_crop_sparse, image_path, write_keyframes
from depthrepro.synth.kitti_odometry import ODOMETRY_SIZE, odometry_K

PROTOCOLS = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"
DATASETS = Path(__file__).resolve().parents[2] / "params" / "datasets.yaml"
KITTI_K = [[0.58, 0.0, 0.5], [0.0, 1.92, 0.5]]


def test_shipped_inputs_match_the_protocols_of_their_splits() -> None:
    nyu = load_test_input(PROTOCOLS, "nyu_h5")
    epc = load_protocol("nyuv2_epcdepth", PROTOCOLS)
    assert nyu.split == epc.split and nyu.reader == "nyu_h5"
    assert nyu.window == epc.gt_transform.window  # the network sees exactly the window the GT is cut to
    assert (nyu.size, nyu.depth_range, nyu.crop_size) == ((288, 384), (0.1, 10.0), None)
    odometry = load_test_input(PROTOCOLS, "odometry")
    for name in ("kitti_odom_mr", "kitti_odom_mr_median"):
        protocol = load_protocol(name, PROTOCOLS)
        assert protocol.split == odometry.split
        assert (protocol.gt_transform.kind, protocol.gt_transform.output_size) == ("centre_crop_sparse",
                                                                                   odometry.crop_size)
    assert (odometry.reader, odometry.size, odometry.window, odometry.depth_range) == (
        "odometry_keyframes", None, None, None)


def test_the_odometry_calibration_is_close_to_the_kitti_normalised_intrinsics() -> None:
    """The baselines get the dataset's KITTI-normalised K; the odometry tree's own K (sequences 00-02, which the
    synthetic tree uses at every size) differs by about 1% of the width in the principal point."""
    datasets = yaml.safe_load(DATASETS.read_text())
    for name in ("synthetic_kitti", "synthetic_kitti_tiny", "kitti"):
        assert datasets[name]["intrinsics"] == KITTI_K
    for width, height in (ODOMETRY_SIZE, (416, 128)):
        K = odometry_K(width, height)
        normalised = np.array([K[0] / width, K[1] / height])
        np.testing.assert_allclose(normalised[[0, 1], [0, 1]], [0.58, 1.92], rtol=5e-3)
        np.testing.assert_allclose(normalised[[0, 1], [2, 2]], [0.5, 0.5], atol=0.012)


def _write(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump({"protocols": {}, "test_inputs": {"s": entry}}))
    return path


@pytest.mark.parametrize(("entry", "message"), [
    ({"reader": "png", "size": "model"}, r"'reader' must be one of \['nyu_h5', 'odometry_keyframes'\]"),
    ({"reader": "nyu_h5", "size": [288]}, r"'size' must be a list of 2 non-negative integers"),
    ({"reader": "nyu_h5", "size": "model", "crop": 1}, r"unknown key\(s\) \['crop'\]"),
    ({"reader": "odometry_keyframes", "size": "model", "window": [0, 1, 0, 1]}, r"'window' applies to reader nyu_h5"),
    ({"reader": "nyu_h5", "size": "model", "window": [5, 5, 0, 1]},
     r"'window' \[5, 5, 0, 1\] must satisfy top < bottom"),
    ({"reader": "nyu_h5", "size": "model", "depth_range": [10, 0.1]}, r"'depth_range' must be \[min, max\]"),
    ({"reader": "odometry_keyframes", "size": "model", "output": {"kind": "resize", "size": [2, 4]}},
     r"'output' must be \{kind: centre_crop, size: \[H, W\]\}"),
])
def test_bad_entries_name_the_file_and_key(tmp_path: Path, entry: dict, message: str) -> None:
    path = _write(tmp_path, {**entry, "source": "s", "notes": "n"})
    with pytest.raises(ValueError, match=r"protocols\.yaml: test_inputs\.s: " + message):
        load_test_input(path, "s")


def test_a_split_without_an_entry_lists_the_defined_ones(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"no test_inputs\.eigen .*defined: \['nyu_h5', 'odometry'\]"):
        load_test_input(PROTOCOLS, "eigen")
    with pytest.raises(ValueError, match=r"missing key\(s\) \['source', 'notes'\]"):
        load_test_input(_write(tmp_path, {"reader": "nyu_h5", "size": "model"}), "s")


def _moved_to(position: int, axis: int, image_size: tuple[int, int], out: tuple[int, int]) -> int | None:
    """Output row (axis 0) or column (axis 1) the GT transform moves a lone valid pixel at `position` to."""
    gt = np.zeros(image_size)
    gt[(position, image_size[1] // 2) if axis == 0 else (image_size[0] // 2, position)] = 1.0
    found = np.nonzero(centre_crop_sparse(gt, out))
    return int(found[axis][0]) if found[axis].size else None


def test_centre_crop_resample_samples_the_centre_of_the_gt_pixels_of_each_output() -> None:
    image_size, out, scale = (40, 124), (8, 16), 2  # the prediction has half the image's resolution
    h, w = image_size[0] // scale, image_size[1] // scale
    # predictions equal to the image row / column of their pixel centres: bilinear sampling is exact on them
    columns = np.tile((np.arange(w) + 0.5) * scale - 0.5, (h, 1)).astype(np.float32)
    rows = np.tile(((np.arange(h) + 0.5) * scale - 0.5)[:, None], (1, w)).astype(np.float32)
    sampled_columns = centre_crop_resample(columns, image_size, out)
    sampled_rows = centre_crop_resample(rows, image_size, out)
    assert sampled_columns.shape == sampled_rows.shape == out
    assert centre_crop_box(image_size[1], image_size[0], out) == (22, 0, 102, 40)
    for axis, sampled in ((1, sampled_columns[3]), (0, sampled_rows[:, 5])):
        positions = {}
        for position in range(image_size[axis]):
            if (o := _moved_to(position, axis, image_size, out)) is not None:
                positions.setdefault(o, []).append(position)
        assert sorted(positions) == list(range(out[axis]))
        for o in range(1, out[axis] - 1):  # away from the replicated border
            # each output samples the middle of the image pixels whose GT lands on it (up to the rounding)
            assert abs(sampled[o] - np.mean(positions[o])) <= 0.5, (axis, o, sampled[o], positions[o])


@pytest.fixture()
def odometry_tree(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for frame in range(6):
        path = image_path(tmp_path, 0, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 124, 3), dtype=np.uint8)).save(path)
    split = tmp_path / "splits" / "odometry" / "test_files.txt"
    write_keyframes(split, [Keyframe(0, 2), Keyframe(0, 4)])
    return tmp_path, split


def _odometry_input(crop_size: tuple[int, int] | None = (8, 16)) -> CrossDatasetInput:
    return CrossDatasetInput("odometry", "odometry_keyframes", None, "s", "n", crop_size=crop_size)


def test_odometry_keyframes_are_read_as_monodepth2_reads_frames(odometry_tree: tuple[Path, Path]) -> None:
    root, split = odometry_tree
    test = CrossDatasetTest(_odometry_input(), root, split, (32, 96), [0, -1], KITTI_K, "ckpt")
    assert test.input_size == (32, 96) and len(test.samples) == 2
    assert test.image_paths == [image_path(root, 0, 2), image_path(root, 0, 4)]
    sample = test.samples[1]
    for frame, source in ((0, 4), (-1, 3)):
        expected = np.asarray(Image.open(image_path(root, 0, source)).convert("RGB").resize((96, 32), Image.LANCZOS))
        np.testing.assert_allclose(sample[("color", frame, 0)].numpy().transpose(1, 2, 0), expected / 255.0,
                                   atol=1e-6)
    np.testing.assert_allclose(sample[("K", 2)].numpy(), intrinsics_at(np.array(KITTI_K), 8, 24))
    inverse_depth = np.random.default_rng(1).uniform(0.1, 1.0, (2, 32, 96)).astype(np.float32)
    mapped = test.gt_frame(inverse_depth, 0)
    assert mapped.shape == (2, 8, 16)
    np.testing.assert_array_equal(mapped[1], centre_crop_resample(inverse_depth[1], (40, 124), (8, 16)))
    assert test.gt_frame(inverse_depth, 0) is not inverse_depth
    unmapped = CrossDatasetTest(_odometry_input(None), root, split, (32, 96), [0], KITTI_K, "ckpt")
    assert unmapped.gt_frame(inverse_depth, 0) is inverse_depth


def test_odometry_input_refuses_missing_frames_and_missing_intrinsics(odometry_tree: tuple[Path, Path]) -> None:
    root, split = odometry_tree
    with pytest.raises(FileNotFoundError, match=r"2 images of frames \[0, 4\] around the keyframes are missing"):
        CrossDatasetTest(_odometry_input(), root, split, (32, 96), [0, 4], KITTI_K, "ckpt")
    with pytest.raises(ValueError, match=r"ckpt: reader odometry_keyframes needs the dataset's intrinsics"):
        CrossDatasetTest(_odometry_input(), root, split, (32, 96), [0, -1], None, "ckpt")


def test_single_image_splits_refuse_multi_frame_methods(tmp_path: Path) -> None:
    spec = CrossDatasetInput("nyu_h5", "nyu_h5", (288, 384), "s", "n")
    with pytest.raises(ValueError, match=r"ckpt: test split 'nyu_h5' holds single images; a method testing on "
                                         r"frames \[0, -1\] cannot be run on it"):
        CrossDatasetTest(spec, tmp_path, tmp_path / "list.txt", (192, 640), [0, -1], None, "ckpt")


def test_to_dict_is_json_ready() -> None:
    spec = load_test_input(PROTOCOLS, "nyu_h5").to_dict()
    assert spec["window"] == [44, 471, 40, 601] and spec["size"] == [288, 384] and spec["crop_size"] is None
    assert spec["depth_range"] == [0.1, 10.0] and spec["reader"] == "nyu_h5"
