"""GasMono: photometric error, self-distillation label and its carry, schedules, parameter groups,
training on a tiny batch, checkpoints in the released layout."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

import depthrepro.methods.gasmono as gasmono_module
from depthrepro.geometry.coarse_pose import align_coarse_pose
from depthrepro.losses.photometric import SSIM, relative_reprojection_loss, reprojection_loss
from depthrepro.methods.gasmono import GasMono, pseudo_label
from depthrepro.methods.registry import build_method
from depthrepro.nets.mpvit import DropPath, mpvit_small
from depthrepro.nets.resnet import resnet

from fixturekit import fill_state, manifest

H, W, B = 64, 64, 2
FRAMES = (0, -1, 1)
UNUSED = ("depth.decoder.21.", "depth.decoder.24.", "depth.decoder.26.",  # level-0 edge branch, scale-0 mask
          "pose_encoder.encoder.fc.", "trans_encoder.encoder.fc.")         # torchvision classifier heads


def make_batch(seed: int = 0) -> dict[Any, torch.Tensor]:
    """A textured target, sources shifted by a few pixels, NYU-like intrinsics, small coarse poses."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.avg_pool2d(torch.rand(B, 3, H + 16, W + 16, generator=gen), 3, 1, 1)
    batch: dict[Any, torch.Tensor] = {}
    for f in FRAMES:
        img = base[:, :, 8:8 + H, 8 + 2 * f:8 + 2 * f + W].contiguous()
        batch[("color", f, 0)] = img
        batch[("color_aug", f, 0)] = (img * 1.05).clamp(0, 1)
    K = torch.eye(4)
    K[0, 0], K[0, 2], K[1, 1], K[1, 2] = 0.81 * W, 0.51 * W, 1.08 * H, 0.53 * H
    batch[("K", 0)] = K.expand(B, 4, 4).clone()
    batch[("inv_K", 0)] = torch.linalg.inv(K).expand(B, 4, 4).clone()
    for f in (-1, 1):
        T = torch.eye(4)
        T[0, 3] = 0.1 * f
        batch[("coarse_pose", f)] = T.expand(B, 4, 4).clone()
    return batch


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> GasMono:
    torch.manual_seed(0)
    return build_method("gasmono", {"height": H, "width": W})


def test_relative_photometric_error_by_hand() -> None:
    """Constant images: SSIM term from the means alone, L1 divided by target + 0.01."""
    a, b = 0.3, 0.5
    pred, target = (torch.full((1, 3, 6, 7), v, dtype=torch.float64) for v in (a, b))
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = (2 * a * b + c1) * c2 / ((a * a + b * b + c1) * c2)
    expected = 0.85 * (1 - ssim) / 2 + 0.15 * abs(a - b) / (b + 0.01)
    got = relative_reprojection_loss(pred, target, SSIM())
    assert got.shape == (1, 1, 6, 7)
    torch.testing.assert_close(got, torch.full_like(got, expected), rtol=1e-5, atol=1e-7)
    plain = reprojection_loss(pred, target, SSIM())
    torch.testing.assert_close(got - plain, torch.full_like(got, 0.15 * abs(a - b) * (1 / (b + 0.01) - 1)))


def test_pseudo_label_takes_lowest_error_and_starts_from_scale_zero() -> None:
    d = [torch.full((1, 1, 1, 3), v) for v in (0.1, 2.0, 3.0, 4.0)]
    e = [torch.tensor([[[[11.0, 5.0, 5.0]]]]), torch.tensor([[[[12.0, 4.0, 6.0]]]]),
         torch.tensor([[[[13.0, 4.0, 1.0]]]]), torch.tensor([[[[14.0, 3.9, 1.0]]]])]
    label, error = pseudo_label(None, d, e)
    # pixel 0: no error beats the start value 10 -> scale-0 disparity; pixel 1: scale 3; pixel 2: scale 2
    # (scale 3 only ties)
    torch.testing.assert_close(label, torch.tensor([[[[0.1, 4.0, 3.0]]]]))
    torch.testing.assert_close(error, torch.tensor([[[[10.0, 3.9, 1.0]]]]))
    assert not label.requires_grad and not error.requires_grad

    carried, carried_error = pseudo_label((label, error), [x + 10 for x in d],
                                          [torch.tensor([[[[9.0, 4.0, 0.5]]]])] + e[1:])
    # the carried label survives where no new scale beats its error map
    torch.testing.assert_close(carried, torch.tensor([[[[10.1, 4.0, 10.1]]]]))
    torch.testing.assert_close(carried_error, torch.tensor([[[[9.0, 3.9, 0.5]]]]))


