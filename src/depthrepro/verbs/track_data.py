"""`depthrepro track-data`: `dvc add` the raw-data folder, also in checkouts without `.git`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="folder to track (data)")


def _dvc(*args: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True, env=env)


def run(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        raise SystemExit(f"{args.path}: no such folder to track")
    has_git = Path(".git").exists()
    if not Path(".dvc").is_dir():
        _dvc("init", "-q", *([] if has_git else ["--no-scm"]))
    elif not has_git:
        # A DVC project initialised with git but checked out without it fails on every command otherwise.
        _dvc("config", "--local", "core.no_scm", "true")
    _dvc("add", "-q", str(args.path))
    print(f"tracked {args.path} in {args.path}.dvc")
    return 0
