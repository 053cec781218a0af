"""`depthrepro report`: one self-contained HTML page of every table, the figures, protocols and provenance.

    depthrepro report --dataset synthetic_kitti --profile smoke --out results/report.html \\
        --figures-dir results/figures --tables results/tables/*.html --metrics results/metrics/**/*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from depthrepro.io.atomic import atomic_write_text
from depthrepro.report.figures import write_png
from depthrepro.report.page import ProtocolEntry, report_page
from depthrepro.report.pose_figures import pose_trajectory_figures
from depthrepro.report.result_figures import Scored, depth_figures, training_curve_figure
from depthrepro.report.tables import load_table_protocol, load_table_specs
from depthrepro.report.unscored_runs import UnscoredRun


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", type=Path, nargs="+", required=True,
                   help="table pages from `depthrepro table`, results/tables/<table>.html, in display order")
    p.add_argument("--metrics", type=Path, nargs="*", default=[], help="metrics JSON files from `depthrepro score`")
    p.add_argument("--pose-ablation", type=Path, nargs="*", default=[],
                   help="records of `depthrepro pose-ablation` (GasMono's refined vs raw COLMAP poses)")
    p.add_argument("--dynamic-regions", type=Path, nargs="*", default=[],
                   help="metrics JSON files under protocols with a dynamic region, shown side by side")
    p.add_argument("--unscored-runs", type=Path, nargs="*", default=[],
                   help="train.json of runs no table scores; their params files say why under `unscored`")
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml")
    p.add_argument("--profile", required=True)
    p.add_argument("--out", type=Path, required=True, help="the page, results/report.html")
    p.add_argument("--figures-dir", type=Path, required=True, help="where the PNG figures are written")
    p.add_argument("--figure-images", type=int, default=3, help="test images shown per depth figure")
    p.add_argument("--params-dir", type=Path, default=Path("params"))
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="holds mlflow.db")


def _read_json(path: Path, what: str = "metrics file") -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(f"{path}: {what} not found")
    return json.loads(path.read_text())


def _method_params(params_dir: Path, scored: list[Scored]) -> dict[str, dict[str, Any]]:
    params = {}
    for method in sorted({record["provenance"]["method"] for _, record in scored}):
        path = params_dir / "methods" / f"{method}.yaml"
        if not path.is_file():
            raise SystemExit(f"{path}: no params file for method {method!r} of the metrics files")
        params[method] = yaml.safe_load(path.read_text())
    return params


def _unscored_runs(params_dir: Path, paths: list[Path]) -> list[UnscoredRun]:
    runs = []
    for path in paths:
        record = _read_json(path, "training record")
        params_path = params_dir / "methods" / f"{record['method']}.yaml"
        if not params_path.is_file():
            raise SystemExit(f"{params_path}: no params file for the run {path}")
        reason = yaml.safe_load(params_path.read_text()).get("unscored")
        if not reason:
            raise SystemExit(f"{params_path}: no `unscored` reason, yet {path} is given as a run no table scores")
        runs.append((path, record, " ".join(str(reason).split())))
    return runs


def _protocols(scored: list[Scored], table_protocols: list[str], protocols_file: Path) -> list[ProtocolEntry]:
    """The definitions the numbers were scored with (from their records), then the tables' other protocols."""
    recorded: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, record in scored:
        name = record["protocol"]["name"]
        if name in recorded and recorded[name][1] != record["protocol"]:
            raise SystemExit(f"{path} and {recorded[name][0]}: two different definitions of protocol {name!r}; "
                             "rerun `depthrepro score`")
        recorded.setdefault(name, (path, record["protocol"]))
    entries = [ProtocolEntry(definition, True) for _, definition in recorded.values()]
    for name in dict.fromkeys(table_protocols):
        if name not in recorded:
            entries.append(ProtocolEntry(load_table_protocol(name, protocols_file), False))
    return entries


def _train_records(scored: list[Scored]) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for _, record in scored:
        train = record["provenance"].get("train") or {}
        if train.get("mlflow_run_id"):
            records.setdefault(train["mlflow_run_id"], train)
    return list(records.values())


def run(args: argparse.Namespace) -> int:
    if args.figure_images < 1:
        raise SystemExit(f"--figure-images must be at least 1, got {args.figure_images}")
    datasets = yaml.safe_load((args.params_dir / "datasets.yaml").read_text())
    if args.dataset not in datasets:
        raise SystemExit(f"{args.params_dir / 'datasets.yaml'}: no dataset {args.dataset!r}")
    specs = load_table_specs(args.params_dir / "tables.yaml")
    tables = []
    for path in args.tables:
        if path.stem not in specs:
            raise SystemExit(f"{path}: {path.stem!r} is not a table of {args.params_dir / 'tables.yaml'}")
        if not path.is_file():
            raise SystemExit(f"{path}: table page not found; render it with `depthrepro table --formats html`")
        tables.append((path.stem, path))
    scored = [(path, _read_json(path)) for path in args.metrics]
    protocols_file = args.params_dir / "protocols.yaml"

    depth_scored = [(path, record) for path, record in scored if record["protocol"].get("kind") != "pose"]
    unscored = _unscored_runs(args.params_dir, args.unscored_runs)
    figures = [*depth_figures(depth_scored, _method_params(args.params_dir, depth_scored), protocols_file,
                              args.figure_images),
               training_curve_figure(_train_records(scored) + [record for _, record, _ in unscored], args.results_dir),
               *pose_trajectory_figures(scored)]
    args.figures_dir.mkdir(parents=True, exist_ok=True)  # the rule's output folder, even with no figure drawn
    for figure in figures:
        if figure.png is not None:
            write_png(args.figures_dir / f"{figure.name}.png", figure.png)
    protocols = _protocols(scored, [specs[name].protocol for name, _ in tables], protocols_file)
    title = f"depthrepro report: {args.dataset}, profile {args.profile}"
    ablations = [(path, _read_json(path, "pose-ablation record")) for path in args.pose_ablation]
    dynamic = [(path, _read_json(path)) for path in args.dynamic_regions]
    page = report_page(title, datasets[args.dataset]["source"] == "synthetic", tables, figures, protocols, scored,
                       ablations, dynamic, unscored)
    atomic_write_text(args.out, page)
    drawn = sum(figure.png is not None for figure in figures)
    print(f"{args.out}: {len(tables)} tables, {drawn} figures, {len(scored)} reproduced numbers")
    return 0