def test_label_is_carried_between_substeps_and_reset_per_batch(model: GasMono,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = gasmono_module.pseudo_label

    def recording(previous, disps, errors):  # type: ignore[no-untyped-def]
        seen.append(previous)
        return real(previous, disps, errors)

    monkeypatch.setattr(gasmono_module, "pseudo_label", recording)
    batch = make_batch()
    with torch.no_grad():
        model.training_step(batch, substep=0)
        first = model._label
        model.training_step(batch, substep=1)
        model.training_step(make_batch(1), substep=0)
    assert seen[0] is None and seen[2] is None, "each batch starts a fresh label"
    assert seen[1] is first, "substep 1 continues from substep 0's label and error map"
    assert bool((first[1] <= 10).all())
    fresh = build_method("gasmono", {"height": H, "width": W})
    with pytest.raises(RuntimeError, match="substep 1 without"):
        fresh.training_step(batch, substep=1)


def test_schedules(model: GasMono) -> None:
    assert [model.steps_per_batch(e) for e in (0, 9, 10, 39)] == [1, 1, 2, 2]
    assert [model.selfpp_weight(e) for e in (0, 5, 10, 19, 20, 39)] == pytest.approx(
        [0.0, 0.05, 0.1, 0.19, 0.2, 0.2])
    other = build_method("gasmono", {"height": H, "width": W, "iiters": 3, "iterative_start_epoch": 2,
                                     "wpp": 0.1, "selfpp_ramp_epochs": 4})
    assert [other.steps_per_batch(e) for e in (1, 2)] == [1, 3]
    assert [other.selfpp_weight(e) for e in (0, 2, 4, 9)] == pytest.approx([0.0, 0.05, 0.1, 0.1])


def test_param_groups_split_encoder_from_the_rest(model: GasMono) -> None:
    groups = model.param_groups(5e-5)
    assert [g["lr"] for g in groups] == [1e-4, 5e-5]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.encoder.parameters()}
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_config_errors_name_the_key() -> None:
    with pytest.raises(KeyError, match="unknown keys \\['wwww'\\]"):
        build_method("gasmono", {"wwww": 0.2})
    with pytest.raises(ValueError, match="multiples of 32"):
        build_method("gasmono", {"height": 250})
    with pytest.raises(ValueError, match="iiters"):
        build_method("gasmono", {"iiters": 0})


