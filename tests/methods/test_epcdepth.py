"""The EPCDepth method: loss terms, data grafting, SPP labels, training, checkpoints, params file."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml

from depthrepro.data.grafting import graft_batch
from depthrepro.losses.depth_hint import depth_hint_loss, hint_error, masked_mean, select_pixels
from depthrepro.losses.self_distillation import log_l1, lowest_error_label
from depthrepro.methods.epcdepth import EPCDepth, EPCDepthConfig
from depthrepro.methods.registry import available_methods
from depthrepro.nets.resnet import ResnetEncoder
from depthrepro.nets.rsu_decoder import RSUDecoder
from depthrepro.train.optim import Schedule

from fixturekit import REPO_ROOT, assert_matches, case_params, fill_state, manifest

HEIGHT, WIDTH = 64, 64          # zero padding lets the RSU heads run below 160 pixels
SHIFT_PX = 3
FX_RATIO = 0.58


def synthetic_batch(batch: int = 2, seed: int = 0, height: int = HEIGHT, width: int = WIDTH
                    ) -> dict[Any, torch.Tensor]:
    """A smooth random texture seen by two cameras SHIFT_PX apart, with a matching depth hint."""
    generator = torch.Generator().manual_seed(seed)
    margin = 8
    texture = torch.rand(batch, 3, height // 4, (width + 2 * margin) // 4, generator=generator)
    texture = F.interpolate(texture, (height, width + 2 * margin), mode="bilinear", align_corners=False)
    target = texture[..., margin: margin + width]
    source = texture[..., margin - SHIFT_PX: margin - SHIFT_PX + width]
    K = torch.tensor([[FX_RATIO * width, 0, 0.5 * width, 0], [0, 1.92 * height, 0.5 * height, 0],
                      [0, 0, 1, 0], [0, 0, 0, 1]])
    stereo_T = torch.eye(4)
    stereo_T[0, 3] = 0.1
    hint = torch.full((batch, 1, height, width), FX_RATIO * width * 0.1 / SHIFT_PX)
    hint[..., : width // 8] = 0     # no stereo match near the border
    return {("color", 0, 0): target.contiguous(), ("color_aug", 0, 0): target.contiguous(),
            ("color", "s", 0): source.contiguous(), ("color_aug", "s", 0): source.contiguous(),
            ("K", 0): K.expand(batch, 4, 4).clone(),
            ("inv_K", 0): torch.linalg.inv(K).expand(batch, 4, 4).clone(),
            "stereo_T": stereo_T.expand(batch, 4, 4).clone(), "depth_hint": hint,
            "side": torch.arange(batch) % 2}


def make_model(**overrides: Any) -> EPCDepth:
    torch.manual_seed(0)
    cfg: dict[str, Any] = {"height": HEIGHT, "width": WIDTH, "decoder_padding": "zeros", **overrides}
    return EPCDepth(cfg)


# ---------------------------------------------------------------- configuration

def test_registered() -> None:
    assert "epcdepth" in available_methods()


def test_config_is_validated() -> None:
    with pytest.raises(KeyError, match="use_full_scale"):
        EPCDepthConfig.from_dict({"use_full_scale": True})
    with pytest.raises(ValueError, match="at least 160"):
        EPCDepthConfig.from_dict({"height": 128, "width": 416})
    EPCDepthConfig.from_dict({"height": 128, "width": 416, "decoder_padding": "zeros"})
    with pytest.raises(ValueError, match="decoder_padding"):
        EPCDepthConfig.from_dict({"decoder_padding": "replicate"})
    with pytest.raises(ValueError, match="frame_ids"):
        EPCDepthConfig.from_dict({"frame_ids": [0, -1, 1]})
    with pytest.raises(ValueError, match="output_scale"):
        EPCDepthConfig.from_dict({"output_scale": 3})
    with pytest.raises(ValueError, match="num_layers"):
        EPCDepthConfig.from_dict({"num_layers": 20})


def test_params_file_profiles_are_valid_configs() -> None:
    params = yaml.safe_load((REPO_ROOT / "params" / "methods" / "epcdepth.yaml").read_text())
    assert params["method"] == "epcdepth" and params["trained_with_stereo"] is True
    expected = {"smoke": None, "paper": (192, 640, 18), "paper_hr": (320, 1024, 18),
                "paper_r50": (320, 1024, 50)}
    assert set(params["profiles"]) == set(expected)
    for name, profile in params["profiles"].items():
        cfg = {**params["model"], **profile.get("model", {}),
               "height": profile["height"], "width": profile["width"]}
        config = EPCDepthConfig.from_dict(cfg)
        Schedule.from_profile(profile, f"epcdepth.yaml profiles.{name}")
        if expected[name] is not None:
            assert (config.height, config.width, config.num_layers) == expected[name], name
            assert profile["batch_size"] == 8 and profile["num_epochs"] == 20, name
            assert profile["lr_schedule"] == {"policy": "step", "step_size": 15, "gamma": 0.1}, name
    assert tuple(params["model"]["frame_ids"]) == (0, "s")
    assert params["profiles"]["paper_r50"]["imagenet_weights"].endswith("resnet50-0676ba61.pth")


@pytest.mark.parametrize(("use_encoder_disp", "smallest"), [(True, 160), (False, 96)])
def test_reflect_padding_needs_the_minimum_input_size(use_encoder_disp: bool, smallest: int) -> None:
    torch.set_num_threads(1)
    assert RSUDecoder.min_input_size(use_encoder_disp) == smallest
    encoder = ResnetEncoder(18)
    decoder = RSUDecoder(encoder.num_ch_enc, use_encoder_disp=use_encoder_disp)
    with torch.no_grad():
        assert len(decoder(encoder(torch.rand(1, 3, smallest, smallest)))) == (10 if use_encoder_disp else 5)
        with pytest.raises(RuntimeError, match="[Pp]adding"):
            decoder(encoder(torch.rand(1, 3, smallest - 32, smallest - 32)))


# ---------------------------------------------------------------- loss terms by hand

def test_pixel_selection_by_hand() -> None:
    pred = torch.tensor([0.1, 0.5, 0.3, 0.2]).view(1, 1, 1, 4)
    identity = torch.tensor([0.2, 0.1, 0.4, 0.3]).view(1, 1, 1, 4)
    hint = torch.tensor([0.3, 0.6, 0.2, 0.1]).view(1, 1, 1, 4)
    reproj, hint_mask = select_pixels(pred, identity, hint)
    assert reproj.flatten().tolist() == [1, 0, 1, 1]
    assert hint_mask is not None and hint_mask.flatten().tolist() == [0, 0, 1, 1]
    reproj, hint_mask = select_pixels(pred, None, hint)       # auto-masking off
    assert reproj.flatten().tolist() == [1, 1, 1, 1]
    assert hint_mask is not None and hint_mask.flatten().tolist() == [0, 0, 1, 1]
    reproj, hint_mask = select_pixels(pred, identity, None)   # no hints
    assert reproj.flatten().tolist() == [1, 0, 1, 1] and hint_mask is None


def test_invalid_hints_never_win() -> None:
    error = torch.tensor([0.05, 0.05]).view(1, 1, 1, 2)
    hint = torch.tensor([0.0, 3.0]).view(1, 1, 1, 2)
    penalised = hint_error(error, hint)
    assert penalised.flatten().tolist() == pytest.approx([1000.05, 0.05])
    _, hint_mask = select_pixels(torch.full_like(error, 0.5), None, penalised)
    assert hint_mask is not None and hint_mask.flatten().tolist() == [0, 1]


def test_masked_terms_by_hand() -> None:
    values = torch.tensor([1.0, 2.0, 4.0])
    mask = torch.tensor([1.0, 0.0, 1.0])
    assert masked_mean(values, mask).item() == pytest.approx(5 / (2 + 1e-7))
    assert masked_mean(values, torch.zeros(3)).item() == 0.0
    depth = torch.tensor([1.0, 2.0, 7.0])
    hint = torch.tensor([2.0, 5.0, 0.0])
    expected = (math.log(2) + math.log(4)) / (2 + 1e-7)
    assert depth_hint_loss(depth, hint, torch.tensor([1.0, 1.0, 0.0])).item() == pytest.approx(expected)


def test_spp_label_takes_lowest_error_per_pixel() -> None:
    disps = [torch.full((1, 1, 1, 3), v) for v in (0.1, 0.2, 0.3)]
    errors = [torch.tensor([0.5, 0.1, 0.3]), torch.tensor([0.2, 0.1, 0.3]), torch.tensor([0.3, 0.3, 0.1])]
    label = lowest_error_label(disps, [e.view(1, 1, 1, 3) for e in errors])
    assert label.flatten().tolist() == pytest.approx([0.2, 0.1, 0.3])   # a tie keeps the earlier one
    assert not label.requires_grad
    assert log_l1(torch.tensor([0.5, 0.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(
        (math.log(1.5) + math.log(2)) / 2)


def test_spp_labels_come_from_each_outputs_own_group() -> None:
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    disps = [torch.full((1, 1, 2, 2), v, requires_grad=True) for v in values]
    errors = [torch.full((1, 1, 2, 2), 1.0) for _ in values]
    errors[2] = torch.full((1, 1, 2, 2), 0.1)       # decoder label 0.3
    errors[8] = torch.full((1, 1, 2, 2), 0.2)       # encoder label 0.9
    loss = EPCDepth.spp_loss(disps, errors)
    labels = [0.3] * 5 + [0.9] * 5
    expected = [math.log(1 + abs(label - v)) for label, v in zip(labels, values)]
    assert loss.item() == pytest.approx(sum(expected) / 10, rel=1e-6)
    loss.backward()
    assert disps[2].grad is not None and disps[2].grad.abs().sum() == 0   # the label itself: zero gradient
    assert disps[0].grad is not None and disps[0].grad.abs().sum() > 0


# ---------------------------------------------------------------- data grafting

def identifiable_batch(batch: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose pixel value encodes (sample, row), and a matching one-channel map."""
    rows = torch.arange(height, dtype=torch.float32).view(1, 1, height, 1)
    samples = torch.arange(batch, dtype=torch.float32).view(batch, 1, 1, 1)
    image = (100 * samples + rows).expand(batch, 3, height, 5).clone()
    return image, image[:, :1].clone() + 0.5


