"""Optimisation schedules from profiles: validation, the torch objects, warm-up, clipping, sub-steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from depthrepro.train.optim import (LrSchedule, Schedule, ScheduleError, Warmup, build_lr_scheduler,
                                    build_optimizer)
from depthrepro.train.seeding import seed_everything
from depthrepro.train.trainer import train

PROFILE = {"batch_size": 2, "num_epochs": 3, "learning_rate": 1e-3, "lr_schedule": {"policy": "step", "step_size": 2}}


def test_profile_keys_are_validated_with_the_location() -> None:
    assert Schedule.from_profile(PROFILE, "x.yaml:smoke").lr_schedule == LrSchedule(step_size=2)
    with pytest.raises(ScheduleError, match=r"x.yaml:smoke: missing key 'lr_schedule'"):
        Schedule.from_profile({k: v for k, v in PROFILE.items() if k != "lr_schedule"}, "x.yaml:smoke")
    with pytest.raises(ScheduleError, match=r"lr_schedule: unknown keys \['steps'\]"):
        Schedule.from_profile({**PROFILE, "lr_schedule": {"policy": "step", "steps": 2}}, "x.yaml:smoke")
    with pytest.raises(ScheduleError, match="needs milestones"):
        Schedule.from_profile({**PROFILE, "lr_schedule": {"policy": "multistep"}}, "x.yaml:smoke")
    with pytest.raises(ScheduleError, match="optimizer: 'sgd'"):
        Schedule.from_profile({**PROFILE, "optimizer": "sgd"}, "x.yaml:smoke")


def _rates(schedule: Schedule, epochs: int) -> list[float]:
    opt = build_optimizer(nn.Linear(2, 1), schedule)
    sched = build_lr_scheduler(opt, schedule)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_policies_follow_the_papers_schedules() -> None:
    featdepth = Schedule(2, 40, 1e-4, LrSchedule("multistep", milestones=(20, 30), gamma=0.5))
    rates = _rates(featdepth, 40)
    assert rates[19] == pytest.approx(1e-4) and rates[20] == pytest.approx(5e-5) and rates[30] == pytest.approx(2.5e-5)
    epc = Schedule(8, 20, 1e-4, LrSchedule("step", step_size=15))
    assert _rates(epc, 16)[14:] == pytest.approx([1e-4, 1e-5])
    gas = Schedule(12, 3, 5e-5, LrSchedule("exponential", gamma=0.9))
    assert _rates(gas, 3) == pytest.approx([5e-5, 4.5e-5, 4.05e-5])


def test_adamw_and_amsgrad_and_param_groups() -> None:
    class TwoRates(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.decoder = nn.Linear(2, 2), nn.Linear(2, 1)

        def param_groups(self, lr: float) -> list[dict]:
            return [{"params": self.encoder.parameters(), "lr": lr}, {"params": self.decoder.parameters(), "lr": 1e-4}]

    opt = build_optimizer(TwoRates(), Schedule(2, 1, 5e-5, LrSchedule(step_size=1), optimizer="adamw"))
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["lr"] for g in opt.param_groups] == [5e-5, 1e-4]
    assert opt.param_groups[0]["weight_decay"] == 0.01  # PyTorch's AdamW default, as GasMono runs it
    opt = build_optimizer(nn.Linear(2, 1), Schedule(2, 1, 1e-4, LrSchedule(step_size=1), amsgrad=True))
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["amsgrad"]


def test_linear_warmup_matches_mmcv() -> None:
    warmup = Warmup(iters=500, ratio=1 / 3)
    assert warmup.factor(0) == pytest.approx(1 / 3)
    assert warmup.factor(250) == pytest.approx(1 - 0.5 * (2 / 3))
    assert warmup.factor(500) == 1.0


class Recorder(nn.Module):
    """Records the learning rate and gradient norm it sees; two sub-steps per batch from epoch 1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((1,), 100.0))
        self.calls: list[tuple[int, int | None]] = []

    def steps_per_batch(self, epoch: int) -> int:
        return 1 if epoch == 0 else 2

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def training_step(self, batch: dict, substep: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        self.calls.append((self.epoch, substep))
        return (self.w * batch["x"]).sum() * 1e3, {}

    def checkpoint_state(self) -> dict:
        return {"w": self.w.detach().clone()}

    def load_checkpoint_state(self, state: dict) -> None:
        self.w.data.copy_(state["w"])


class Ones(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.ones(1)}


def test_substeps_warmup_and_clipping_in_the_loop(tmp_path: Path) -> None:
    seed_everything(0, deterministic=True)
    model = Recorder()
    lrs: list[float] = []
    schedule = Schedule(2, 2, 1.0, LrSchedule(step_size=10), optimizer="adam", warmup=Warmup(iters=2, ratio=0.5),
                        clip_grad_norm=1e-3, log_every=1)
    opt_steps = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        opt_steps.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        result = train(model, Ones(), schedule, tmp_path, 0, torch.device("cpu"), "fp",
                       log_metrics=lambda m, step: lrs.append(m["lr"]))
    finally:
        torch.optim.Adam.step = original
    # epoch 0: 2 batches x 1 step; epoch 1: 2 batches x 2 sub-steps on the same batch
    assert model.calls == [(0, 0), (0, 0), (1, 0), (1, 1), (1, 0), (1, 1)]
    assert result.steps == 6
    assert opt_steps == pytest.approx([0.5, 0.75, 1.0, 1.0, 1.0, 1.0])  # warm-up over the first two steps
    assert lrs[-1] == 1.0  # the scheduled rate is restored after warm-up
    # the raw gradient is 1e3; the last step's gradient was clipped to the profile's norm
    assert model.w.grad.abs().item() == pytest.approx(1e-3, rel=1e-5)
