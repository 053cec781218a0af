"""`depthrepro <verb>`: one verb per pipeline step; each Snakemake rule calls one.

Verbs live in `depthrepro.verbs.<name>` (a module with `add_arguments(parser)` and `run(args) -> int`)
and are imported only when called, so each rule's code digest covers exactly the modules it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

VERBS = {
    "synth": "Render the synthetic world in KITTI raw's on-disk format",
    "check-data": "Check that a real dataset is downloaded and prepared",
    "download": "Download, verify and unpack the archives of params/downloads.yaml",
    "track-data": "Record the data folder's hash in data.dvc (dvc add)",
    "prepare-jpeg": "Convert a KITTI-format PNG tree to JPEG as monodepth2 does",
    "depth-hints": "Precompute depth hints (12 SGBM matchers, photometric selection) for a split",
    "export-gt": "Export the ground-truth depths of a test split",
    "colmap-poses": "COLMAP coarse relative poses of the NYUv2 training scenes (GasMono's cpose)",
    "train": "Train a registered method on a dataset under a profile",
    "predict": "Predict disparities of a test split with a checkpoint",
    "score": "Score predictions under a named evaluation protocol",
    "table": "Render a paper table: reported beside reproduced numbers",
    "report": "Build the self-contained HTML report: tables, figures, protocols, provenance",
    "audit": "Print the lineage of metrics files; flag artifacts changed since",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="depthrepro", description=__doc__.splitlines()[0])
    parser.add_argument("verb", choices=sorted(VERBS), help="; ".join(f"{k}: {v}" for k, v in VERBS.items()))
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        parser.parse_args(argv)
        return 2
    module = importlib.import_module(f"depthrepro.verbs.{argv[0].replace('-', '_')}")
    sub = argparse.ArgumentParser(prog=f"depthrepro {argv[0]}", description=VERBS[argv[0]])
    module.add_arguments(sub)
    return int(module.run(sub.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    sys.exit(main())
