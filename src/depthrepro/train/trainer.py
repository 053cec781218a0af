"""The training loop shared by every method: the profile's optimizer and schedule, epoch checkpoints, exact resume.

A method is an `nn.Module` with `training_step(batch) -> (loss, logs)` and
`checkpoint_state()` / `load_checkpoint_state(state)`. The loop saves `resume.pt` after every epoch
(model, optimizer, scheduler, RNG states, epoch, step) and picks it up on restart, so a killed job
continues where the last finished epoch left off and, in deterministic mode, ends bit-identical.
Under `torchrun` each process trains a shard of every epoch with DDP.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from depthrepro.train.optim import Schedule, build_lr_scheduler, build_optimizer
from depthrepro.train.seeding import rng_state, set_rng_state

MetricsLogger = Callable[[dict[str, float], int], None]
EpochHook = Callable[[int, torch.optim.Optimizer], None]
"""Called on rank 0 with the number of finished epochs and the optimizer, before `resume.pt` is saved."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What a finished training reports."""

    epochs: int
    steps: int
    final_loss: float
    samples_per_s: float
    data_wait_fraction: float


def save_atomic(obj: object, path: Path) -> None:
    """torch.save to a temporary file, then rename: a killed job never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _move(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


class _Step(torch.nn.Module):
    """Routes `forward` to the method's `training_step`, so DDP's gradient hooks see the step."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict, substep: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        if substep is None:
            return self.method.training_step(batch)
        return self.method.training_step(batch, substep=substep)


def _distributed() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside `torchrun`."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _optimise(step_module: torch.nn.Module, batch: dict, substep: int | None, optimizer: torch.optim.Optimizer,
              scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler, schedule: Schedule,
              step: int, use_amp: bool, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
    """One forward, backward and optimizer step (warm-up factor and gradient clipping as scheduled).

    A non-finite loss is returned before any update, so the caller stops with the weights untouched.
    """
    with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
        loss, logs = step_module(batch, substep)
    if not torch.isfinite(loss):
        return loss, logs
    factor = schedule.warmup.factor(step)
    if factor != 1.0:
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr * factor
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if schedule.clip_grad_norm is not None:
        scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, schedule.clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    if factor != 1.0:  # the per-epoch scheduler keeps working from the scheduled rates
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr
    return loss, logs


