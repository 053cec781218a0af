"""The Monodepth2 method: registry, training step, checkpoints, optimisation."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from depthrepro.methods.monodepth2 import Monodepth2
from depthrepro.methods.registry import available_methods, build_method

HEIGHT, WIDTH = 64, 192


def synthetic_batch(frame_ids: list[Any], batch: int = 2, seed: int = 0) -> dict[Any, torch.Tensor]:
    """Monodepth2-style inputs: one smooth random texture seen through horizontal shifts."""
    generator = torch.Generator().manual_seed(seed)
    margin = 16
    texture = torch.rand(batch, 3, HEIGHT // 8, (WIDTH + 2 * margin) // 8, generator=generator)
    texture = F.interpolate(texture, (HEIGHT, WIDTH + 2 * margin), mode="bilinear",
                            align_corners=False)
    shifts = {f: (3 if f == "s" else 2 * f) for f in frame_ids}
    inputs: dict[Any, torch.Tensor] = {}
    for f in frame_ids:
        full = texture[..., margin + shifts[f]: margin + shifts[f] + WIDTH].contiguous()
        for s in range(4):
            image = F.interpolate(full, (HEIGHT // 2 ** s, WIDTH // 2 ** s), mode="area")
            inputs[("color", f, s)] = image
            inputs[("color_aug", f, s)] = image
    for s in range(4):
        K = torch.tensor([[0.58 * WIDTH / 2 ** s, 0, 0.5 * WIDTH / 2 ** s, 0],
                          [0, 1.92 * HEIGHT / 2 ** s, 0.5 * HEIGHT / 2 ** s, 0],
                          [0, 0, 1, 0], [0, 0, 0, 1]])
        inputs[("K", s)] = K.expand(batch, 4, 4).clone()
        inputs[("inv_K", s)] = torch.linalg.inv(K).expand(batch, 4, 4).clone()
    if "s" in frame_ids:
        stereo_T = torch.eye(4)
        stereo_T[0, 3] = 0.1
        inputs["stereo_T"] = stereo_T.expand(batch, 4, 4).clone()
    return inputs


def make_model(**overrides: Any) -> Monodepth2:
    torch.manual_seed(0)
    cfg: dict[str, Any] = {"height": HEIGHT, "width": WIDTH, **overrides}
    model = build_method("monodepth2", cfg)
    assert isinstance(model, Monodepth2)
    return model


def test_registry() -> None:
    assert "monodepth2" in available_methods()
    with pytest.raises(KeyError, match="monodepth2"):
        build_method("no_such_method", {})


def test_config_is_validated() -> None:
    with pytest.raises(KeyError, match="disparity_smothness"):
        make_model(disparity_smothness=1e-3)
    with pytest.raises(ValueError, match="frame_ids"):
        make_model(frame_ids=[-1, 0, 1])
    with pytest.raises(ValueError, match="multiples of 32"):
        Monodepth2({"height": 100, "width": 320})


def test_training_step_gives_gradients_to_depth_and_pose() -> None:
    model = make_model().train()
    loss, logs = model.training_step(synthetic_batch([0, -1, 1]))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(logs) == {"loss", "loss/0", "loss/1", "loss/2", "loss/3"}
    assert logs["loss"] == pytest.approx(loss.item())
    loss.backward()
    for name, params in (("depth", model.depth_parameters()), ("pose", model.pose_parameters())):
        grads = [p.grad for p in params if p.grad is not None]
        assert grads, f"no gradient reached the {name} network"
        assert sum(g.abs().sum().item() for g in grads) > 0, name
        assert all(torch.isfinite(g).all() for g in grads), name
    assert len(list(model.parameters())) == (len(model.depth_parameters())
                                             + len(model.pose_parameters()))


def test_noise_comes_from_the_torch_rng() -> None:
    model = make_model(scales=[0]).eval()
    inputs = synthetic_batch([0, -1, 1])
    with torch.no_grad():
        torch.manual_seed(3)
        first = model.training_step(inputs)[0]
        torch.manual_seed(3)
        assert model.training_step(inputs)[0] == first
        assert model.training_step(inputs)[0] != first


@pytest.mark.parametrize("overrides", [
    {"frame_ids": [0, "s"]},
    {"frame_ids": [0, -1, 1, "s"]},
    {"avg_reprojection": True, "disable_automasking": True, "scales": [0]},
    {"v1_multiscale": True, "pose_model_input": "all"},
], ids=["S", "MS", "avg-nomask", "v1-all"])
def test_variants_train(overrides: dict[str, Any]) -> None:
    model = make_model(**overrides).train()
    frame_ids = overrides.get("frame_ids", [0, -1, 1])
    with torch.no_grad():
        loss, logs = model.training_step(synthetic_batch(frame_ids))
    assert torch.isfinite(loss) and loss > 0
    assert len(logs) == len(overrides.get("scales", [0, 1, 2, 3])) + 1
    assert (model.pose is None) == (frame_ids == [0, "s"])


def test_stereo_only_has_no_pose_network() -> None:
    model = make_model(frame_ids=[0, "s"])
    assert model.pose_encoder is None and model.pose is None and model.pose_parameters() == []
    state = model.checkpoint_state()
    assert sorted(state) == ["depth", "encoder"] and state["encoder"]["use_stereo"] is True


def test_other_batch_size_at_eval_time() -> None:
    model = make_model(scales=[0]).train()
    with torch.no_grad():
        model.training_step(synthetic_batch([0, -1, 1], batch=2))
        assert model.training_step(synthetic_batch([0, -1, 1], batch=3))[0].isfinite()
        model.eval()
        disp = model.predict_disparity(torch.rand(1, 3, HEIGHT, WIDTH))
    assert disp.shape == (1, 1, HEIGHT, WIDTH) and disp.min() > 0 and disp.max() < 1


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = make_model().train()
    with torch.no_grad():
        model.training_step(synthetic_batch([0, -1, 1]))  # moves the BatchNorm statistics
    for name, state in model.checkpoint_state().items():
        torch.save(state, tmp_path / f"{name}.pth")
    encoder_file = torch.load(tmp_path / "encoder.pth", weights_only=True)
    assert (encoder_file["height"], encoder_file["width"]) == (HEIGHT, WIDTH)
    assert encoder_file["use_stereo"] is False
    assert "encoder.conv1.weight" in encoder_file
    assert "net.0.weight" in torch.load(tmp_path / "pose.pth", weights_only=True)

    torch.manual_seed(1)
    restored = Monodepth2({"height": HEIGHT, "width": WIDTH})
    restored.load_checkpoint_state({name: torch.load(tmp_path / f"{name}.pth", weights_only=True)
                                    for name in ("encoder", "depth", "pose_encoder", "pose")})
    for key, value in model.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value, rtol=0, atol=0, msg=key)
    model.eval()
    restored.eval()
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        expected = model.predict_disparity(image)
        torch.testing.assert_close(restored.predict_disparity(image), expected)


def test_checkpoint_errors_name_the_file() -> None:
    model = make_model()
    state = model.checkpoint_state()
    with pytest.raises(KeyError, match="pose_encoder.pth"):
        model.load_checkpoint_state({"encoder": state["encoder"], "depth": state["depth"]})
    model.load_checkpoint_state({"encoder": state["encoder"], "depth": state["depth"]},
                                require_pose=False)
    broken = dict(state["depth"])
    broken.pop("decoder.10.conv.bias")
    with pytest.raises(KeyError, match=r"depth\.pth.*decoder\.10\.conv\.bias"):
        model.load_checkpoint_state({**state, "depth": broken})


def test_optimisation_decreases_the_loss() -> None:
    model = make_model().train()
    inputs = synthetic_batch([0, -1, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(4):
        loss, _ = model.training_step(inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
