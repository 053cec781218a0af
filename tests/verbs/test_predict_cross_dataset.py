"""`depthrepro predict --test-input`: a KITTI-format checkpoint on NYUv2 h5 files (window, input size and
test-time depth range of the definition) and a multi-frame one on odometry keyframes (re-sampled onto the
GT's centre crop)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from depthrepro.cli import main
from depthrepro.data.cross_dataset import centre_crop_resample
from depthrepro.data.kitti_odometry import KittiOdometryTestSamples
from depthrepro.data.nyu_h5 import NyuH5TestSamples
from depthrepro.geometry.camera import disp_to_depth
from depthrepro.io.kitti_odometry import Keyframe, OdomSplitEntry, image_path, write_keyframes
from depthrepro.io.nyu_h5 import h5_relative_path, write_h5_list, write_nyu_h5
from depthrepro.methods.registry import build_method

PARAMS = Path(__file__).resolve().parents[2] / "params"
KITTI_K = np.array([[0.58, 0.0, 0.5], [0.0, 1.92, 0.5]])
NYU_INPUT = {"reader": "nyu_h5", "window": [4, 20, 3, 27], "size": [64, 128], "depth_range": [0.1, 10.0],
             "source": "test", "notes": "test"}
ODOMETRY_INPUT = {"reader": "odometry_keyframes", "size": "model", "output": {"kind": "centre_crop", "size": [8, 16]},
                  "source": "test", "notes": "test"}


def _checkpoint(path: Path, name: str, height: int, width: int) -> torch.nn.Module:
    params = yaml.safe_load((PARAMS / "methods" / f"{name}.yaml").read_text())
    cfg = {**params["model"], "height": height, "width": width}
    torch.manual_seed(0)
    model = build_method(name, cfg)
    torch.save({"method": name, "params_name": name, "model_cfg": cfg, "trained_with_stereo": False,
                "data": params["data"], "stage": "final", "state": model.checkpoint_state()}, path)
    return model.eval()


def _predict(tmp_path: Path, checkpoint: Path, images: Path, split: Path, test_input: str) -> dict[str, np.ndarray]:
    protocols = tmp_path / "protocols.yaml"
    protocols.write_text(yaml.safe_dump({"protocols": {}, "test_inputs": {"nyu_h5": NYU_INPUT,
                                                                          "odometry": ODOMETRY_INPUT}}))
    out = tmp_path / "pred.npz"
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", str(images), "--split-file", str(split),
                 "--dataset", "synthetic_kitti_tiny", "--datasets-file", str(PARAMS / "datasets.yaml"),
                 "--out", str(out), "--test-input", test_input, "--protocols-file", str(protocols)]) == 0
    with np.load(out) as archive:
        return {key: archive[key] for key in archive.files}


def test_a_kitti_checkpoint_on_nyu_h5_files(tmp_path: Path, one_thread: None) -> None:
    rng = np.random.default_rng(0)
    for index in (1, 2):
        write_nyu_h5(tmp_path / h5_relative_path(index), rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
                     np.full((24, 32), 3.0))
    split = tmp_path / "test_files.txt"
    write_h5_list(split, [1, 2])
    model = _checkpoint(tmp_path / "final.pt", "monodepth2", 64, 96)
    pred = _predict(tmp_path, tmp_path / "final.pt", tmp_path, split, "nyu_h5")
    assert pred["disp"].shape == pred["disp_flipped"].shape == (2, 64, 128)  # the definition's size, not 64x96
    assert pred["entries"].tolist() == ["nyu_test/00001.h5", "nyu_test/00002.h5"]
    assert pred["image_paths"].tolist() == [str(tmp_path / "nyu_test/00001.h5"), str(tmp_path / "nyu_test/00002.h5")]
    assert json.loads(str(pred["test_input"]))["window"] == NYU_INPUT["window"]
    color = torch.stack([s[("color", 0, 0)] for s in NyuH5TestSamples(tmp_path, split, 64, 128, NYU_INPUT["window"])])
    with torch.no_grad():
        sigmoid = model.predict_disparity(color)
        flipped = model.predict_disparity(color.flip(-1)).flip(-1)
    np.testing.assert_allclose(pred["disp"], disp_to_depth(sigmoid, 0.1, 10.0)[0][:, 0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(pred["disp_flipped"], disp_to_depth(flipped, 0.1, 10.0)[0][:, 0].numpy(), rtol=1e-5)
    model_range = disp_to_depth(sigmoid, model.config.min_depth, model.config.max_depth)[0][:, 0].numpy()
    assert not np.allclose(pred["disp"], model_range, rtol=1e-4)  # the test-time range, not the training one


def test_a_multi_frame_checkpoint_on_odometry_keyframes(tmp_path: Path, one_thread: None) -> None:
    rng = np.random.default_rng(1)
    for frame in range(5):
        path = image_path(tmp_path, 0, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 124, 3), dtype=np.uint8)).save(path)
    split = tmp_path / "test_files.txt"
    write_keyframes(split, [Keyframe(0, 1), Keyframe(0, 3)])
    model = _checkpoint(tmp_path / "final.pt", "manydepth", 64, 128)
    pred = _predict(tmp_path, tmp_path / "final.pt", tmp_path, split, "odometry")
    assert pred["disp"].shape == (2, 8, 16) and "disp_flipped" not in pred
    assert pred["test_frames"].tolist() == ["0", "-1"]
    assert pred["image_paths"].tolist() == [str(image_path(tmp_path, 0, 1)), str(image_path(tmp_path, 0, 3))]
    samples = KittiOdometryTestSamples(tmp_path, [OdomSplitEntry(0, 1, "l"), OdomSplitEntry(0, 3, "l")], 64, 128,
                                       KITTI_K, [0, -1], "png")
    batch = torch.utils.data.default_collate([samples[0], samples[1]])
    with torch.no_grad():
        inverse = disp_to_depth(model.predict_disparity(batch), 0.1, 100.0)[0][:, 0].numpy()
    expected = np.stack([centre_crop_resample(i, (40, 124), (8, 16)) for i in inverse])
    np.testing.assert_allclose(pred["disp"], expected, rtol=1e-5)


def test_an_unknown_test_input_is_refused(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "final.pt", "monodepth2", 64, 96)
    split = tmp_path / "test_files.txt"
    write_h5_list(split, [1])
    with pytest.raises(KeyError, match=r"no test_inputs\.eigen"):
        _predict(tmp_path, tmp_path / "final.pt", tmp_path, split, "eigen")
