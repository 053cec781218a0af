"""Fixtures of the end-to-end tests: copies of the project on the tiny synthetic world (see tiny_world.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_world import EVALUATED_CONFIG, all_tables, copy_project


@pytest.fixture(scope="session")
def tiny_project(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """Factory: a fresh copy of the project in a new folder named after `name`, with `config` as tiny.yaml."""
    return lambda name, config: copy_project(repo_root, tmp_path_factory.mktemp(name), config)


@pytest.fixture(scope="session")
def evaluated_tiny_run(tiny_project: Callable[[str, str], Path]) -> Path:
    """One finished `all_tables` run of EVALUATED_CONFIG for the session.

    Read-only: a test that changes anything works on `tiny_world.copy_run(...)`, which keeps modification
    times, so the copy is as up to date for Snakemake as the original.
    """
    work = tiny_project("evaluated", EVALUATED_CONFIG)
    all_tables(work)
    return work
