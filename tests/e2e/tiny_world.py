"""Temporary copies of the project on the tiny synthetic world, and the tools run inside them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from depthrepro.provenance.repo_state import copy_worktree

# The smallest DAG that trains, predicts, scores and renders a table.
EVALUATED_CONFIG = """\
dataset: synthetic_kitti_tiny
profile: smoke
methods: [monodepth2]
seeds: [0]
tables: [dualrefine_kitti]
"""


def tool_env(**extra: str) -> dict[str, str]:
    """This environment with this interpreter's bin folder first on PATH (the `depthrepro` verbs), plus `extra`."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


def run_snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`snakemake ARGS --configfile tiny.yaml` in `workdir`."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--configfile", "tiny.yaml"], cwd=workdir,
                          env=env or tool_env(), capture_output=True, text=True)


def all_tables(workdir: Path) -> subprocess.CompletedProcess:
    """`snakemake all_tables` on two cores and one GPU slot; fails the test, with the log's tail, unless it succeeds."""
    run = run_snakemake(workdir, "all_tables", "--cores", "2", "--resources", "gpu=1")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-8000:]
    return run


def copy_project(repo_root: Path, work: Path, config: str) -> Path:
    """The project's files (tracked and untracked, not ignored) copied into `work`, with `config` as tiny.yaml."""
    copy_worktree(repo_root, work)
    (work / "tiny.yaml").write_text(config)
    return work


def copy_run(run: Path, work: Path) -> Path:
    """A copy of a finished run (files, Snakemake metadata, DVC state) keeping modification times."""
    shutil.copytree(run, work, symlinks=True, dirs_exist_ok=True)
    return work
