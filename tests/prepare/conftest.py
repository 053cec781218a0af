"""The tiny synthetic world in all its formats, rendered once per session for the data-preparation tests.

Tests read these trees and never write into them (outputs go to their own temporary folders).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from depthrepro.synth.kitti_odometry import render_kitti_odometry
from depthrepro.synth.kitti_raw import render_kitti_raw
from depthrepro.synth.nyuv2 import render_nyuv2


@pytest.fixture(scope="session")
def tiny_kitti_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_world") / "kitti_raw"
    render_kitti_raw(root, preset="tiny", seed=0, workers=1)
    return root


@pytest.fixture(scope="session")
def tiny_odometry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_world") / "kitti_odometry"
    render_kitti_odometry(root, preset="tiny", seed=0, workers=1)
    return root


@pytest.fixture(scope="session")
def tiny_nyuv2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_world") / "nyuv2"
    render_nyuv2(root, preset="tiny", seed=0, workers=1)
    return root
