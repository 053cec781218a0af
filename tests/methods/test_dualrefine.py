"""The DualRefine method: config, loss weighting and terms, freezing, prediction, checkpoints,
ImageNet initialisation and optimisation."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml

from depthrepro.geometry.camera import disp_to_depth
from depthrepro.methods.dualrefine import (POSE_UPDATE_TERM, DualRefine, combine_loss_terms,
                                           iteration_pairs)
from depthrepro.methods.registry import available_methods, build_method
from depthrepro.nets.dualrefine import RefinementOptions
from depthrepro.nets.hrnet import HRNetW18
from depthrepro.nets.resnet import resnet

from fixturekit import fill_state, manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEIGHT, WIDTH = 32, 64
TRAINED = ("conv2", "context", "hidden", "update_block")
# Parameters the official forward pass never uses in training (kept for the checkpoint layout):
# the scale-1 branch (its loss is skipped), the overwritten scale-0 head, pose nets 1 and 2, ...
UNUSED_IN_TRAINING = ("net.reproject_2.delta_p", "net.update_block.encoder.convp",
                      "net.decoder.convs.up_x9_", "net.decoder.convs.9.",
                      "net.decoder.convs.dispConvScale0.", "net.decoder.convs.dispConvScale1.",
                      "net.pnets.0.0.fc.", "net.pnets.1.", "net.pnets.2.",
                      "net.pose_update.norm1.", "net.pose_update.feats.")


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(**overrides: Any) -> DualRefine:
    torch.manual_seed(0)
    model = build_method("dualrefine", {"height": HEIGHT, "width": WIDTH, "f_thres": 3,
                                        **overrides})
    assert isinstance(model, DualRefine)
    return model


def intrinsics(batch: int, scale: int, height: int = HEIGHT, width: int = WIDTH) -> torch.Tensor:
    K = torch.tensor([[0.58 * width / 2 ** scale, 0, 0.5 * width / 2 ** scale, 0],
                      [0, 1.92 * height / 2 ** scale, 0.5 * height / 2 ** scale, 0],
                      [0, 0, 1, 0], [0, 0, 0, 1]])
    return K.expand(batch, 4, 4).clone()


def synthetic_batch(batch: int = 2, seed: int = 0, static: bool = False) -> dict[Any, torch.Tensor]:
    """A smooth random texture seen through horizontal shifts (none with `static`)."""
    generator = torch.Generator().manual_seed(seed)
    margin = 8
    texture = torch.rand(batch, 3, HEIGHT // 4, (WIDTH + 2 * margin) // 4, generator=generator)
    texture = F.interpolate(texture, (HEIGHT, WIDTH + 2 * margin), mode="bilinear",
                            align_corners=False)
    inputs: dict[Any, torch.Tensor] = {}
    for f in (0, -1, 1):
        shift = 0 if static else 2 * f
        full = texture[..., margin + shift: margin + shift + WIDTH].contiguous()
        for s in range(4):
            image = F.interpolate(full, (HEIGHT // 2 ** s, WIDTH // 2 ** s), mode="area")
            inputs[("color", f, s)] = image
            inputs[("color_aug", f, s)] = image
    for s in range(4):
        inputs[("K", s)] = intrinsics(batch, s)
        inputs[("inv_K", s)] = torch.linalg.inv(inputs[("K", s)])
    return inputs


def test_registry_config_and_params_file() -> None:
    assert "dualrefine" in available_methods()
    with pytest.raises(KeyError, match="f_thress"):
        make_model(f_thress=3)
    with pytest.raises(ValueError, match="frame_ids"):
        make_model(frame_ids=[0, 1])
    with pytest.raises(ValueError, match="solver"):
        make_model(solver="broyden")
    with pytest.raises(ValueError, match="consistency_pose"):
        make_model(consistency_pose="T1")
    params = yaml.safe_load((REPO_ROOT / "params" / "methods" / "dualrefine.yaml").read_text())
    model = DualRefine({**params["model"], "height": HEIGHT, "width": WIDTH})
    assert params["test_frames"] == model.test_frames == [0, -1]
    assert model.config.solver == "anderson" and model.net.options.f_thres == 6
    for profile in params["profiles"].values():
        merged = {**params["model"], **profile.get("model", {}),
                  "height": profile["height"], "width": profile["width"]}
        DualRefine(merged)


def test_loss_accumulation_counts_the_teacher_twice_and_skips_scale_one() -> None:
    assert iteration_pairs((0, 1, 2, 3)) == [(0, 0), (0, 1), (2, 0), (2, 1), (3, 0)]
    terms = {(0, 0): torch.tensor(1.0), (0, 1): torch.tensor(10.0),
             (2, 0): torch.tensor(100.0), (2, 1): torch.tensor(1000.0),
             (3, 0): torch.tensor(10000.0), POSE_UPDATE_TERM: torch.tensor(0.5)}
    expected = (2 * 1 + 10 + 2 * 100 + 1000 + 10000) / 4 + 0.5
    assert combine_loss_terms(terms, 4).item() == pytest.approx(expected)


def _constant_outputs(teacher: float, refined: float, mask: bool, batch: int = 2
                      ) -> dict[Any, torch.Tensor]:
    outputs: dict[Any, torch.Tensor] = {}
    for s in range(4):
        shape = (batch, 1, HEIGHT // 2 ** s, WIDTH // 2 ** s)
        outputs[("disp", s, 0)] = torch.full(shape, teacher)
        if s in (0, 2):
            outputs[("disp", s, 1)] = torch.full(shape, refined)
    outputs["consistency_mask"] = torch.full((batch, 1, HEIGHT // 4, WIDTH // 4), mask)
    return outputs


def test_loss_terms_on_a_hand_made_case() -> None:
    """Static scene, identity poses, constant disparities: every reprojection error and
    smoothness term is 0, so the refined terms are the consistency L1 |D(refined) − D(teacher)|
    on the pixels outside the consistency mask, and 0 where every pixel is kept."""
    model = make_model()
    inputs = synthetic_batch(static=True)
    eye = torch.eye(4).expand(2, 4, 4)
    poses = {("T0", -1): eye, ("T0", 1): eye, "Tstar": eye}
    gap = abs(disp_to_depth(torch.tensor(0.3), 0.1, 100.0)[1]
              - disp_to_depth(torch.tensor(0.2), 0.1, 100.0)[1]).item()

    untrusted = model.loss_terms(inputs, _constant_outputs(0.2, 0.3, mask=False), poses)
    assert set(untrusted) == {(0, 0), (0, 1), (2, 0), (2, 1), (3, 0), POSE_UPDATE_TERM}
    for key in ((0, 0), (2, 0), (3, 0), POSE_UPDATE_TERM):
        assert untrusted[key].item() == pytest.approx(0.0, abs=1e-5), key
    for key in ((0, 1), (2, 1)):
        assert untrusted[key].item() == pytest.approx(gap, rel=1e-5), key
    assert combine_loss_terms(untrusted, 4).item() == pytest.approx(gap / 2, abs=1e-5)

    # Without auto-masking (which picks pixels at random on a static scene) all pixels are kept.
    trusted = make_model(disable_automasking=True).loss_terms(
        inputs, _constant_outputs(0.2, 0.3, mask=True), poses)
    assert trusted[(0, 1)].item() == pytest.approx(0.0, abs=1e-5)


def test_refined_terms_use_t_star_for_the_lookup_and_a_detached_t0_for_frame_plus_one() -> None:
    model = make_model()
    inputs = synthetic_batch()
    outputs = {k: (v + 0.1 * torch.rand_like(v) if k != "consistency_mask" else v)
               for k, v in _constant_outputs(0.2, 0.3, mask=True).items()}
    poses = {key: torch.eye(4).repeat(2, 1, 1).requires_grad_()
             for key in (("T0", -1), ("T0", 1), "Tstar")}
    refined = model.loss_terms(inputs, outputs, poses)[(0, 1)]
    grads = torch.autograd.grad(refined, [poses[("T0", -1)], poses["Tstar"], poses[("T0", 1)]],
                                allow_unused=True)
    assert grads[0] is None and grads[2] is None
    assert grads[1] is not None and grads[1].abs().sum() > 0

    swapped = make_model(dstar_t0_pair=True).loss_terms(inputs, outputs, poses)[(0, 1)]
    assert not swapped.requires_grad, "--Dstar_T0_pair warps frame -1 with the detached T0"


def test_training_step_reaches_every_module_the_official_loss_trains() -> None:
    model = make_model().train()
    loss, logs = model.training_step(synthetic_batch())
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert logs["loss"] == pytest.approx(loss.item())
    assert 0 <= logs["consistency_mask"] <= 1
    assert logs["depth_bin/max"] != 10.0, "the depth-range trackers follow the teacher"
    loss.backward()
    for name, p in model.named_parameters():
        unused = name.startswith(UNUSED_IN_TRAINING)
        reached = p.grad is not None and p.grad.abs().sum() > 0
        assert reached != unused, f"{name}: gradient {'reached' if reached else 'missing'}"
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name


def test_freeze_leaves_only_the_refinement_modules_trainable() -> None:
    model = make_model(freeze_teacher_epoch=2)
    model.on_epoch_start(1)
    assert all(p.requires_grad for p in model.parameters())
    model.on_epoch_start(2)
    assert model.freezes_parameters and model.teacher_frozen
    trainable = {n for n, p in model.net.named_parameters() if p.requires_grad}
    expected = {n for n, _ in model.net.named_parameters() if n.startswith(TRAINED)}
    assert trainable == expected and "reproject_2.delta" not in trainable
    bins = dict(model.depth_bins)
    model.train()
    _, logs = model.training_step(synthetic_batch())
    assert model.depth_bins == bins, "the trackers stop at the freeze"
    assert model.net.cnet_layer0a[1].training, "frozen BatchNorm layers keep training mode"


def test_optimisation_of_the_refinement_decreases_the_loss() -> None:
    """After the freeze only the refinement trains; a few Adam steps on one batch lower the loss
    (a wrong sign or a detached refined output would not)."""
    model = make_model(freeze_teacher_epoch=0)
    model.on_epoch_start(0)
    model.train()
    inputs = synthetic_batch()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(5):
        torch.manual_seed(0)
        loss, _ = model.training_step(inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.95 * losses[0], losses


def test_prediction_is_per_sample_and_falls_back_to_the_teacher_without_lookup() -> None:
    model = make_model().eval()
    inputs = synthetic_batch(batch=2, seed=3)
    batch = {("color", 0, 0): inputs[("color", 0, 0)], ("K", 2): inputs[("K", 2)],
             ("color", -1, 0): inputs[("color", -1, 0)].clone()}
    batch[("color", -1, 0)][1] = 0
    with torch.no_grad():
        disp = model.predict_disparity(batch)
        first, _ = model.net(batch[("color", 0, 0)][:1], batch[("color", -1, 0)][:1],
                             batch[("K", 2)][:1])
        second, _ = model.net(batch[("color", 0, 0)][1:], batch[("color", -1, 0)][1:],
                              batch[("K", 2)][1:])
    assert disp.shape == (2, 1, HEIGHT, WIDTH)
    torch.testing.assert_close(disp[:1], first[("disp", 0, 1)])
    torch.testing.assert_close(disp[1:], second[("disp", 0, 0)])
    assert not torch.allclose(first[("disp", 0, 1)], first[("disp", 0, 0)])


@functools.cache
def _released_file() -> dict[str, Any]:
    """A synthetic `depth_pose.pth`: every official key (decoder aliases sharing their tensors,
    as torch.save keeps them), generator values, and the trainer's extra entries."""
    spec = manifest("dualrefine")["modules"]["depth_pose"]["state_dict"]
    entries: dict[str, torch.Tensor] = {}
    for key, entry in spec.items():
        alias = key.replace("decoder.decoder.", "decoder.convs.")
        if key.startswith("decoder.decoder."):
            index, rest = key.removeprefix("decoder.decoder.").split(".", 1)
            names = ["up_x9_0", "up_x9_1", "72", "36", "18", "9",
                     *(f"dispConvScale{s}" for s in range(4))]
            alias = f"decoder.convs.{names[int(index)]}.{rest}"
        dtype = torch.int64 if key.endswith("num_batches_tracked") else torch.float32
        entries[key] = entries[alias] if alias in entries else torch.zeros(entry["shape"],
                                                                           dtype=dtype)
    return {**fill_state(entries), "height": 96, "width": 320, "min_depth_bin": 0.3,
            "max_depth_bin": 35.0, "mean_depth_bin": 9.0, "median_depth_bin": 7.5}


