"""The dynamic multi-frame method: SILog and virtual-normal losses against hand computations, training
on a fixed batch, the frozen backbone, flip augmentation, replica slices and checkpoints (including
the authors' file format, read without their code)."""
from __future__ import annotations

import os
import pickle
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from depthrepro.io.released import ReleasedObject
from depthrepro.losses.silog_vnl import sample_triplets, silog_loss, valid_triplets, virtual_normal_loss
from depthrepro.methods.dymultidepth import DyMultiDepth, read_released_checkpoint
from depthrepro.methods.registry import build_method
from depthrepro.nets.efficientnet import EfficientNetB5

from fixturekit import fill_state, manifest

HEIGHT, WIDTH = 32, 64
SMALL = {"height": HEIGHT, "width": WIDTH}
ARCH_NAME = "DyMultiDepthModel"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _batch(seed: int = 0, batch: int = 2) -> dict[str, torch.Tensor]:
    """Random images, a forward-moving camera, and sparse GT of a slanted ground plane."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, 3, HEIGHT, WIDTH, generator=g) - 0.5
    K = torch.tensor([[60.0, 0, WIDTH / 2, 0], [0, 60, HEIGHT / 2, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    step = torch.eye(4)
    step[2, 3] = 0.8
    key_pose = torch.eye(4)
    rows = torch.arange(HEIGHT, dtype=torch.float32).view(-1, 1).expand(HEIGHT, WIDTH)
    depth = 4.0 + 40.0 * (1 - rows / HEIGHT)
    sparse = (torch.rand(batch, 1, HEIGHT, WIDTH, generator=g) < 0.3).float()
    return {"keyframe": images[:, 0], "frames": images[:, 1:],
            "keyframe_pose": key_pose.expand(batch, 4, 4).clone(),
            "poses": torch.stack([torch.linalg.inv(step), step]).expand(batch, 2, 4, 4).clone(),
            "keyframe_intrinsics": K.expand(batch, 4, 4).clone(), "intrinsics": K.expand(batch, 2, 4, 4).clone(),
            "target": sparse / depth}


def test_silog_matches_a_hand_computation() -> None:
    pred = torch.tensor([[[[0.5, 0.25], [0.1, 0.2]]]])
    gt = torch.tensor([[[[0.4, 0.0], [0.125, 0.25]]]])
    g = np.log(1 / np.array([0.5, 0.1, 0.2])) - np.log(1 / np.array([0.4, 0.125, 0.25]))
    expected = 10 * np.sqrt(np.var(g, ddof=1) + 0.15 * np.mean(g) ** 2)
    assert silog_loss(pred, gt).item() == pytest.approx(expected, rel=1e-6)


def _unit_normal(p: np.ndarray) -> np.ndarray:
    n = np.cross(p[1] - p[0], p[2] - p[0])
    return n / np.linalg.norm(n)


def test_virtual_normal_loss_matches_a_hand_computation() -> None:
    height, width, fx, fy = 4, 6, 2.0, 2.0
    gt = torch.full((1, 1, height, width), 2.0)
    gt[0, 0, 0, 0] = 0.0                                 # no GT at (0, 0)
    cols = torch.arange(width, dtype=torch.float32)
    pred = (2.0 + 0.3 * cols + 0.1 * torch.arange(height, dtype=torch.float32).view(-1, 1)).view(1, 1, height, width)
    usable = [((1, 1), (1, 4), (3, 2)), ((0, 2), (3, 5), (2, 0)), ((3, 0), (0, 1), (2, 5)), ((2, 1), (0, 4), (3, 5))]
    rejected = [((0, 0), (2, 3), (3, 1)),                 # a point without GT
                ((2, 0), (2, 2), (2, 5)),                 # collinear
                ((1, 2), (1, 2), (1, 2))]                 # all three points coincide
    triplets = torch.tensor([[r * width + c for r, c in t] for t in usable + rejected]).T

    def point(depth: torch.Tensor, r: int, c: int) -> np.ndarray:
        z = float(depth[0, 0, r, c])
        return np.array([(c - width // 2) * z / fx, (r - height // 2) * z / fy, z])

    errors = sorted(np.abs(_unit_normal(np.stack([point(gt, *rc) for rc in t]))
                           - _unit_normal(np.stack([point(pred, *rc) for rc in t]))).sum() for t in usable)
    expected = np.mean(errors[1:])                       # int(4 · 0.25) = 1 smallest error dropped
    loss = virtual_normal_loss(gt, pred, fx, fy, triplets)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    gt_points = torch.tensor(np.stack([np.stack([point(gt, *rc) for rc in t]) for t in usable + rejected]))
    assert valid_triplets(gt_points.unsqueeze(0).float())[0].tolist() == [True] * 4 + [False] * 3


def test_virtual_normal_loss_without_usable_triplets_is_zero_and_connected() -> None:
    pred = torch.full((1, 1, 4, 6), 3.0, requires_grad=True)
    loss = virtual_normal_loss(torch.zeros(1, 1, 4, 6), pred, 2.0, 2.0, torch.tensor([[0], [7], [20]]))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_triplet_sampling_is_reproducible() -> None:
    a = sample_triplets(256, 512, generator=torch.Generator().manual_seed(3))
    b = sample_triplets(256, 512, generator=torch.Generator().manual_seed(3))
    assert a.shape == (3, int(256 * 512 * 0.15)) == (3, 19660)
    assert torch.equal(a, b) and 0 <= a.min() and a.max() < 256 * 512


def test_training_lowers_the_loss_and_skips_the_frozen_backbone() -> None:
    torch.manual_seed(0)
    method = build_method("dymultidepth", SMALL)
    assert isinstance(method, DyMultiDepth)
    batch = _batch()
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=1e-3, amsgrad=True)

    def evaluate() -> float:
        torch.manual_seed(123)                           # same flips and triplets each time
        with torch.no_grad():
            return method.training_step(batch)[0].item()

    method.train()
    before = evaluate()
    for _ in range(5):
        loss, logs = method.training_step(batch)
        assert torch.isfinite(loss) and set(logs) == {"loss", "loss/silog_multi", "loss/silog_mono",
                                                      "loss/vnl_multi", "loss/vnl_mono"}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = evaluate()
    print(f"\nloss before {before:.3f}, after {after:.3f}")
    assert after < 0.9 * before, (before, after)
    backbone = method.network._feature_extractor
    assert all(not p.requires_grad and p.grad is None for p in backbone.parameters())
    # Its BatchNorm layers still train (as in the reference): the running statistics moved.
    assert backbone.encoder.bn1.num_batches_tracked.item() == 7


def test_gradients_reach_every_trainable_module() -> None:
    torch.manual_seed(0)
    method = build_method("dymultidepth", {**SMALL, "freeze_backbone": False})
    with torch.no_grad():
        method.network.fusion_module.gamma.fill_(0.5)     # 0 at initialisation hides the attention path
    loss, _ = method.training_step(_batch())
    loss.backward()
    unused = tuple(f"_feature_extractor.encoder.{name}." for name in ("layer3", "layer4", "fc"))
    for name, p in method.network.named_parameters():
        assert p.requires_grad or name.startswith("_feature_extractor.encoder.fc."), name  # the unused classifier
        if name.startswith(unused):
            assert p.grad is None, f"{name}: the decoders never use this feature"
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient"


def test_predictions_branches_flip_and_replica_slices() -> None:
    torch.manual_seed(0)
    method = build_method("dymultidepth", {**SMALL, "replica_batch_size": 1}).eval()
    batch = _batch()
    with torch.no_grad():
        inv = method.predict_inverse_depth(batch)
        outputs = method.network(batch["keyframe"], batch["keyframe_pose"], batch["keyframe_intrinsics"],
                                 list(batch["frames"].unbind(1)), list(batch["poses"].unbind(1)),
                                 list(batch["intrinsics"].unbind(1)))
    assert inv.shape == (2, 1, HEIGHT, WIDTH)
    assert 0.0025 <= inv.min() and inv.max() <= 0.33
    torch.testing.assert_close(inv, outputs["predicted_inverse_depths"][0])
    mono = build_method("dymultidepth", {**SMALL, "eval_mono": True}).eval()
    mono.load_checkpoint_state(method.checkpoint_state())
    with torch.no_grad():
        torch.testing.assert_close(mono.predict_inverse_depth(batch), outputs["predicted_inverse_depths_mono"][0])

    # Training mode: BatchNorm statistics per slice of one sample, as the reference's 8 single-sample replicas.
    method.train()
    single = {k: v[:1] for k, v in batch.items()}
    with torch.no_grad():
        sliced = method._run(batch, None)["predicted_inverse_depths"][0]
        alone = method._run(single, None)["predicted_inverse_depths"][0]
    torch.testing.assert_close(sliced[:1], alone)


def test_flip_augmentation_mirrors_inputs_and_reverts_predictions() -> None:
    """On a left-right symmetric scene (mirror-symmetric images, principal point at (W - 1) / 2,
    motion along the optical axis) the cost volume is symmetric, so the flipped network sees the same
    inputs and its reverted predictions are the mirrored unflipped ones."""
    torch.manual_seed(0)
    method = build_method("dymultidepth", SMALL).eval()
    batch = _batch(batch=1)
    for key in ("keyframe", "frames"):
        half = batch[key][..., : WIDTH // 2]
        batch[key] = torch.cat([half, half.flip(-1)], -1)
    K = batch["keyframe_intrinsics"].clone()
    K[:, 0, 2] = (WIDTH - 1) / 2
    batch["keyframe_intrinsics"], batch["intrinsics"] = K, K.unsqueeze(1).expand(1, 2, 4, 4).clone()
    with torch.no_grad():
        plain = method._run(batch, None)
        flipped = method._run(batch, torch.tensor([True]))
    for name in ("predicted_inverse_depths", "predicted_inverse_depths_mono"):
        for a, b in zip(plain[name], flipped[name], strict=True):
            torch.testing.assert_close(b, a.flip(-1), rtol=1e-4, atol=1e-5)


def test_checkpoint_round_trip_and_released_layout() -> None:
    a = build_method("dymultidepth", SMALL)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    b = build_method("dymultidepth", SMALL)
    b.load_checkpoint_state(a.checkpoint_state())
    for (k, x), y in zip(a.network.state_dict().items(), b.network.state_dict().values(), strict=True):
        assert torch.equal(x, y), k

    # The authors' layout: keys of the official model, saved from an 8-GPU DataParallel run.
    official = manifest("dymultidepth_resnet18")["modules"]["model"]["state_dict"]
    filled = fill_state({k: torch.zeros(v["shape"], dtype=getattr(torch, v["dtype"])) for k, v in official.items()})
    released = {"arch": "DataParallel", "epoch": 80, "state_dict": {f"module.{k}": v for k, v in filled.items()},
                "monitor_best": 0.05, "config": ReleasedObject()}
    b.load_checkpoint_state(released)
    for k, v in b.network.state_dict().items():
        assert torch.equal(v, filled[k]), k

    broken = dict(filled)
    broken["fusion_module.gama"] = broken.pop("fusion_module.gamma")
    names = r"missing keys \['fusion_module.gamma'\], unexpected keys \['fusion_module.gama'\]"
    with pytest.raises(KeyError, match=names):
        b.load_checkpoint_state({"arch": ARCH_NAME, "state_dict": broken})
    with pytest.raises(KeyError, match="expected a dict with 'state_dict'"):
        b.load_checkpoint_state(filled)



class _CopyPayload:
    """Unpickling this would copy a file: the safe loader must not run it."""

    def __init__(self, source: Path, target: Path) -> None:
        self.source, self.target = source, target

    def __reduce__(self) -> tuple:
        return (shutil.copyfile, (str(self.source), str(self.target)))


class _MkdirPayload(_CopyPayload):
    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.target),))


def _stand_in_config_parser(monkeypatch: pytest.MonkeyPatch) -> type:
    """A class importable as the authors' `utils.parse_config.ConfigParser` while saving."""
    package, module = types.ModuleType("utils"), types.ModuleType("utils.parse_config")

    class ConfigParser:
        def __init__(self) -> None:
            self._config = {"name": "dy_multi_depth", "arch": {"type": ARCH_NAME}}
            self.cfg_fname = Path("configs/train/train_mr_resnet18.json")

    ConfigParser.__module__, ConfigParser.__qualname__ = "utils.parse_config", "ConfigParser"
    module.ConfigParser = ConfigParser
    package.parse_config = module
    monkeypatch.setitem(sys.modules, "utils", package)
    monkeypatch.setitem(sys.modules, "utils.parse_config", module)
    return ConfigParser


