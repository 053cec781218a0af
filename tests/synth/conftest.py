"""The tiny synthetic world, rendered once per test session (in-process and with two workers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from depthrepro.synth.drive import Drive, load_drives
from depthrepro.synth.kitti_raw import render_kitti_raw


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "kitti_raw"
    summary = render_kitti_raw(root, preset="tiny", seed=0, workers=1)
    print(f"\ntiny world rendered in-process: {summary}")
    return root


@pytest.fixture(scope="session")
def tiny_root_parallel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic_parallel") / "kitti_raw"
    summary = render_kitti_raw(root, preset="tiny", seed=0, workers=2)
    print(f"\ntiny world rendered with 2 workers: {summary}")
    return root


@pytest.fixture(scope="session")
def tiny_drives(tiny_root: Path) -> dict[str, Drive]:
    return load_drives(tiny_root)
