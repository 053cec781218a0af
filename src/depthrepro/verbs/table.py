"""`depthrepro table`: render one paper table from its params and the metrics files given."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from depthrepro.evaluate.protocols import load_protocol
from depthrepro.io.atomic import atomic_write_text
from depthrepro.provenance.repo_state import dvc_hash
from depthrepro.report.tables import group_scores, load_reported, render_markdown


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="key of params/tables.yaml")
    p.add_argument("--dataset", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--params-dir", type=Path, default=Path("params"))
    p.add_argument("metrics", type=Path, nargs="*", help="metrics JSON files from `depthrepro score`")


def run(args: argparse.Namespace) -> int:
    tables = yaml.safe_load((args.params_dir / "tables.yaml").read_text())
    if args.table not in tables:
        raise SystemExit(f"{args.params_dir / 'tables.yaml'}: no table {args.table!r}")
    spec = tables[args.table]
    datasets = yaml.safe_load((args.params_dir / "datasets.yaml").read_text())
    protocol = load_protocol(spec["protocol"], args.params_dir / "protocols.yaml")
    reported = load_reported(Path(spec["reported"]), args.table, spec["columns"])
    records = [json.loads(p.read_text()) for p in args.metrics]
    for path, rec in zip(args.metrics, records):
        if rec["protocol"]["name"] != protocol.name:
            raise SystemExit(f"{path}: scored with protocol {rec['protocol']['name']!r}, "
                             f"table {args.table!r} needs {protocol.name!r}")
    configured = sorted({rec["provenance"]["method"] for rec in records})
    implemented = sorted(p.stem for p in (args.params_dir / "methods").glob("*.yaml"))
    context = {
        "protocol": protocol.to_dict(), "dataset": args.dataset, "profile": args.profile,
        "data_md5": dvc_hash(Path("data.dvc")), "synthetic": datasets[args.dataset]["source"] == "synthetic",
        "configured_methods": configured, "implemented_methods": implemented,
        "official": {m: "checkpoint not downloaded" for m in implemented},
    }
    text = render_markdown(f"{spec['paper']} — {spec['title']}", spec["columns"], reported,
                           group_scores(records), context)
    atomic_write_text(args.out, text)
    print(text)
    return 0
