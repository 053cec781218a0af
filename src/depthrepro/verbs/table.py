"""`depthrepro table`: render one paper table (Markdown, LaTeX, HTML) from its params and metrics files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from depthrepro.io.atomic import atomic_write_text
from depthrepro.prepare.releases import load_releases
from depthrepro.provenance.repo_state import dvc_hash
from depthrepro.report.html import render_html
from depthrepro.report.latex import render_latex
from depthrepro.report.markdown import render_markdown
from depthrepro.report.tables import (
    group_scores,
    load_reported,
    load_table_protocol,
    load_table_specs,
    unscored_reason,
)

RENDERERS = {"md": render_markdown, "tex": render_latex, "html": render_html}
"""Output format (file suffix) → renderer; all take (title, columns, reported, scores, context)."""


def _formats(value: str) -> list[str]:
    formats = [f.strip() for f in value.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(RENDERERS))
    if not formats or unknown:
        raise argparse.ArgumentTypeError(f"formats must be a comma-separated subset of {sorted(RENDERERS)}, "
                                         f"got {value!r}")
    return list(dict.fromkeys(formats))


def _official_reasons(reported: list, params_dir: Path, csv_path: Path) -> dict[str, str]:
    """Release name → why its row shows no official numbers (read when no metrics file came for it)."""
    named = sorted({row.official for row in reported if row.official})
    if not named:
        return {}
    releases = load_releases(params_dir / "releases.yaml", params_dir / "downloads.yaml")
    unknown = [name for name in named if name not in releases]
    if unknown:
        raise SystemExit(f"{csv_path}: official column names {unknown}, which are not in "
                         f"{params_dir / 'releases.yaml'}")
    return {name: ("downloaded, but not scored in this run" if releases[name].downloaded()
                   else f"checkpoint not downloaded: {releases[name].download_hint()}") for name in named}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="key of params/tables.yaml")
    p.add_argument("--dataset", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--out", type=Path, required=True,
                   help="the Markdown path, results/tables/<table>.md; other formats go next to it "
                        "with their own suffix (.tex, .html)")
    p.add_argument("--formats", type=_formats, default=["md"], help="comma-separated subset of md,tex,html")
    p.add_argument("--unscored", default="",
                   help="why this run scores no row of the table (e.g. its test data is not prepared)")
    p.add_argument("--params-dir", type=Path, default=Path("params"))
    p.add_argument("metrics", type=Path, nargs="*", help="metrics JSON files from `depthrepro score`")


def run(args: argparse.Namespace) -> int:
    specs = load_table_specs(args.params_dir / "tables.yaml")
    if args.table not in specs:
        raise SystemExit(f"{args.params_dir / 'tables.yaml'}: no table {args.table!r}")
    spec = specs[args.table]
    datasets = yaml.safe_load((args.params_dir / "datasets.yaml").read_text())
    protocol = load_table_protocol(spec.protocol, args.params_dir / "protocols.yaml")
    reported = load_reported(spec.reported, spec.name, spec.columns)
    records = [json.loads(p.read_text()) for p in args.metrics]
    for path, rec in zip(args.metrics, records, strict=True):
        if rec["protocol"]["name"] != protocol["name"]:
            raise SystemExit(f"{path}: scored with protocol {rec['protocol']['name']!r}, "
                             f"table {args.table!r} needs {protocol['name']!r}")
    configured = sorted({rec["provenance"]["method"] for rec in records})
    implemented = sorted(p.stem for p in (args.params_dir / "methods").glob("*.yaml"))
    context = {
        "protocol": protocol, "dataset": args.dataset, "profile": args.profile,
        "data_md5": dvc_hash(Path("data.dvc")), "synthetic": datasets[args.dataset]["source"] == "synthetic",
        "configured_methods": configured, "implemented_methods": implemented,
        "official": _official_reasons(reported, args.params_dir, spec.reported),
        "descriptors": spec.descriptors, "region": spec.region, "notes": spec.notes, "missing": spec.missing,
        "unscored_reason": args.unscored or spec.unscored or unscored_reason(protocol),
    }
    scores = group_scores(records)
    for fmt in args.formats:
        text = RENDERERS[fmt](spec.heading, spec.columns, reported, scores, context)
        atomic_write_text(args.out.with_suffix(f".{fmt}"), text)
        if fmt == "md":
            print(text)
    return 0