def expected_graft(x: torch.Tensor, side: torch.Tensor, seed: int) -> torch.Tensor:
    """Grafting written from the spec, with the official order of random draws."""
    torch.manual_seed(seed)
    height = x.shape[2]
    cut = int(int(torch.randint(5, ())) / 5 * height)
    if cut == 0:
        return x
    partner = list(range(x.shape[0]))
    for value in (0, 1):
        members = [i for i in range(x.shape[0]) if side[i] == value]
        perm = torch.randperm(len(members)).tolist()
        for i, p in zip(members, perm):
            partner[i] = members[p]
    shift = torch.rand(()).item() < 0.5
    out = x.clone()
    for i, p in enumerate(partner):
        out[i, :, cut:] = x[p, :, cut:]
    if shift:
        out = torch.cat([out[:, :, cut:], out[:, :, :cut]], 2)
    return out


def test_grafting_matches_the_spec_and_is_seeded() -> None:
    side = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1])
    image, hint = identifiable_batch(8, 10)
    seen_cuts, seen_shift = set(), set()
    for seed in range(40):
        torch.manual_seed(seed)
        out = graft_batch({"image": image, "hint": hint}, side)
        torch.testing.assert_close(out["image"], expected_graft(image, side, seed), rtol=0, atol=0)
        torch.testing.assert_close(out["hint"], expected_graft(hint, side, seed), rtol=0, atol=0)
        changed_rows = (out["image"] != image).any(dim=(0, 1, 3))
        seen_cuts.add(int(changed_rows.sum()) > 0)
        seen_shift.add(bool(changed_rows[0]))
    assert seen_cuts == {True, False} and seen_shift == {True, False}


