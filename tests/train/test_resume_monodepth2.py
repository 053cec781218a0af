"""Killing Monodepth2 training mid-epoch and resuming gives bitwise the weights of an uninterrupted run.

The real path: the tiny synthetic KITTI world, `KittiRawDataset` with augmentation, the trainer's loader,
deterministic CPU mode, and the auto-masking noise drawn from torch's RNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from depthrepro.data.kitti_raw import KittiRawDataset
from depthrepro.io.kitti import read_split_file
from depthrepro.methods.registry import build_method
from depthrepro.synth.kitti_raw import render_kitti_raw
from depthrepro.train.seeding import seed_everything
from depthrepro.train.optim import LrSchedule, Schedule
from depthrepro.train.trainer import train

K_NORM = np.array([[0.58, 0, 0.5], [0, 1.92, 0.5]])
SCHEDULE = Schedule(batch_size=2, num_epochs=3, learning_rate=1e-4, lr_schedule=LrSchedule(step_size=2), log_every=1)


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_world")
    render_kitti_raw(root, preset="tiny", seed=0, workers=1)
    return root


def _run(world: Path, work: Path, kill_at_step: int | None = None) -> torch.nn.Module:
    seed_everything(0, deterministic=True)
    method = build_method("monodepth2", {"height": 64, "width": 192})
    entries = read_split_file(world / "splits/eigen_zhou/train_files.txt")
    dataset = KittiRawDataset(world, entries, 64, 192, [0, -1, 1], K_NORM, is_train=True, image_ext="png", seed=0)

    def maybe_kill(metrics: dict, step: int) -> None:
        if step == kill_at_step:
            raise Killed

    train(method, dataset, SCHEDULE, work, 0, torch.device("cpu"), "fp", log_metrics=maybe_kill)
    return method


def test_resume_after_a_kill_is_bitwise_identical(world: Path, tmp_path: Path) -> None:
    reference = _run(world, tmp_path / "a")
    steps_per_epoch = len(read_split_file(world / "splits/eigen_zhou/train_files.txt")) // SCHEDULE.batch_size
    with pytest.raises(Killed):
        _run(world, tmp_path / "b", kill_at_step=steps_per_epoch + 1)  # inside the second epoch
    assert (tmp_path / "b" / "resume.pt").is_file()
    torch.manual_seed(999)  # a restarted process starts from other RNG states; resume must restore them
    resumed = _run(world, tmp_path / "b")
    ref, res = reference.state_dict(), resumed.state_dict()
    assert ref.keys() == res.keys()
    for key in ref:
        assert torch.equal(ref[key], res[key]), key
