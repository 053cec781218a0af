"""`depthrepro <verb>`: one verb per pipeline step; each Snakemake rule calls one.

Verbs live in `depthrepro.verbs.<name>` (a module with `add_arguments(parser)` and `run(args) -> int`)
and are imported only when called, so each rule's code digest covers exactly the modules it runs.
A verb with steps (`depthrepro prepare <step>`) is a module holding only ``STEPS``, ``{step: (verb module,
description)}``; the step's module is then imported and run as a verb of its own.
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
    "prepare": "Prepare data: `prepare <step>` (jpeg, gt, depth-hints, colmap-poses); `prepare --report`",
    "train": "Train a registered method on a dataset under a profile",
    "import-release": "Load an authors' released checkpoint into its method, as a depthrepro checkpoint",
    "import-predictions": "Turn disparities predicted elsewhere (.npy/.npz) into a predictions file to score",
    "predict": "Predict disparities of a test split with a checkpoint",
    "score": "Score predictions under a named evaluation protocol",
    "pose-ablation": "GasMono's refined poses vs raw COLMAP poses, both against the ground-truth poses",
    "predict-poses": "Predict the relative camera motion over an odometry test sequence with a checkpoint",
    "score-poses": "Score predicted odometry under a named pose protocol",
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
    return run_verb(argv[0].replace("-", "_"), f"depthrepro {argv[0]}", VERBS[argv[0]], argv[1:])


def run_verb(module_name: str, prog: str, description: str, argv: list[str]) -> int:
    """Import ``depthrepro.verbs.<module_name>`` and run it on ``argv``, or the step ``argv[0]`` it names."""
    module = importlib.import_module(f"depthrepro.verbs.{module_name}")
    steps: dict[str, tuple[str, str]] | None = getattr(module, "STEPS", None)
    if steps is None:
        sub = argparse.ArgumentParser(prog=prog, description=description)
        module.add_arguments(sub)
        return int(module.run(sub.parse_args(argv)) or 0)
    if argv and argv[0] in steps:
        step_module, step_description = steps[argv[0]]
        return run_verb(step_module, f"{prog} {argv[0]}", step_description, argv[1:])
    sub = argparse.ArgumentParser(prog=prog, description=description)
    sub.add_argument("step", choices=list(steps), help="; ".join(f"{k}: {v}" for k, (_, v) in steps.items()))
    sub.parse_args(argv[:1])  # no step given, -h, or an unknown one: argparse prints usage and exits
    return 2


if __name__ == "__main__":
    sys.exit(main())