def test_released_checkpoint_loads_and_round_trips() -> None:
    model = build_method("dualrefine", {"height": 96, "width": 320})
    released = _released_file()
    model.load_checkpoint_state(released)
    loaded = model.net.state_dict()
    assert list(loaded) == [k for k, v in released.items() if isinstance(v, torch.Tensor)]
    for key, value in loaded.items():
        assert torch.equal(value, released[key]), key
    assert model.depth_bins["max_depth_bin"] == 35.0

    state = model.checkpoint_state()
    assert set(state) == set(released)
    assert (state["height"], state["width"], state["median_depth_bin"]) == (96, 320, 7.5)
    other = build_method("dualrefine", {"height": 96, "width": 320})
    other.load_checkpoint_state(state)
    reloaded = other.net.state_dict()
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(reloaded[key], value), key


def test_converter_reconciles_aliases_and_weight_norm_and_names_bad_keys() -> None:
    model = build_method("dualrefine", {"height": 96, "width": 320})
    released = _released_file()
    only_convs = {k: v for k, v in released.items() if not k.startswith("decoder.decoder.")}
    model.load_checkpoint_state(only_convs)
    assert torch.equal(model.net.decoder.decoder[2].conv_se.weight,
                       released["decoder.convs.72.conv_se.weight"])

    layer = "update_block.gru.convq"
    plain = {k: v for k, v in released.items() if not k.startswith(f"{layer}.weight_")}
    effective = (released[f"{layer}.weight_v"] * released[f"{layer}.weight_g"]
                 / released[f"{layer}.weight_v"].flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    plain[f"{layer}.weight"] = effective
    model.load_checkpoint_state(plain)
    x = torch.rand(1, 192, 4, 4)
    torch.testing.assert_close(model.net.update_block.gru.convq(x),
                               F.conv2d(x, effective, released[f"{layer}.bias"], padding=1))

    conflicting = dict(released)
    conflicting["decoder.decoder.2.conv_se.bias"] = released["decoder.convs.72.conv_se.bias"] + 1
    with pytest.raises(ValueError, match="decoder.convs.72.conv_se.bias"):
        model.load_checkpoint_state(conflicting)
    missing = {k: v for k, v in released.items() if k != "hidden.1.weight"}
    with pytest.raises(KeyError, match="hidden.1.weight"):
        model.load_checkpoint_state(missing)
    with pytest.raises(KeyError, match="encoder.extra"):
        model.load_checkpoint_state({**released, "encoder.extra": torch.zeros(1)})
    with pytest.raises(KeyError, match="epoch"):
        model.load_checkpoint_state({**released, "epoch": 3})
    with pytest.raises(ValueError, match="96x320"):
        build_method("dualrefine", {}).load_checkpoint_state(released)


def test_imagenet_init_reaches_the_teacher_encoder_and_all_pose_encoders(tmp_path: Path) -> None:
    torch.manual_seed(1)
    hrnet = {**HRNetW18().state_dict(), "classifier.weight": torch.zeros(1000, 2048)}
    resnet18 = resnet(18).state_dict()
    torch.save(hrnet, tmp_path / "hrnet.pth")
    torch.save(resnet18, tmp_path / "resnet18.pth")
    model = make_model()
    model.init_from_imagenet(tmp_path / "hrnet.pth", pose_path=tmp_path / "resnet18.pth")
    net = model.net
    torch.testing.assert_close(net.cnet_layer0a[0].weight, hrnet["conv1.weight"])
    torch.testing.assert_close(net.cnet_layer0b[1].running_var, hrnet["bn2.running_var"])
    torch.testing.assert_close(net.cnet_stage4[2].fuse_layers[3][0][2][0].weight,
                               hrnet["stage4.2.fuse_layers.3.0.2.0.weight"])
    for pose_net in net.pnets:
        torch.testing.assert_close(pose_net[0].conv1.weight[:, 3:], resnet18["conv1.weight"] / 2)
        torch.testing.assert_close(pose_net[0].layer4[1].conv2.weight,
                                   resnet18["layer4.1.conv2.weight"])
    with pytest.raises(KeyError, match="HRNet-W18"):
        model.init_from_imagenet(tmp_path / "resnet18.pth", pose_path=tmp_path / "resnet18.pth")


def test_refinement_options_follow_the_config() -> None:
    model = make_model(solver="fixed_point", tau=0.5, consistency_pose="T0", corr_radius=4)
    assert model.net.options == RefinementOptions(solver="fixed_point", tau=0.5,
                                                  consistency_pose="T0", corr_radius=4,
                                                  f_thres=3)
    assert model.net.update_block.encoder.convc1.weight_v.shape[1] == 3 * 9