def test_grafting_swaps_rows_only_within_a_side() -> None:
    side = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1])
    image, hint = identifiable_batch(8, 10)
    for seed in range(40):
        torch.manual_seed(seed)
        out = graft_batch({"image": image, "hint": hint}, side)
        owner = torch.div(out["image"][:, 0, :, 0], 100, rounding_mode="floor").long()   # (B, H)
        assert torch.equal(side[owner], side.view(-1, 1).expand_as(owner)), seed
        # each sample keeps some of its own rows and takes the rest from a single partner
        for i in range(8):
            assert i in owner[i] and len(set(owner[i].tolist())) <= 2, seed
        torch.testing.assert_close(out["hint"][:, 0], out["image"][:, 0] + 0.5, rtol=0, atol=0)


def test_grafting_with_a_zero_cut_changes_nothing() -> None:
    side = torch.tensor([0, 1, 0, 1])
    image, hint = identifiable_batch(4, 10)
    zero_cut_seeds = []
    for seed in range(30):
        torch.manual_seed(seed)
        if int(torch.randint(5, ())) == 0:      # the first draw picks the ratio
            zero_cut_seeds.append(seed)
    assert zero_cut_seeds
    for seed in zero_cut_seeds:
        torch.manual_seed(seed)
        out = graft_batch({"image": image, "hint": hint}, side)
        assert out["image"] is image and out["hint"] is hint