def test_released_checkpoint_is_read_without_the_official_code(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A file pickled with a stand-in of the authors' `utils.parse_config.ConfigParser` (plus numpy
    scalars, paths, an optimizer state and a payload that would run code) opens, and its model loads."""
    config_parser = _stand_in_config_parser(monkeypatch)
    method = build_method("dymultidepth", SMALL)
    state = method.checkpoint_state()["state_dict"]
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([param], amsgrad=True)
    param.grad = torch.ones(3)
    optimizer.step()
    source, copied = tmp_path / "source.txt", tmp_path / "copied.txt"
    source.write_text("x")
    path = tmp_path / "mr_kitti_resnet18.pth"
    torch.save({"arch": "DataParallel", "epoch": 80, "state_dict": {f"module.{k}": v for k, v in state.items()},
                "optimizer": optimizer.state_dict(), "monitor_best": np.float64(0.05), "config": config_parser(),
                "extra": _CopyPayload(source, copied)}, path)
    hostile = tmp_path / "hostile.pth"
    torch.save({"state_dict": {}, "extra": _MkdirPayload(source, tmp_path / "made")}, hostile)
    monkeypatch.delitem(sys.modules, "utils.parse_config")
    monkeypatch.delitem(sys.modules, "utils")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)              # torch's default refuses the file

    checkpoint = read_released_checkpoint(path)
    assert not copied.exists()
    config = checkpoint["config"]
    assert isinstance(config, ReleasedObject) and type(config).__module__ == "utils.parse_config"
    assert config.state["_config"]["name"] == "dy_multi_depth"
    assert checkpoint["epoch"] == 80 and isinstance(checkpoint["extra"], ReleasedObject)
    other = build_method("dymultidepth", SMALL)
    other.load_checkpoint_state(checkpoint)
    for k, v in other.network.state_dict().items():
        assert torch.equal(v, state[k]), k
    # Globals of the os module stay refused by torch's weights-only unpickler.
    with pytest.raises(pickle.UnpicklingError, match="posix|os"):
        read_released_checkpoint(hostile)
    assert not (tmp_path / "made").exists()


def test_efficientnet_backbone_loads_gen_efficientnet_imagenet_files(tmp_path: Path) -> None:
    """gen-efficientnet's ImageNet file holds the trunk plus `classifier.*`; the classifier is dropped."""
    method = build_method("dymultidepth", {**SMALL, "backbone": "efficientnetb5", "freeze_backbone": False})
    trunk = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in EfficientNetB5().state_dict().items()}
    path = tmp_path / "tf_efficientnet_b5_ap-9e82fae8.pth"
    torch.save({**trunk, "classifier.weight": torch.zeros(1000, 2048), "classifier.bias": torch.zeros(1000)}, path)
    method.init_from_imagenet(path)
    loaded = method.network._feature_extractor.original_model.state_dict()
    for k, v in trunk.items():
        assert torch.equal(loaded[k], v), k
    del trunk["conv_head.weight"]
    torch.save(trunk, path)
    with pytest.raises(KeyError, match="missing keys \\['conv_head.weight'\\]"):
        method.init_from_imagenet(path)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(KeyError, match="unknown keys"):
        build_method("dymultidepth", {**SMALL, "learning_rate": 1})
    with pytest.raises(ValueError, match="backbone"):
        build_method("dymultidepth", {**SMALL, "backbone": "vgg"})
    with pytest.raises(ValueError, match="multiples of 32"):
        build_method("dymultidepth", {"height": 100, "width": 200})
    c = build_method("dymultidepth", {**SMALL, "inv_depth_min_max": [0.5, 0.01]}).config
    assert c.inv_depth_min_max == (0.5, 0.01) and c.min_depth == 2.0 and c.max_depth == 100.0
