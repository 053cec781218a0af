"""`depthrepro audit`: print the lineage of metrics files, or of a table cell, and flag changed artifacts.

    depthrepro audit results/metrics/.../final/kitti_eigen.json
    depthrepro audit --table dualrefine_kitti --method monodepth2 --column abs_rel
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from depthrepro.provenance.audit import audit_metrics, cell_metrics, chain_to_json, format_chain


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("metrics", type=Path, nargs="*", help="metrics JSON files from `depthrepro score`")
    p.add_argument("--table", help="key of params/tables.yaml: audit the cell of --method and --column")
    p.add_argument("--method", help="registered method of the table row")
    p.add_argument("--column", help="metric column of the cell (e.g. abs_rel)")
    p.add_argument("--weights", default="final", choices=["final", "init"])
    p.add_argument("--dataset", default="*", help="restrict to one dataset (default: all)")
    p.add_argument("--profile", default="*", help="restrict to one profile (default: all)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--params-dir", type=Path, default=Path("params"))
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--data-dvc", type=Path, default=Path("data.dvc"))


def run(args: argparse.Namespace) -> int:
    paths = list(args.metrics)
    if args.table:
        if not (args.method and args.column):
            raise SystemExit("--table needs --method and --column")
        tables = yaml.safe_load((args.params_dir / "tables.yaml").read_text())
        if args.table not in tables:
            raise SystemExit(f"{args.params_dir / 'tables.yaml'}: no table {args.table!r}")
        cell = cell_metrics(args.results_dir, tables[args.table]["protocol"], args.method, args.weights,
                            args.dataset, args.profile)
        if not cell:
            raise SystemExit(f"no metrics of {args.method} ({args.weights}) under "
                             f"{tables[args.table]['protocol']} in {args.results_dir}: that cell is not reproduced")
        for path, value in cell:
            print(f"{args.table} / {args.method} / {args.column}: {value[args.column]:.6f} from {path}")
        paths += [path for path, _ in cell]
    if not paths:
        raise SystemExit("name metrics files, or a cell with --table/--method/--column")
    broken = False
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"{path}: no such metrics file")
        chain = audit_metrics(path, args.data_dvc)
        print(chain_to_json(chain) if args.json else format_chain(chain))
        broken |= any(link.status in ("MISMATCH", "MISSING") for link in chain)
    return 1 if broken else 0