def test_grafting_rejects_bad_side_labels() -> None:
    image, _ = identifiable_batch(2, 10)
    with pytest.raises(ValueError, match="side"):
        graft_batch({"image": image}, torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="hint"):
        graft_batch({"image": image, "hint": torch.zeros(2, 1, 8, 5)}, torch.tensor([0, 1]))


# ---------------------------------------------------------------- warping and prediction

def test_identity_warp_is_exact_with_align_corners() -> None:
    model = make_model()
    inputs = synthetic_batch()
    inputs["stereo_T"] = torch.eye(4).expand(2, 4, 4).clone()
    source = inputs[("color", "s", 0)]
    depth = torch.full((2, 1, HEIGHT, WIDTH), 5.0)
    torch.testing.assert_close(model.warp(source, depth, inputs), source, rtol=0, atol=1e-5)
    blurred = make_model(warp_align_corners=False).warp(source, depth, inputs)
    assert (blurred - source).abs().max() > 1e-3


def test_stereo_warp_recovers_the_shifted_view() -> None:
    model = make_model()
    inputs = synthetic_batch()
    true_depth = torch.full((2, 1, HEIGHT, WIDTH), FX_RATIO * WIDTH * 0.1 / SHIFT_PX)
    warped = model.warp(inputs[("color", "s", 0)], true_depth, inputs)
    inner = (slice(None), slice(None), slice(None), slice(None, WIDTH - SHIFT_PX))
    torch.testing.assert_close(warped[inner], inputs[("color", 0, 0)][inner], rtol=0, atol=1e-4)


def test_predict_disparity_picks_the_output_scale() -> None:
    torch.set_num_threads(1)
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    model = make_model().eval()
    with torch.no_grad():
        disps = model(image)
        assert len(disps) == 10 and disps[0].shape == (1, 1, HEIGHT, WIDTH)
        torch.testing.assert_close(model.predict_disparity(image), disps[0], rtol=0, atol=0)
        model.config = dataclasses.replace(model.config, output_scale=2)
        d2 = model.predict_disparity(image)
        up2 = F.interpolate(disps[2], (HEIGHT, WIDTH), mode="bilinear", align_corners=False)
        torch.testing.assert_close(d2, up2)
        model.config = dataclasses.replace(model.config, output_scale=-1)
        ups = [F.interpolate(d, (HEIGHT, WIDTH), mode="bilinear", align_corners=False) for d in disps[:3]]
        torch.testing.assert_close(model.predict_disparity(image), sum(ups) / 3)
    assert d2.shape == (1, 1, HEIGHT, WIDTH) and 0 < d2.min() and d2.max() < 1


# ---------------------------------------------------------------- training

def test_training_step_reaches_every_module() -> None:
    torch.set_num_threads(1)
    model = make_model().train()
    loss, logs = model.training_step(synthetic_batch())
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(logs) == {"loss", "loss/main", "loss/spp", "hint_pixel_fraction"}
    assert logs["loss"] == pytest.approx(logs["loss/main"] + logs["loss/spp"], rel=1e-5)
    assert 0 < logs["hint_pixel_fraction"] < 1
    loss.backward()
    for name, param in model.named_parameters():
        if name.startswith("encoder.encoder.fc."):    # torchvision's classifier, unused officially too
            assert param.grad is None
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, name
        assert torch.isfinite(param.grad).all(), name


