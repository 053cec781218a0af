"""`depthrepro train` trains with as many processes as its profile's `gpus` says, and refuses any other count."""

from __future__ import annotations

import pytest

from depthrepro.verbs.train import _processes

WHERE = "params/methods/m.yaml:profiles.smoke"


def test_one_process_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert _processes({}, WHERE) == 1


def test_torchrun_processes_match_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert _processes({"gpus": 2}, WHERE) == 2
    with pytest.raises(SystemExit, match=r"profiles.smoke.gpus is 1, but this run has 2 process"):
        _processes({}, WHERE)


def test_a_multi_gpu_profile_run_without_torchrun_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(SystemExit, match=r"gpus is 4, but this run has 1 process.*--nproc_per_node 4"):
        _processes({"gpus": 4}, WHERE)


@pytest.mark.parametrize("gpus", [0, "2", True, 1.5])
def test_gpus_must_be_a_positive_integer(gpus: object) -> None:
    with pytest.raises(SystemExit, match=r"profiles.smoke.gpus: expected a positive integer"):
        _processes({"gpus": gpus}, WHERE)
