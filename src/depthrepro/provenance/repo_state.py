"""Git state of the checkout and DVC hashes of tracked data, read without importing git or dvc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml


def git_state(repo: Path) -> dict[str, str]:
    """`{"commit": sha | "unknown", "dirty": "true" | "false" | "unknown"}` of the checkout at `repo`."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": "unknown"}
    return {"commit": commit, "dirty": "true" if status.strip() else "false"}


def dvc_hash(dvc_file: Path) -> str:
    """The md5 recorded for the single output of a `.dvc` file (e.g. `data.dvc`)."""
    try:
        doc = yaml.safe_load(dvc_file.read_text())
        return str(doc["outs"][0]["md5"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{dvc_file}: not found; track the data with `depthrepro track-data`") from None
    except (KeyError, IndexError, TypeError, yaml.YAMLError) as err:
        raise ValueError(f"{dvc_file}: expected a DVC file with outs[0].md5 ({err})") from None


def copy_worktree(repo: Path, work: Path) -> None:
    """The checkout's files (tracked, and untracked but not ignored) copied into `work`, keeping their times."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for rel in listed:
        if (repo / rel).is_file():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / rel, work / rel)