def test_training_step_at_a_reflect_padded_size() -> None:
    torch.set_num_threads(1)
    model = EPCDepth({"height": 160, "width": 160})
    with torch.no_grad():
        loss, _ = model.training_step(synthetic_batch(height=160, width=160))
    assert torch.isfinite(loss) and loss > 0


def test_loss_terms_switch_off() -> None:
    torch.set_num_threads(1)
    inputs = synthetic_batch()
    plain = make_model(use_depth_hint=False, use_spp_distillation=False, use_data_graft=False)
    del inputs["depth_hint"], inputs["side"]
    with torch.no_grad():
        loss, logs = plain.training_step(inputs)
    assert set(logs) == {"loss", "loss/main"} and torch.isfinite(loss)
    with pytest.raises(KeyError, match="depth_hint"):
        make_model().training_step(inputs)


def test_perfect_views_give_zero_reprojection_loss() -> None:
    """Identical views under a zero baseline: every warp is exact, so the masked error is zero."""
    model = make_model(use_depth_hint=False, use_spp_distillation=False, use_data_graft=False,
                       disable_automasking=True)
    inputs = synthetic_batch()
    inputs[("color", "s", 0)] = inputs[("color", 0, 0)]
    inputs["stereo_T"] = torch.eye(4).expand(2, 4, 4).clone()
    with torch.no_grad():
        loss, _ = model.training_step(inputs)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)


