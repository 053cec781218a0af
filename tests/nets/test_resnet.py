"""ResNet key naming (torchvision's), the monodepth2 encoder and the ImageNet weight loader."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from depthrepro.nets.resnet import ResnetEncoder, load_imagenet_weights, resnet

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("DEPTHREPRO_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))

# torchvision's parameter counts (classification head included) and state-dict sizes.
TORCHVISION_NUM_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032,
                          101: 44_549_160, 152: 60_192_808}
TORCHVISION_NUM_KEYS = {18: 122, 34: 218, 50: 320, 101: 626, 152: 932}

RESNET18_BLOCK_KEYS = [f"{m}.{p}" for m in ("conv1", "bn1", "conv2", "bn2")
                       for p in (("weight",) if m.startswith("conv") else
                                 ("weight", "bias", "running_mean", "running_var",
                                  "num_batches_tracked"))]


def manifest_keys(folder: str, module: str) -> dict[str, list[int]]:
    path = FIXTURES / folder / "manifest.json"
    if not path.is_file():
        pytest.skip(f"FIXTURES MISSING: {path} (set DEPTHREPRO_FIXTURES); key check NOT run")
    state = json.loads(path.read_text())["modules"][module]["state_dict"]
    return {k.removeprefix("encoder."): spec["shape"] for k, spec in state.items()}


@pytest.mark.parametrize("num_layers", sorted(TORCHVISION_NUM_PARAMS))
def test_sizes_equal_torchvision(num_layers: int) -> None:
    with torch.device("meta"):
        model = resnet(num_layers)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_NUM_PARAMS[num_layers]
    assert len(model.state_dict()) == TORCHVISION_NUM_KEYS[num_layers]


def test_resnet18_keys_follow_torchvision_layout() -> None:
    keys = list(resnet(18).state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                        "bn1.running_var", "bn1.num_batches_tracked"]
    assert keys[6:6 + len(RESNET18_BLOCK_KEYS)] == [f"layer1.0.{k}" for k in RESNET18_BLOCK_KEYS]
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.running_var" in keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize(("num_layers", "folder", "module"), [
    (18, "monodepth2_depth", "encoder"),
    (50, "epcdepth_resnet50", "encoder"),  # EPCDepth wraps torchvision's resnet50 unchanged
])
def test_keys_and_shapes_equal_manifest(num_layers: int, folder: str, module: str) -> None:
    expected = manifest_keys(folder, module)
    state = resnet(num_layers).state_dict()
    assert list(state) == list(expected)
    assert {k: list(v.shape) for k, v in state.items()} == expected


def test_resnet50_bottleneck_layout() -> None:
    state = resnet(50).state_dict()
    assert state["layer1.0.conv3.weight"].shape == (256, 64, 1, 1)
    assert state["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)  # stride on the 3x3 conv
    assert state["layer4.0.downsample.0.weight"].shape == (2048, 1024, 1, 1)
    assert state["fc.weight"].shape == (1000, 2048)


@pytest.mark.parametrize(("num_layers", "channels"), [(18, [64, 64, 128, 256, 512]),
                                                       (50, [64, 256, 512, 1024, 2048])])
def test_encoder_features(num_layers: int, channels: list[int]) -> None:
    encoder = ResnetEncoder(num_layers).eval()
    assert encoder.num_ch_enc.tolist() == channels
    assert next(iter(encoder.state_dict())) == "encoder.conv1.weight"
    with torch.no_grad():
        features = encoder(torch.rand(1, 3, 64, 96))
    assert [f.shape[1] for f in features] == channels
    assert [f.shape[2:] for f in features] == [(64 // 2 ** i, 96 // 2 ** i) for i in range(1, 6)]


def fake_imagenet_file(tmp_path: Path, num_layers: int) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision-style checkpoint with random values and, like the oldest released files,
    without `num_batches_tracked` entries."""
    torch.manual_seed(1)
    state = {k: 1 + torch.rand_like(v) if k.endswith("running_var") else 0.1 * torch.randn_like(v)
             for k, v in resnet(num_layers).state_dict().items()
             if not k.endswith("num_batches_tracked")}
    path = tmp_path / f"resnet{num_layers}-fake.pth"
    torch.save(state, path)
    return path, state


def test_imagenet_loader_single_image(tmp_path: Path) -> None:
    path, state = fake_imagenet_file(tmp_path, 18)
    encoder = ResnetEncoder(18)
    load_imagenet_weights(encoder, path)
    loaded = encoder.encoder.state_dict()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)


def test_imagenet_loader_multi_image_conv1_rule(tmp_path: Path) -> None:
    path, state = fake_imagenet_file(tmp_path, 18)
    single, pair = ResnetEncoder(18), ResnetEncoder(18, num_input_images=2)
    load_imagenet_weights(single, path)
    load_imagenet_weights(pair, path)
    conv1 = pair.encoder.conv1.weight.detach()
    assert conv1.shape == (64, 6, 7, 7)
    torch.testing.assert_close(conv1, torch.cat([state["conv1.weight"]] * 2, 1) / 2)
    torch.testing.assert_close(pair.encoder.layer3[1].conv2.weight,
                               state["layer3.1.conv2.weight"], rtol=0, atol=0)
    # Two copies of one frame reproduce the single-image encoder.
    image = torch.rand(1, 3, 64, 64)
    single.eval()
    pair.eval()
    with torch.no_grad():
        expected = single(image)
        actual = pair(torch.cat([image, image], 1))
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)


def test_imagenet_loader_rejects_other_depth(tmp_path: Path) -> None:
    path, _ = fake_imagenet_file(tmp_path, 34)
    with pytest.raises(RuntimeError, match="resnet34-fake.pth"):
        load_imagenet_weights(ResnetEncoder(18), path)
