"""Optimisation schedules of the papers as data: optimizer, learning-rate policy, warm-up, clipping.

A profile in `params/methods/<method>.yaml` names them (`optimizer`, `lr_schedule`, `warmup`,
`clip_grad_norm`, …); `Schedule.from_profile` validates them and the trainer builds the torch objects
with `build_optimizer` / `build_lr_scheduler`. A method with parts at different learning rates
(GasMono) provides `param_groups(learning_rate)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

OPTIMIZERS = ("adam", "adamw")
LR_POLICIES = ("step", "multistep", "exponential")
STEP_AT = ("epoch_end", "epoch_start")


class ScheduleError(ValueError):
    """A profile's optimisation keys are missing or invalid."""


@dataclass(frozen=True)
class LrSchedule:
    """Per-epoch learning-rate policy.

    `step`: ×gamma every `step_size` epochs; `multistep`: ×gamma at each epoch in `milestones`;
    `exponential`: ×gamma every epoch. `step_at: epoch_start` steps the scheduler before each epoch's
    batches (GasMono's loop, so epoch 0 already runs at lr·gamma), `epoch_end` after them.
    """

    policy: str = "step"
    step_size: int | None = None
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    step_at: str = "epoch_end"


@dataclass(frozen=True)
class Warmup:
    """mmcv's linear warm-up: over the first `iters` steps the rate rises from lr·ratio to lr."""

    iters: int = 0
    ratio: float = 1.0

    def factor(self, step: int) -> float:
        """Multiplier of the scheduled rate at global step `step` (1 after the warm-up)."""
        if step >= self.iters:
            return 1.0
        return 1.0 - (1.0 - step / self.iters) * (1.0 - self.ratio)


@dataclass(frozen=True)
class Schedule:
    """Optimisation schedule of a profile."""

    batch_size: int
    num_epochs: int
    learning_rate: float
    lr_schedule: LrSchedule = field(default_factory=LrSchedule)
    optimizer: str = "adam"
    weight_decay: float | None = None
    amsgrad: bool = False
    warmup: Warmup = field(default_factory=Warmup)
    clip_grad_norm: float | None = None
    num_workers: int = 0
    log_every: int = 10

    @staticmethod
    def from_profile(profile: Mapping[str, Any], where: str) -> Schedule:
        """The schedule keys of a params profile; `where` names the file and profile in errors."""
        for key in ("batch_size", "num_epochs", "learning_rate", "lr_schedule"):
            if key not in profile:
                raise ScheduleError(f"{where}: missing key {key!r}")
        lr = _sub(LrSchedule, profile["lr_schedule"], f"{where}.lr_schedule")
        warmup = _sub(Warmup, profile.get("warmup", {}), f"{where}.warmup")
        schedule = Schedule(
            batch_size=int(profile["batch_size"]), num_epochs=int(profile["num_epochs"]),
            learning_rate=float(profile["learning_rate"]), lr_schedule=lr, warmup=warmup,
            optimizer=profile.get("optimizer", "adam"), weight_decay=profile.get("weight_decay"),
            amsgrad=bool(profile.get("amsgrad", False)), clip_grad_norm=profile.get("clip_grad_norm"),
            num_workers=int(profile.get("num_workers", 0)))
        schedule.validate(where)
        return schedule

    def validate(self, where: str) -> None:
        """Raise ScheduleError naming the offending key."""
        lr = self.lr_schedule
        if self.optimizer not in OPTIMIZERS:
            raise ScheduleError(f"{where}.optimizer: {self.optimizer!r} is not one of {OPTIMIZERS}")
        if lr.policy not in LR_POLICIES:
            raise ScheduleError(f"{where}.lr_schedule.policy: {lr.policy!r} is not one of {LR_POLICIES}")
        if lr.step_at not in STEP_AT:
            raise ScheduleError(f"{where}.lr_schedule.step_at: {lr.step_at!r} is not one of {STEP_AT}")
        if lr.policy == "step" and not (lr.step_size and lr.step_size > 0):
            raise ScheduleError(f"{where}.lr_schedule: policy 'step' needs a positive step_size")
        if lr.policy == "multistep" and not lr.milestones:
            raise ScheduleError(f"{where}.lr_schedule: policy 'multistep' needs milestones")
        if self.warmup.iters < 0 or not 0 < self.warmup.ratio <= 1:
            raise ScheduleError(f"{where}.warmup: iters must be >= 0 and ratio in (0, 1]")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise ScheduleError(f"{where}.clip_grad_norm: must be positive, got {self.clip_grad_norm}")


def _sub(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ScheduleError(f"{where}: expected a mapping, got {values!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ScheduleError(f"{where}: unknown keys {unknown}; expected a subset of {sorted(known)}")
    return cls(**{k: tuple(v) if k == "milestones" else v for k, v in values.items()})


def build_optimizer(method: torch.nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
    """Adam or AdamW over the method's parameter groups (`param_groups(lr)` when it has one)."""
    groups = (method.param_groups(schedule.learning_rate) if hasattr(method, "param_groups")
              else [{"params": list(method.parameters())}])
    kwargs: dict[str, Any] = {"lr": schedule.learning_rate, "amsgrad": schedule.amsgrad}
    if schedule.weight_decay is not None:
        kwargs["weight_decay"] = schedule.weight_decay
    cls = torch.optim.AdamW if schedule.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, **kwargs)


def build_lr_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch scheduler of `schedule.lr_schedule`."""
    lr = schedule.lr_schedule
    if lr.policy == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, lr.step_size, lr.gamma)
    if lr.policy == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(lr.milestones), lr.gamma)
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, lr.gamma)
