"""FeatDepth's EuRoC configurations: the params files hold cfg_euroc_autoencoder.py / cfg_euroc_fm.py, and both
models take a training step on batches the EuRoC loader builds from the synthetic tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from depthrepro.data.formats import DataSources, training_dataset
from depthrepro.methods.featdepth import FeatDepth
from depthrepro.methods.featdepth_autoencoder import FeatDepthAutoencoder
from depthrepro.methods.params_file import model_config
from depthrepro.methods.registry import build_method
from depthrepro.synth.euroc import render_euroc
from depthrepro.train.optim import Schedule

PARAMS = Path(__file__).resolve().parents[2] / "params" / "methods"

pytestmark = pytest.mark.usefixtures("one_thread")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((PARAMS / f"{name}.yaml").read_text())


@pytest.fixture(scope="module")
def euroc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("euroc")
    render_euroc(root, preset="tiny", seed=0, workers=1)
    return root


def euroc_batch(root: Path, params: dict[str, Any], height: int, width: int) -> dict[Any, torch.Tensor]:
    """Two training samples of the params file's sequence split, as the trainer's loader batches them."""
    split = root / "splits" / params["train_split"] / "train_files.txt"
    data = training_dataset(params["data"], DataSources(root, split), height, width,
                            params["model"]["frame_ids"], None, 0, "test")
    return torch.utils.data.default_collate([data[0], data[1]])


def test_params_files_hold_the_euroc_configs() -> None:
    autoencoder, depth = load("featdepth_euroc_autoencoder"), load("featdepth_euroc")
    for params in (autoencoder, depth):
        assert params["data"]["format"] == "euroc" and params["protocol"] is None and params["test_split"] is None
        assert params["data"]["intrinsics"] == {"fx": 435.2047, "fy": 435.2047, "width": 752, "height": 480}
        for name, profile in params["profiles"].items():
            Schedule.from_profile(profile, name)
            with torch.device("meta"):
                build_method(params["method"], model_config(params, profile))
    assert autoencoder["method"] == "featdepth_autoencoder" and autoencoder["train_split"] == "MH_04_difficult"
    assert depth["method"] == "featdepth" and depth["train_split"] == "MH_02_easy"
    assert depth["depends_on"] == {"extractor": "featdepth_euroc_autoencoder"}
    model = depth["model"]
    assert model["frame_ids"] == [0, -1, 1, "s"] and model["max_depth"] == 50.0 and model["stereo_baseline"] == 0.1
    assert not model["automask"] and not model["disp_norm"] and model["pose_input_size"] == [192, 640]
    paper = {name: params["profiles"]["paper"] for name, params in (("ae", autoencoder), ("fm", depth))}
    assert [(p["height"], p["width"], p["batch_size"], p["num_epochs"], p["lr_schedule"]["milestones"])
            for p in paper.values()] == [(480, 768, 3, 30, [10, 20]), (480, 768, 2, 80, [20, 30])]


def test_featdepth_trains_a_step_on_a_euroc_batch(euroc_root: Path) -> None:
    """A finite loss whose gradient reaches the depth and pose networks, not the frozen extractor."""
    params = load("featdepth_euroc")
    smoke = params["profiles"]["smoke"]
    torch.manual_seed(0)
    model = build_method("featdepth", model_config(params, smoke))
    assert isinstance(model, FeatDepth)
    ae_params = load("featdepth_euroc_autoencoder")
    feature_net = build_method("featdepth_autoencoder", model_config(ae_params, ae_params["profiles"]["smoke"]))
    model.init_from_dependency("extractor", {"method": "featdepth_autoencoder",
                                             "state": feature_net.checkpoint_state()})
    batch = euroc_batch(euroc_root, params, smoke["height"], smoke["width"])
    assert batch[("color", "s", 0)].shape == (2, 3, smoke["height"], smoke["width"])
    loss, logs = model.train().training_step(batch)
    assert torch.isfinite(loss) and loss.ndim == 0 and logs["loss/feature_metric"] > 0
    loss.backward()
    assert all(p.grad is None for p in model.extractor.parameters())
    for name in ("DepthEncoder", "DepthDecoder", "PoseEncoder", "PoseDecoder"):
        grads = [p.grad for n, p in getattr(model, name).named_parameters() if not n.startswith("encoder.fc")]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert sum(g.abs().sum().item() for g in grads) > 0, name


def test_autoencoder_trains_a_step_on_a_euroc_batch(euroc_root: Path) -> None:
    params = load("featdepth_euroc_autoencoder")
    smoke = params["profiles"]["smoke"]
    torch.manual_seed(0)
    model = build_method("featdepth_autoencoder", model_config(params, smoke))
    assert isinstance(model, FeatDepthAutoencoder)
    loss, _ = model.train().training_step(euroc_batch(euroc_root, params, smoke["height"], smoke["width"]))
    assert torch.isfinite(loss)
    loss.backward()
    for name in ("Encoder", "Decoder"):
        grads = [p.grad for n, p in getattr(model, name).named_parameters() if not n.startswith("encoder.fc")]
        assert all(g is not None for g in grads) and sum(g.abs().sum().item() for g in grads) > 0, name
