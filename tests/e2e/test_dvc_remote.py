"""DVC round trip of a finished tiny run: `dvc repro` records it, `dvc push` sends data and checkpoints to a
local directory remote, and after the cache and the workspace copies are deleted `dvc pull` brings back the
same bytes, so that `all_tables` finishes again without retraining. A corrupted remote object is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_world import copy_run, run_snakemake, tool_env

pytestmark = pytest.mark.e2e

TRACKED = ("data", "results/checkpoints")


def _dvc(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=work, env=tool_env(DVC_NO_ANALYTICS="1"),
                          capture_output=True, text=True)


from depthrepro.io.file_hash import file_sha256
def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout + result.stderr


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _tracked_sha256(work: Path) -> dict[str, str]:
    return {path.relative_to(work).as_posix(): file_sha256(path)
            for folder in TRACKED for path in _files(work / folder)}


def _md5s(root: Path) -> dict[str, str]:
    """DVC's hash (md5 of the bytes) of every file under root, by path relative to root."""
    return {path.relative_to(root).as_posix(): hashlib.md5(path.read_bytes()).hexdigest() for path in _files(root)}


def _remote_object(remote: Path, md5: str) -> Path:
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def _remote_listing(work: Path, remote: Path) -> dict[str, dict[str, str]]:
    """For each tracked folder, the remote's `.dir` listing (relative path → md5) of the recorded hash."""
    outs = yaml.safe_load((work / "data.dvc").read_text())["outs"]
    outs += yaml.safe_load((work / "dvc.lock").read_text())["stages"]["all_tables"]["outs"]
    recorded = {out["path"]: out["md5"] for out in outs if out["path"] in TRACKED}
    assert set(recorded) == set(TRACKED), recorded
    return {folder: {e["relpath"]: e["md5"] for e in json.loads(_remote_object(remote, md5).read_text())}
            for folder, md5 in recorded.items()}


def _remove_local_copies(work: Path) -> None:
    for rel in (".dvc/cache", *TRACKED):
        shutil.rmtree(work / rel, ignore_errors=True)


def _reproduced_row(work: Path) -> str:
    table = re.sub(r"\*\*|</?u>", "", (work / "results/tables/dualrefine_kitti.md").read_text())
    row = re.search(r"^\| Monodepth2 \| \d+x\d+ \| Reproduced .*$", table, flags=re.MULTILINE)
    assert row, table
    return row.group(0)


@pytest.fixture(scope="module")
def pushed(evaluated_tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the finished run recorded by `dvc repro` and pushed to a fresh local remote: (work, remote)."""
    work = copy_run(evaluated_tiny_run, tmp_path_factory.mktemp("dvc_work"))
    remote = tmp_path_factory.mktemp("dvc_remote")
    # dvc.yaml's stage runs the default configuration: in this copy that is the tiny run's.
    shutil.copy2(work / "tiny.yaml", work / "params/profiles/default.yaml")
    repro = _ok(_dvc(work, "repro", "all_tables"))
    assert "Nothing to be done" in repro, repro[-3000:]  # dvc repro ran Snakemake; the run was up to date
    repo_config = (work / ".dvc/config").read_text()
    _ok(_dvc(work, "remote", "add", "--local", "-d", "store", str(remote)))
    _ok(_dvc(work, "remote", "modify", "--local", "store", "verify", "true"))
    assert (work / ".dvc/config").read_text() == repo_config  # the remote lives in the untracked config.local
    _ok(_dvc(work, "push"))
    return work, remote


@pytest.fixture(scope="module")
def pulled(pushed: tuple[Path, Path]) -> dict[str, str]:
    """Deletes the cache and the workspace copies of the pushed run, pulls; returns the sha256s from before."""
    work, _ = pushed
    before = _tracked_sha256(work)
    assert any(rel.endswith("/final.pt") for rel in before) and any(rel.startswith("data/") for rel in before)
    _remove_local_copies(work)
    _ok(_dvc(work, "pull"))
    return before


def test_pull_restores_the_same_bytes_under_the_recorded_hashes(pushed: tuple[Path, Path],
                                                                 pulled: dict[str, str]) -> None:
    work, remote = pushed
    assert _tracked_sha256(work) == pulled
    # the md5 of every pulled file, computed here, equals the remote's listing of the recorded folder hash
    for folder, listing in _remote_listing(work, remote).items():
        assert _md5s(work / folder) == listing, folder
    assert "up to date" in _ok(_dvc(work, "status"))


def test_pulled_checkpoints_evaluate_again_without_retraining(evaluated_tiny_run: Path,
                                                              pushed: tuple[Path, Path],
                                                              pulled: dict[str, str]) -> None:
    work, _ = pushed
    run = run_snakemake(work, "all_tables", "--cores", "2", "--resources", "gpu=1")
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-8000:]
    assert "rule predict:" in log and "rule train:" not in log, log[-4000:]
    assert _tracked_sha256(work) == pulled
    assert _reproduced_row(work) == _reproduced_row(evaluated_tiny_run)


def test_a_corrupted_remote_object_is_refused(pushed: tuple[Path, Path]) -> None:
    """Runs last: it leaves the workspace without checkpoints."""
    work, remote = pushed
    final_md5 = next(md5 for rel, md5 in _remote_listing(work, remote)["results/checkpoints"].items()
                     if rel.endswith("/final.pt"))
    obj = _remote_object(remote, final_md5)
    mode = obj.stat().st_mode
    obj.chmod(mode | 0o200)
    with obj.open("r+b") as f:
        f.seek(1000)
        original = f.read(1)
        f.seek(1000)
        f.write(bytes([original[0] ^ 0xFF]))
    try:
        _remove_local_copies(work)
        pull = _dvc(work, "pull", "-v")
        assert pull.returncode != 0, pull.stdout[-3000:]
        message = pull.stdout + pull.stderr
        assert "Checkout failed" in message and "results/checkpoints" in message, message[-3000:]
        assert re.search(rf"corrupted cache file '[^']*/{final_md5[:2]}/{final_md5[2:]}'", message), message[-3000:]
        assert not list((work / "results/checkpoints").rglob("final.pt"))  # nothing corrupted reached the workspace
    finally:
        with obj.open("r+b") as f:
            f.seek(1000)
            f.write(original)
        obj.chmod(mode)