def test_optimisation_decreases_the_loss() -> None:
    torch.set_num_threads(1)
    model = make_model(use_data_graft=False).train()    # a fixed batch: no random grafts
    inputs = synthetic_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(8):
        loss, _ = model.training_step(inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def mirrored(inputs: dict[Any, torch.Tensor]) -> dict[Any, torch.Tensor]:
    """The batch as a flipped sample sees it: every image and the hint mirrored, the baseline negated."""
    out = {key: value.flip(-1) if value.dim() == 4 else value for key, value in inputs.items()}
    out["stereo_T"] = inputs["stereo_T"].clone()
    out["stereo_T"][:, 0, 3] *= -1
    return out


def loss_at_constant_disparity(model: EPCDepth, inputs: dict[Any, torch.Tensor], sigmoid: float,
                               monkeypatch: pytest.MonkeyPatch) -> float:
    """`training_step`'s loss when all ten outputs are the constant sigmoid disparity `sigmoid`."""
    monkeypatch.setattr(model, "forward", lambda x: [torch.full((x.shape[0], 1, HEIGHT, WIDTH), sigmoid)] * 10)
    with torch.no_grad():
        loss, _ = model.training_step(inputs)
    return loss.item()


@pytest.mark.parametrize("flip", [False, True])
def test_loss_prefers_the_true_disparity_to_the_maximum(flip: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact stereo views: the whole loss (warp, hint units, masks) is far lower at the true disparity
    than at the maximum one, for the right-camera baseline and for a flipped sample's negated one,
    and it rises when the baseline sign is wrong."""
    model = make_model(use_data_graft=False)
    inputs = mirrored(synthetic_batch()) if flip else synthetic_batch()
    c = model.config
    true_depth = FX_RATIO * WIDTH * 0.1 / SHIFT_PX
    true_sigmoid = (1 / true_depth - 1 / c.max_depth) / (1 / c.min_depth - 1 / c.max_depth)
    at_truth = loss_at_constant_disparity(model, inputs, true_sigmoid, monkeypatch)
    at_maximum = loss_at_constant_disparity(model, inputs, 1.0, monkeypatch)
    assert at_truth < 0.1 * at_maximum, (at_truth, at_maximum)
    wrong_sign = {**inputs, "stereo_T": mirrored(inputs)["stereo_T"]}
    assert loss_at_constant_disparity(model, wrong_sign, true_sigmoid, monkeypatch) > 5 * at_truth


def first_step_change(learning_rate: float) -> float:
    """Largest change of an output's mean disparity after one Adam step from random weights."""
    model = make_model(use_data_graft=False).train()
    inputs = synthetic_batch(batch=4)
    with torch.no_grad():
        before = torch.stack([d.mean() for d in model(inputs[("color_aug", 0, 0)])])
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss, _ = model.training_step(inputs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        after = torch.stack([d.mean() for d in model(inputs[("color_aug", 0, 0)])])
    return (after - before).abs().max().item()


def test_smoke_warmup_keeps_the_first_step_small() -> None:
    """From random weights a full-rate Adam step moves an output's mean disparity by over 0.2; in the
    smoke run that sent the decoder to the maximum disparity, where no loss term pulls it back. The
    smoke profile (scratch weights) must start at a fraction of the rate."""
    torch.set_num_threads(1)
    params = yaml.safe_load((REPO_ROOT / "params" / "methods" / "epcdepth.yaml").read_text())
    profile = params["profiles"]["smoke"]
    assert profile["weights_init"] == "scratch"
    schedule = Schedule.from_profile(profile, "epcdepth.yaml profiles.smoke")
    assert first_step_change(schedule.learning_rate) > 0.2
    assert first_step_change(schedule.learning_rate * schedule.warmup.factor(0)) < 0.05
    assert schedule.warmup.iters >= len(range(0, profile["train_samples"], profile["batch_size"]))


# ---------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = make_model().train()
    with torch.no_grad():
        model.training_step(synthetic_batch())     # moves the BatchNorm statistics
    torch.save({"epoch": 3, "abs_rel": 0.1, **model.checkpoint_state()}, tmp_path / "checkpoint.pth.tar")
    state = torch.load(tmp_path / "checkpoint.pth.tar", weights_only=True)
    assert set(model.checkpoint_state()) == {"encoder", "depth_decoder"}
    assert "encoder.conv1.weight" in state["encoder"]
    assert "stage1d.rebnconvin.conv_s1.weight" in state["depth_decoder"]

    restored = make_model()
    restored.load_checkpoint_state(state)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value, rtol=0, atol=0, msg=key)
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        expected = model.eval().predict_disparity(image)
        torch.testing.assert_close(restored.eval().predict_disparity(image), expected)


def released_checkpoint(folder: str) -> dict[str, Any]:
    """A dict laid out like the released `model*.pth.tar`, weights from the fixtures' generator."""
    modules = manifest(folder)["modules"]
    state: dict[str, Any] = {"epoch": 19, "abs_rel": 0.09, "sq_rel": 0.6, "rmse": 4.2, "rmse_log": 0.18,
                             "a1": 0.9, "a2": 0.96, "a3": 0.98, "lr_scheduler": {"step_size": 15},
                             "optimizer": {"state": {}, "param_groups": []}}
    for name in ("encoder", "depth_decoder"):
        zeros = {k: torch.zeros(spec["shape"], dtype=getattr(torch, spec["dtype"]))
                 for k, spec in modules[name]["state_dict"].items()}
        state[name] = fill_state(zeros)
    return state


@pytest.mark.parametrize("path", case_params("epcdepth_resnet18"))
def test_released_layout_loads_and_reproduces_the_official_outputs(path: Path) -> None:
    torch.set_num_threads(1)
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    model = EPCDepth({"height": meta["height"], "width": meta["width"]})
    model.load_checkpoint_state(released_checkpoint("epcdepth_resnet18"))
    model.eval()
    with torch.no_grad():
        disp = model.predict_disparity(case["inputs"]["color"])
    assert_matches(disp, case["outputs"][("disp", 0)], f"{path.name} ('disp', 0)")


def test_checkpoint_errors_name_the_entry_and_key() -> None:
    model = make_model()
    state = model.checkpoint_state()
    with pytest.raises(KeyError, match="depth_decoder"):
        model.load_checkpoint_state({"encoder": state["encoder"]})
    with pytest.raises(KeyError, match="state_dict"):
        model.load_checkpoint_state({**state, "state_dict": {}})
    broken = dict(state["depth_decoder"])
    broken["disps.5.0.weight"] = broken.pop("disps.4.0.weight")
    with pytest.raises(KeyError, match=r"disps\.4\.0\.weight.*disps\.5\.0\.weight"):
        model.load_checkpoint_state({**state, "depth_decoder": broken})