def load_optimizer_moments(optimizer: torch.optim.Optimizer, state: Mapping) -> None:
    """Continue another run's optimizer: its moments and step counts, this run's learning rates.

    As monodepth2's `--load_weights_folder` restores `adam.pth` while its scheduler (PyTorch 0.4) recomputes
    every rate from the new run's `--learning_rate`. Raises ValueError when the parameter groups differ.
    """
    rates = [{k: g[k] for k in ("lr", "initial_lr") if k in g} for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(state)
    except ValueError as err:
        raise ValueError(f"the warm start's optimizer state does not fit this model: {err}") from err
    for group, kept in zip(optimizer.param_groups, rates):
        group.update(kept)


def train(method: torch.nn.Module, dataset: torch.utils.data.Dataset, schedule: Schedule, work_dir: Path,
          seed: int, device: torch.device, fingerprint: str, log_metrics: MetricsLogger | None = None,
          amp: bool = False, start_optimizer: Mapping | None = None,
          after_epoch: EpochHook | None = None) -> TrainResult:
    """Train `method` on `dataset`; under `torchrun` each process trains a shard with DDP.

    `work_dir/resume.pt` holds the state after the last finished epoch; it is resumed only when its
    `fingerprint` (config, code and data identity) equals this run's, and removed once training ends.
    `batch_size` is per process. `amp` enables float16 autocast with loss scaling on CUDA (ignored on CPU).
    `start_optimizer`: the optimizer state of the run this one warm-starts from (see load_optimizer_moments),
    used unless a resume state exists. `after_epoch` runs on rank 0 after each epoch (e.g. to keep its weights).
    A method may define `on_epoch_start(epoch)` (e.g. to freeze parts of itself), `param_groups(lr)` (parts at
    other learning rates) and `steps_per_batch(epoch)`: then each batch gets that many optimizer steps, the
    method's `training_step(batch, substep=i)` being called for each (GasMono's iterative self-distillation).
    """
    rank, world = _distributed()
    work_dir.mkdir(parents=True, exist_ok=True)
    resume_path = work_dir / "resume.pt"
    method.to(device)
    optimizer = build_optimizer(method, schedule)
    scheduler = build_lr_scheduler(optimizer, schedule)
    step_at_start = schedule.lr_schedule.step_at == "epoch_start"
    use_amp = amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loader_gen = torch.Generator().manual_seed(seed)
    start_epoch, step = 0, 0
    state = torch.load(resume_path, map_location=device, weights_only=False) if resume_path.is_file() else None
    if state is not None and state.get("fingerprint") != fingerprint:
        print(f"ignoring {resume_path}: it belongs to another configuration", flush=True)
        state = None
    if state is not None:
        method.load_checkpoint_state(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        loader_gen.set_state(state["loader_generator"])
        set_rng_state(state["rng"])
        start_epoch, step = state["epoch"], state["step"]
        print(f"resumed from {resume_path} at epoch {start_epoch}, step {step}", flush=True)
    elif start_optimizer is not None:
        load_optimizer_moments(optimizer, start_optimizer)

    sampler = (torch.utils.data.DistributedSampler(dataset, world, rank, shuffle=True, seed=seed, drop_last=True)
               if world > 1 else None)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=schedule.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True,
        generator=loader_gen, num_workers=schedule.num_workers, pin_memory=device.type == "cuda")
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training samples are fewer than one batch of {schedule.batch_size}")
    step_module: torch.nn.Module = _Step(method)
    if world > 1:
        step_module = torch.nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None,
            # methods that freeze parts of themselves mid-training, or whose official loss never reaches some
            # parameters, leave those without gradients
            find_unused_parameters=(getattr(method, "freezes_parameters", False)
                                    or getattr(method, "has_unused_parameters", False)))

    loss_value, wait_total, busy_total, samples = math.nan, 0.0, 0.0, 0
    for epoch in range(start_epoch, schedule.num_epochs):
        method.train()
        if hasattr(method, "on_epoch_start"):
            method.on_epoch_start(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{schedule.num_epochs}", mininterval=5.0, disable=rank > 0)
        t_ready = time.perf_counter()
        if step_at_start:
            scheduler.step()
        for index, batch in enumerate(bar):
            t_got = time.perf_counter()
            batch = _move(batch, device)
            substeps = method.steps_per_batch(epoch) if hasattr(method, "steps_per_batch") else None
            for substep in range(substeps or 1):
                loss, logs = _optimise(step_module, batch, substep if substeps else None, optimizer, scheduler,
                                       scaler, schedule, step, use_amp, device)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss is {loss.item()} at epoch {epoch}, step {step}; the last good state is {resume_path}")
                step += 1
            loss_value = float(loss.detach())
            t_done = time.perf_counter()
            wait_total += t_got - t_ready
            busy_total += t_done - t_got
            samples += schedule.batch_size * world
            if log_metrics and rank == 0 and (step % schedule.log_every == 0 or index == len(loader) - 1):
                elapsed = wait_total + busy_total
                log_metrics({"loss": loss_value, **logs, "lr": optimizer.param_groups[0]["lr"],
                             "samples_per_s": samples / elapsed, "data_wait_fraction": wait_total / elapsed},
                            step)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            t_ready = time.perf_counter()
        if not step_at_start:
            scheduler.step()
        if rank == 0:
            if after_epoch is not None:  # before resume.pt: a resumed run never skips an epoch's hook
                after_epoch(epoch + 1, optimizer)
            save_atomic({"model": method.checkpoint_state(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                         "loader_generator": loader_gen.get_state(), "rng": rng_state(), "epoch": epoch + 1,
                         "step": step, "fingerprint": fingerprint}, resume_path)
        if world > 1:
            torch.distributed.barrier()

    if rank == 0:
        resume_path.unlink(missing_ok=True)
    elapsed = max(wait_total + busy_total, 1e-9)
    return TrainResult(epochs=schedule.num_epochs, steps=step, final_loss=loss_value,
                       samples_per_s=samples / elapsed, data_wait_fraction=wait_total / elapsed)
