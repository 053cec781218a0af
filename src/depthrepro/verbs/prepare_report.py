"""`depthrepro prepare --report`: the acceptance numbers of a dataset's prepared data, printed and as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from depthrepro.io.atomic import atomic_write_json
from depthrepro.prepare.report import Trees, format_report, prepare_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="key of the datasets file (where its raw trees are)")
    p.add_argument("--datasets-file", type=Path, default=Path("params/datasets.yaml"))
    p.add_argument("--prepared", type=Path, help="prepared data (default: results/prepared/<dataset>)")
    p.add_argument("--json", type=Path, help="also write the report here")
    p.add_argument("--max-pairs", type=int, default=8, help="stereo pairs per hint tree (2 hints each)")
    p.add_argument("--max-images", type=int, default=4, help="maps per GT file, and JPEG files checked")
    p.add_argument("--imagemagick", type=Path, default=Path("/usr/bin/convert"),
                   help="ImageMagick's convert, for the pixel check (skipped when absent)")


def run(args: argparse.Namespace) -> int:
    datasets = yaml.safe_load(args.datasets_file.read_text())
    if args.dataset not in datasets:
        raise SystemExit(f"{args.datasets_file}: no dataset {args.dataset!r} (known: {', '.join(datasets)})")
    prepared = args.prepared or Path("results/prepared") / args.dataset
    if not prepared.is_dir():
        raise SystemExit(f"{prepared}: no prepared data (run the prepare steps first)")
    report = prepare_report(Trees.from_dataset(datasets[args.dataset]), prepared, max_pairs=args.max_pairs,
                            max_images=args.max_images, imagemagick=args.imagemagick)
    report["dataset"] = args.dataset
    if args.json:
        atomic_write_json(args.json, report)
    print(format_report(report))
    return 0
