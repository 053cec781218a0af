"""`depthrepro audit`: print the lineage of metrics files and flag artifacts changed since."""

from __future__ import annotations

import argparse
from pathlib import Path

from depthrepro.provenance.audit import audit_metrics, chain_to_json, format_chain


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("metrics", type=Path, nargs="+", help="metrics JSON files from `depthrepro score`")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--data-dvc", type=Path, default=Path("data.dvc"))


def run(args: argparse.Namespace) -> int:
    broken = False
    for path in args.metrics:
        if not path.is_file():
            raise SystemExit(f"{path}: no such metrics file")
        chain = audit_metrics(path, args.data_dvc)
        print(chain_to_json(chain) if args.json else format_chain(chain))
        broken |= any(link.status in ("MISMATCH", "MISSING") for link in chain)
    return 1 if broken else 0
