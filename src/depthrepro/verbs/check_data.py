"""`depthrepro check-data`: verify a downloaded dataset and write its manifest, or say what to run."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from depthrepro.io.atomic import atomic_write_json

SPLIT_PARTS = (("eigen", "test"), ("eigen_benchmark", "test"), ("eigen_zhou", "train"), ("eigen_zhou", "val"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml")
    p.add_argument("--datasets-file", type=Path, default=Path("params/datasets.yaml"))


def run(args: argparse.Namespace) -> int:
    datasets = yaml.safe_load(args.datasets_file.read_text())
    if args.dataset not in datasets:
        raise SystemExit(f"{args.datasets_file}: no dataset {args.dataset!r}")
    ds = datasets[args.dataset]
    root, splits = Path(ds["raw_root"]), Path(ds["splits"])
    drives = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("*/*_sync/image_02"))
    missing = [splits / s / f"{part}_files.txt" for s, part in SPLIT_PARTS
               if not (splits / s / f"{part}_files.txt").is_file()]
    if not drives or missing:
        what = f"no drives under {root}" if not drives else f"missing split files: {', '.join(map(str, missing))}"
        raise SystemExit(f"dataset {args.dataset!r} not downloaded ({what}) — download KITTI raw into {root} "
                         f"and monodepth2's split files into {splits} (the download rules of the "
                         f"data-preparation stage automate this)")
    manifest = {"dataset": args.dataset, "source": ds["source"], "drives": drives}
    atomic_write_json(root / "manifest.json", manifest)
    print(f"{args.dataset}: {len(drives)} drives under {root}")
    return 0
