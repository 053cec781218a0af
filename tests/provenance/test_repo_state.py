"""DVC hashes and git state are read without importing dvc or git libraries."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from depthrepro.provenance.repo_state import dvc_hash, git_state


def test_dvc_hash_reads_outs_md5(tmp_path: Path) -> None:
    f = tmp_path / "data.dvc"
    f.write_text("outs:\n- md5: abc123.dir\n  size: 3\n  nfiles: 1\n  hash: md5\n  path: data\n")
    assert dvc_hash(f) == "abc123.dir"


def test_dvc_hash_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data.dvc"):
        dvc_hash(tmp_path / "data.dvc")
    bad = tmp_path / "bad.dvc"
    bad.write_text("outs: []\n")
    with pytest.raises(ValueError, match="bad.dvc"):
        dvc_hash(bad)


def test_git_state_outside_and_inside_a_repository(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"commit": "unknown", "dirty": "unknown"}
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "f.txt").write_text("1")
    run("add", "f.txt")
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "c")
    state = git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] == "false"
    (tmp_path / "f.txt").write_text("2")
    assert git_state(tmp_path)["dirty"] == "true"