def test_training_step_gradients_and_loss_decrease() -> None:
    torch.manual_seed(0)
    method = build_method("gasmono", {"height": H, "width": W})
    method.train()
    for module in method.modules():  # no stochastic depth: every block must receive gradients
        if isinstance(module, DropPath):
            module.eval()
    method.on_epoch_start(12)
    batch = make_batch()
    loss, logs = method.training_step(batch, substep=0)
    assert loss.dim() == 0 and math.isfinite(loss.item())
    assert {"loss", "loss/0", "loss/3", "loss_coarse", "loss_selfpp", "selfpp_weight"} <= set(logs)
    assert logs["selfpp_weight"] == pytest.approx(0.12)
    loss.backward()
    for name, param in method.named_parameters():
        if name.startswith(UNUSED):
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, f"no gradient reaches {name}"
    for module in ("trans", "trans_encoder", "pose", "pose_encoder", "depth", "encoder"):
        grads = [p.grad for p in getattr(method, module).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), module

    optimizer = torch.optim.Adam(method.parameters(), lr=1e-4)
    losses = []
    for step in range(5):
        optimizer.zero_grad()
        loss, _ = method.training_step(batch, substep=step % 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_refined_poses_keep_the_coarse_rotation(model: GasMono) -> None:
    batch = make_batch()
    model.eval()
    poses = model.predict_refined_poses(batch)
    for f in (-1, 1):
        assert set(poses[f]) == {"coarse", "aligned", "composed"}
        assert torch.equal(poses[f]["coarse"], batch[("coarse_pose", f)])
        torch.testing.assert_close(poses[f]["aligned"][:, :3, :3], batch[("coarse_pose", f)][:, :3, :3])
        assert poses[f]["composed"].shape == (B, 4, 4)
    with torch.no_grad():
        aligned = model.aligned_poses(batch)
    torch.testing.assert_close(aligned[-1], poses[-1]["aligned"])


def test_align_coarse_pose_by_hand() -> None:
    coarse = torch.eye(4).repeat(2, 1, 1)
    coarse[:, :3, 3] = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    coarse[0, :2, :2] = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    scale = torch.tensor([2.0, 0.5]).view(2, 1, 1)
    residual = torch.tensor([[0.1, 0.0, -0.1], [0.0, 0.2, 0.0]]).view(2, 1, 3)
    out = align_coarse_pose(coarse, scale, residual)
    torch.testing.assert_close(out[:, :3, 3], torch.tensor([[2.1, 4.0, 5.9], [0.0, -0.3, 0.25]]))
    torch.testing.assert_close(out[:, :3, :3], coarse[:, :3, :3])
    inverted = align_coarse_pose(coarse, scale, residual, invert=True)
    torch.testing.assert_close(inverted[:, :3, 3], torch.tensor([[1.9, 4.0, 6.1], [0.0, -0.7, 0.25]]))
    assert coarse[0, 0, 3] == 1.0, "the input must stay unchanged"


def test_checkpoint_round_trip_and_released_layout(model: GasMono) -> None:
    state = model.checkpoint_state()
    assert list(state) == ["encoder", "depth", "pose_encoder", "pose", "trans_encoder", "trans"]
    assert (state["encoder"]["height"], state["encoder"]["width"], state["encoder"]["use_stereo"]) == (H, W, False)
    other = build_method("gasmono", {"height": H, "width": W})
    other.load_checkpoint_state(state)
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    released: dict[str, dict[str, Any]] = {}
    for folder, files in (("gasmono_depth", ("encoder", "depth")), ("gasmono_pose", ("pose_encoder", "pose")),
                          ("gasmono_alignnet", ("trans_encoder", "trans"))):
        spec = manifest(folder)["modules"]
        for name in files:
            empty = {k: torch.zeros(e["shape"], dtype=getattr(torch, e["dtype"]))
                     for k, e in spec[name]["state_dict"].items()}
            released[name] = fill_state(empty)
        for group in spec.get("encoder", {}).get("alias_groups", []):  # tied tensors hold one value
            for k in group:
                released["encoder"][k] = released["encoder"][min(group)]
    released["encoder"].update(height=256, width=320, use_stereo=False)
    other.load_checkpoint_state(released)
    key = "mhca_stages.2.mhca_blks.1.MHCA_layers.3.factoratt_crpe.crpe.conv_list.2.weight"
    assert torch.equal(other.encoder.state_dict()[key], released["encoder"][key])

    depth_only = build_method("gasmono", {"height": H, "width": W})
    depth_only.load_checkpoint_state({k: released[k] for k in ("encoder", "depth")}, require_pose=False)
    with pytest.raises(KeyError, match="missing files \\['pose_encoder.pth'"):
        depth_only.load_checkpoint_state({k: released[k] for k in ("encoder", "depth")})
    broken = dict(released)
    broken["depth"] = {("decoder.99" + k[len("decoder.0"):] if k.startswith("decoder.0.") else k): v
                       for k, v in released["depth"].items()}
    with pytest.raises(KeyError, match="depth.pth: missing keys \\['decoder.0.conv.conv.weight'"):
        other.load_checkpoint_state(broken)


def test_predict_disparity_is_scale_zero_sigmoid(model: GasMono) -> None:
    model.eval()
    with torch.no_grad():
        disp = model.predict_disparity(torch.rand(1, 3, H, W))
    assert disp.shape == (1, 1, H, W)
    assert float(disp.min()) >= 0.0 and float(disp.max()) <= 1.0


def test_imagenet_initialisation(tmp_path: Path) -> None:
    """MPViT's classification checkpoint (`{"model": ...}` with a `cls_head`) into the depth encoder,
    a torchvision ResNet-18 file into the PoseNet and AlignNet encoders (conv1 tiled and halved)."""
    source = mpvit_small()
    mpvit_state = {**fill_state(source.state_dict()), "cls_head.cls.weight": torch.zeros(1000, 288),
                   "cls_head.cls.bias": torch.zeros(1000)}
    torch.save({"model": mpvit_state}, tmp_path / "mpvit_small.pth")
    resnet_state = fill_state(resnet(18).state_dict())
    torch.save(resnet_state, tmp_path / "resnet18.pth")
    method = build_method("gasmono", {"height": H, "width": W})
    method.init_from_imagenet(tmp_path / "mpvit_small.pth", pose_path=tmp_path / "resnet18.pth")
    for key, value in method.encoder.state_dict().items():
        assert torch.equal(value, mpvit_state[key]), key
    for encoder in (method.pose_encoder, method.trans_encoder):
        conv1 = encoder.encoder.conv1.weight
        torch.testing.assert_close(conv1, torch.cat([resnet_state["conv1.weight"]] * 2, 1) / 2)
        assert torch.equal(encoder.encoder.layer4[1].conv2.weight, resnet_state["layer4.1.conv2.weight"])
    del mpvit_state["stem.0.conv.weight"]
    torch.save({"model": mpvit_state}, tmp_path / "broken.pth")
    with pytest.raises(KeyError, match="missing keys \\['stem.0.conv.weight'\\]"):
        method.init_from_imagenet(tmp_path / "broken.pth")


def test_ablation_without_coarse_poses_or_distillation() -> None:
    """`use_posegt: false`: PoseNet alone on the raw frames, no AlignNet files; `selfpp: false`: no label."""
    method = build_method("gasmono", {"height": H, "width": W, "use_posegt": False, "selfpp": False})
    assert method.trans is None and method.trans_encoder is None
    assert list(method.checkpoint_state()) == ["encoder", "depth", "pose_encoder", "pose"]
    batch = {k: v for k, v in make_batch().items() if k[0] != "coarse_pose"}
    with torch.no_grad():
        _, logs = method.training_step(batch, substep=0)
        _, again = method.training_step(batch, substep=1)
    assert "loss_coarse" not in logs and "loss_selfpp" not in logs and method._label is None
    assert math.isfinite(again["loss"])
