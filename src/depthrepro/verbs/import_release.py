"""`depthrepro import-release`: an authors' released checkpoint as a depthrepro checkpoint, with a record.

Writes the checkpoint (`--out`) and, next to it, `<out stem>.json`: the release, its archive and URL, the
sha256 of every file read, the params file and profile of the model, and the code and git state. The
score step takes that record where a trained checkpoint has its train.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.io.atomic import atomic_write_json
from depthrepro.io.file_hash import file_sha256
from depthrepro.io.released import release_files
from depthrepro.methods.release_import import import_release
from depthrepro.prepare.releases import load_releases
from depthrepro.provenance.code_digest import code_digest
from depthrepro.provenance.repo_state import git_state
from depthrepro.train.trainer import save_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--release", required=True, help="name in params/releases.yaml")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt); the record goes beside it")
    p.add_argument("--params-dir", type=Path, default=Path("params"))


def run(args: argparse.Namespace) -> int:
    releases = load_releases(args.params_dir / "releases.yaml", args.params_dir / "downloads.yaml")
    if args.release not in releases:
        raise SystemExit(f"{args.params_dir / 'releases.yaml'}: no release {args.release!r} "
                         f"(known: {', '.join(releases)})")
    release = releases[args.release]
    if not release.downloaded():
        raise SystemExit(f"{release.root}: release {release.name!r} is not downloaded; {release.download_hint()}")
    checkpoint = import_release(release, args.params_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(checkpoint, args.out)
    git = git_state(Path.cwd())
    src_root = Path(__file__).resolve().parents[2]
    record = {"stage": "official", "release": release.name, "archive": release.archive.name,
              "url": release.archive.url, "source": release.archive.source, "note": release.note,
              "files": {str(p): file_sha256(p) for p in release_files(release.root, release.file)},
              "method": checkpoint["method"], "params_name": release.params, "profile": release.profile,
              "model_cfg": checkpoint["model_cfg"], "weights_init": checkpoint["weights_init"],
              "code.digest": code_digest(src_root, ["depthrepro.verbs.import_release"]),
              "git.commit": git["commit"], "git.dirty": git["dirty"],
              "checkpoints": {"official": file_sha256(args.out)}}
    atomic_write_json(args.out.with_suffix(".json"), record)
    print(json.dumps({k: record[k] for k in ("release", "method", "files")}))
    return 0
