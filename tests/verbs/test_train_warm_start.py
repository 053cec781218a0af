"""`depthrepro train`'s kept epochs and warm start refuse bad params and wrong checkpoints, naming them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depthrepro.verbs.train import _kept_epochs, _warm_start

WHERE = "params/methods/monodepth2.yaml:profiles.paper_hr"
WANTED = {"num_epochs": 5, "warm_start": {"profile": "paper", "epoch": 10}}


@pytest.mark.parametrize("kept", [10, [0], [21], ["10"], [True]])
def test_keep_epochs_outside_the_schedule_is_refused(kept: object) -> None:
    with pytest.raises(SystemExit, match=r"profiles\.paper_hr\.keep_epochs: expected a list of epochs in 1\.\.20"):
        _kept_epochs({"num_epochs": 20, "keep_epochs": kept}, WHERE)


def test_keep_epochs_defaults_to_none() -> None:
    assert _kept_epochs({"num_epochs": 20}, WHERE) == frozenset()
    assert _kept_epochs({"num_epochs": 20, "keep_epochs": [10, 20]}, WHERE) == {10, 20}


def test_warm_start_needs_its_argument_and_a_well_formed_entry(tmp_path: Path) -> None:
    assert _warm_start(None, {"num_epochs": 5}, "monodepth2", WHERE) is None
    with pytest.raises(SystemExit, match="warm_start is .* but --warm-start gave None"):
        _warm_start(None, WANTED, "monodepth2", WHERE)
    with pytest.raises(SystemExit, match=r"warm_start: expected \{profile: NAME, epoch: N\}"):
        _warm_start(tmp_path / "x.pt", {"warm_start": {"profile": "paper"}}, "monodepth2", WHERE)
    with pytest.raises(SystemExit, match="epoch10.pt does not exist .*keep_epochs lists 10"):
        _warm_start(tmp_path / "epoch10.pt", WANTED, "monodepth2", WHERE)


@pytest.mark.parametrize("saved", [{"params_name": "monodepth2_s", "epoch": 10, "optimizer": {}},
                                   {"params_name": "monodepth2", "epoch": 9, "optimizer": {}},
                                   {"params_name": "monodepth2", "epoch": 10}])
def test_warm_start_from_another_run_or_epoch_is_refused(tmp_path: Path, saved: dict) -> None:
    path = tmp_path / "epoch10.pt"
    torch.save({"method": "monodepth2", "state": {}, **saved}, path)
    with pytest.raises(SystemExit, match="wants 'monodepth2' after epoch 10 with its optimizer state"):
        _warm_start(path, WANTED, "monodepth2", WHERE)


def test_warm_start_returns_the_kept_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "epoch10.pt"
    torch.save({"method": "monodepth2", "params_name": "monodepth2", "epoch": 10, "state": {"a": 1},
                "optimizer": {"state": {}}}, path)
    assert _warm_start(path, WANTED, "monodepth2", WHERE)["state"] == {"a": 1}
