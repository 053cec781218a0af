"""The training loop: loss decreases, a killed run resumes bit-identically, NaN stops with a clear error,
a kept epoch warm-starts another run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from depthrepro.train.seeding import seed_everything
from depthrepro.train.optim import LrSchedule, Schedule
from depthrepro.train.trainer import TrainingDiverged, train


class TinyRegressor(nn.Module):
    """A stand-in method with the trainer's interface: fits y = 3x + noise drawn from torch's RNG."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
        self.poison = False

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        noise = 1e-3 * torch.randn_like(batch["y"])  # exercises the saved torch RNG state
        loss = ((self.net(batch["x"]) - batch["y"] - noise) ** 2).mean()
        if self.poison:
            loss = loss * float("nan")
        return loss, {}

    def checkpoint_state(self) -> dict:
        return {"net": self.net.state_dict()}

    def load_checkpoint_state(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])


class Points(torch.utils.data.Dataset):
    def __init__(self, n: int = 32) -> None:
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 4, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "y": 3 * self.x[i, :1]}


SCHEDULE = Schedule(batch_size=4, num_epochs=4, learning_rate=3e-2, lr_schedule=LrSchedule(step_size=3), log_every=1)


def _fresh(seed: int = 0) -> TinyRegressor:
    seed_everything(seed, deterministic=True)
    return TinyRegressor()


def test_loss_decreases(tmp_path: Path) -> None:
    losses: list[float] = []
    result = train(_fresh(), Points(), SCHEDULE, tmp_path, 0, torch.device("cpu"), "fp",
                   log_metrics=lambda m, step: losses.append(m["loss"]))
    assert result.steps == 4 * 8
    assert sum(losses[-8:]) < 0.2 * sum(losses[:8])
    assert not (tmp_path / "resume.pt").exists()


def test_killed_run_resumes_bit_identically(tmp_path: Path) -> None:
    reference = _fresh()
    train(reference, Points(), SCHEDULE, tmp_path / "a", 0, torch.device("cpu"), "fp")

    class Killed(Exception):
        pass

    def kill_in_epoch_three(metrics: dict, step: int) -> None:
        if step == 2 * 8 + 3:
            raise Killed

    interrupted = _fresh()
    with pytest.raises(Killed):
        train(interrupted, Points(), SCHEDULE, tmp_path / "b", 0, torch.device("cpu"), "fp",
              log_metrics=kill_in_epoch_three)
    assert (tmp_path / "b" / "resume.pt").is_file()
    torch.manual_seed(12345)  # a new process would start from other RNG states; resume must restore them
    resumed = _fresh(seed=7)
    result = train(resumed, Points(), SCHEDULE, tmp_path / "b", 0, torch.device("cpu"), "fp")
    assert result.steps == 4 * 8
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_state_of_another_configuration_is_ignored(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop(metrics: dict, step: int) -> None:
        if step == 9:
            raise Stop

    with pytest.raises(Stop):
        train(_fresh(), Points(), SCHEDULE, tmp_path, 0, torch.device("cpu"), "config-a", log_metrics=stop)
    result = train(_fresh(), Points(), SCHEDULE, tmp_path, 0, torch.device("cpu"), "config-b")
    assert result.steps == 4 * 8  # started from scratch, not from config-a's epoch


def test_nan_loss_stops_with_a_clear_error(tmp_path: Path) -> None:
    model = _fresh()
    model.poison = True
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 0, step 0"):
        train(model, Points(), SCHEDULE, tmp_path, 0, torch.device("cpu"), "fp")


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model = _fresh()
        losses: list[float] = []
        schedule = Schedule(batch_size=2, num_epochs=4, learning_rate=3e-2, lr_schedule=LrSchedule(step_size=3), log_every=1)
        train(model, Points(), schedule, Path(out_dir), 0, torch.device("cpu"), "fp",
              log_metrics=lambda m, step: losses.append(m["loss"]))
        torch.save({"state": model.state_dict(), "losses": losses}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_two_process_gloo_ddp_trains_in_lockstep(tmp_path: Path) -> None:
    torch.multiprocessing.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for a, b in zip(r0["state"].values(), r1["state"].values()):
        assert torch.equal(a, b)  # gradients were all-reduced: both replicas hold the same weights
    assert r1["losses"] == []  # only rank 0 logs
    losses = r0["losses"]
    assert len(losses) == 4 * 8 and sum(losses[-8:]) < 0.2 * sum(losses[:8])


def test_kept_epoch_warm_starts_a_run_with_its_moments_and_the_new_rate(tmp_path: Path) -> None:
    kept: dict[int, dict] = {}

    def keep(epoch: int, optimizer: torch.optim.Optimizer) -> None:
        kept[epoch] = {"optimizer": copy.deepcopy(optimizer.state_dict()), "epoch": epoch}  # as saved to disk

    source = _fresh()
    train(source, Points(), SCHEDULE, tmp_path / "source", 0, torch.device("cpu"), "fp", after_epoch=keep)
    assert sorted(kept) == [1, 2, 3, 4]
    moments = kept[2]["optimizer"]["state"]
    assert all(s["step"] == 2 * 8 for s in moments.values())  # 2 epochs of 8 batches

    rates: list[float] = []
    fine_tune = Schedule(batch_size=4, num_epochs=1, learning_rate=1e-5, lr_schedule=LrSchedule(step_size=15),
                         log_every=1)
    result = train(_fresh(1), Points(), fine_tune, tmp_path / "warm", 0, torch.device("cpu"), "fp",
                   log_metrics=lambda m, step: rates.append(m["lr"]), start_optimizer=kept[2]["optimizer"],
                   after_epoch=keep)
    assert result.steps == 8
    assert rates == [1e-5] * 8  # the source's 3e-2 is not carried over
    assert all(s["step"] == 3 * 8 for s in kept[1]["optimizer"]["state"].values())  # continued the counts


def test_warm_start_of_another_model_is_refused(tmp_path: Path) -> None:
    other = torch.optim.Adam(nn.Linear(2, 2).parameters()).state_dict()
    with pytest.raises(ValueError, match="warm start's optimizer state does not fit"):
        train(_fresh(), Points(), SCHEDULE, tmp_path, 0, torch.device("cpu"), "fp", start_optimizer=other)
