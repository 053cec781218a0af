"""The report's figures drawn from one run's results files.

Everything a figure shows is read from files the pipeline wrote, found through the metrics records
of `depthrepro score`: their ``provenance`` names the predictions, the ground truth and the training
record (whose ``prepared.images`` is the image tree and ``mlflow_run_id`` the training run in
``results/mlflow.db``). Depth figures are drawn per protocol, on the protocol each method's params
file names (``protocol:``), with one column per method and checkpoint stage (its lowest seed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthrepro.evaluate.post_process import batch_post_process_disparity
from depthrepro.evaluate.protocols import Protocol, load_protocol
from depthrepro.evaluate.score import EmptyMaskError
from depthrepro.prepare.gt_export import DEPTH_KEY, load_gt_depths
from depthrepro.provenance.tracking import tracking_uri
from depthrepro.report.figures import (
    Panel,
    curves_png,
    grid_png,
    inverse_depth_rgb,
    relative_error_map,
)

STAGES = ("init", "final")
CURVE_METRIC = "loss"
"""The training metric the trainer logs every ``log_every`` steps (the optimised total loss)."""

Scored = tuple[Path, dict[str, Any]]
"""A metrics file and its record."""


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the page: its PNG (None when nothing could be drawn), caption and notes."""

    name: str
    title: str
    caption: str
    png: bytes | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Column:
    """One method and checkpoint stage: its metrics record and the predictions of the shown images."""

    method: str
    stage: str
    seed: int
    metrics_path: Path
    record: dict[str, Any]
    disp: dict[int, np.ndarray] = field(repr=False)
    flipped: dict[int, np.ndarray] | None = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.method} {self.stage} (seed {self.seed})"

    @property
    def predictions_path(self) -> Path:
        return Path(self.record["provenance"]["predictions"])


def figure_indices(total: int, count: int) -> list[int]:
    """``count`` evenly spaced indices into a split of ``total`` images (every image when fewer)."""
    if total < 1 or count < 1:
        raise ValueError(f"need at least one image and one index, got total={total}, count={count}")
    return sorted({int(i) for i in np.linspace(0, total - 1, min(count, total)).round()})


def _seed(record: dict[str, Any]) -> int:
    return int(record["provenance"]["train"].get("seed", 0))


def _chosen_records(scored: Sequence[Scored], protocol: str) -> list[Scored]:
    """Per method, the lowest seed's init and final records under ``protocol``, methods in name order."""
    chosen: dict[tuple[str, str], Scored] = {}
    for path, record in scored:
        prov = record["provenance"]
        if record["protocol"]["name"] != protocol or prov["weights"] not in STAGES:
            continue
        key = (prov["method"], prov["weights"])
        if key not in chosen or _seed(record) < _seed(chosen[key][1]):
            chosen[key] = (path, record)
    return [chosen[key] for key in sorted(chosen, key=lambda k: (k[0], STAGES.index(k[1])))]


def _entries(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file named by a metrics record not found")
    with np.load(path) as archive:
        missing = [key for key in ("disp", "entries") if key not in archive.files]
        if missing:
            raise ValueError(f"{path}: predictions file lacks {missing}")
        return archive["entries"]


def _column(path: Path, record: dict[str, Any], indices: Sequence[int]) -> _Column:
    prov = record["provenance"]
    with np.load(prov["predictions"]) as archive:
        disp = archive["disp"]
        flipped = archive["disp_flipped"] if "disp_flipped" in archive.files else None
    return _Column(prov["method"], prov["weights"], _seed(record), path, record, {i: disp[i] for i in indices},
                   None if flipped is None else {i: flipped[i] for i in indices})


def _columns(scored: Sequence[Scored], protocol: str, count: int) -> tuple[list[str], list[int], list[_Column]]:
    """The test entries, the indices shown and the columns (method × stage) of ``protocol``'s figures."""
    chosen = _chosen_records(scored, protocol)
    entries = _entries(Path(chosen[0][1]["provenance"]["predictions"]))
    for _, record in chosen[1:]:
        if not np.array_equal(_entries(Path(record["provenance"]["predictions"])), entries):
            raise ValueError(f"{record['provenance']['predictions']} and {chosen[0][1]['provenance']['predictions']} "
                             f"predict different test images under protocol {protocol!r}")
    indices = figure_indices(len(entries), count)
    return [str(e) for e in entries], indices, [_column(path, record, indices) for path, record in chosen]


def _checked_protocol(name: str, columns: Sequence[_Column], protocols_file: Path) -> Protocol:
    protocol = load_protocol(name, protocols_file)
    for column in columns:
        if column.record["protocol"] != protocol.to_dict():
            raise ValueError(f"{column.metrics_path}: scored under a definition of protocol {name!r} that differs "
                             f"from the one in {protocols_file}; rerun `depthrepro score`")
    return protocol


def _input_image(column: _Column, index: int) -> np.ndarray:
    predictions = Path(column.record["provenance"]["predictions"])
    with np.load(predictions) as archive:
        if "image_paths" not in archive.files:
            raise ValueError(f"{predictions}: predictions file lacks image_paths; rerun `depthrepro predict`")
        path = Path(str(archive["image_paths"][index]))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: test image {index} of {predictions} not found")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _gt_maps(path: Path, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The GT maps of ``indices`` only (one array each in our layout; the legacy file loads whole)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ground-truth file named by a metrics record not found")
    with np.load(path, allow_pickle=False) as archive:
        if all(DEPTH_KEY.format(i) in archive.files for i in indices):
            return {i: archive[DEPTH_KEY.format(i)] for i in indices}
    maps = load_gt_depths(path)
    return {i: maps[i] for i in indices}


def _scored_disparity(column: _Column, index: int, protocol: Protocol) -> np.ndarray:
    """The disparity the protocol scores for image ``index`` (flip post-processed when it says so)."""
    disp = column.disp[index]
    if not protocol.post_process:
        return disp
    if column.flipped is None:
        raise ValueError(f"{column.predictions_path}: protocol {protocol.name!r} needs flipped disparities for "
                         "post-processing; the file has none")
    return batch_post_process_disparity(disp[None], column.flipped[index][None])[0]


def recorded_abs_rel(record: dict[str, Any], index: int) -> float | None:
    """abs_rel of test image ``index`` as the metrics record states it; None when the record has no
    abs_rel or left the image out (no valid GT pixel), which shifts the later images' positions."""
    if "abs_rel" not in record["per_image"]:
        return None
    dropped = set(record.get("dropped_images") or [])
    if index in dropped:
        return None
    return float(record["per_image"]["abs_rel"][index - sum(1 for d in dropped if d < index)])


def _error_panel(column: _Column, index: int, gt: np.ndarray, protocol: Protocol) -> Panel:
    try:
        errors = relative_error_map(_scored_disparity(column, index, protocol), gt, protocol,
                                    bool(column.record["stereo_trained"]))
    except EmptyMaskError:
        return Panel(column.label, note="no GT pixel passes the protocol's mask")
    value = recorded_abs_rel(column.record, index)
    return Panel(column.label + ("" if value is None else f": abs_rel {value:.3f}"), errors=errors)


def depth_figures(scored: Sequence[Scored], method_params: Mapping[str, dict[str, Any]], protocols_file: Path,
                  count: int) -> list[ReportFigure]:
    """Qualitative inverse depth and error-map figures, one pair per protocol named by a method's params."""
    figures = []
    methods = sorted({record["provenance"]["method"] for _, record in scored})
    missing = [m for m in methods if m not in method_params]
    if missing:
        raise KeyError(f"no params for method(s) {missing}; expected params/methods/<method>.yaml")
    for name in sorted({method_params[m]["protocol"] for m in methods}):
        own = [(p, r) for p, r in scored if method_params[r["provenance"]["method"]]["protocol"] == name]
        if not any(r["protocol"]["name"] == name for _, r in own):
            continue
        entries, indices, columns = _columns(own, name, count)
        protocol = _checked_protocol(name, columns, protocols_file)
        depth_rows = [[Panel(f"image {i}: {entries[i]}", rgb=_input_image(columns[0], i)),
                       *(Panel(c.label, rgb=inverse_depth_rgb(c.disp[i])) for c in columns)]
                      for i in indices]
        figures.append(ReportFigure(
            f"depth_{name}", f"Predicted inverse depth, protocol {name}",
            f"Test images {', '.join(map(str, indices))} of split `{protocol.split}`; each prediction is "
            "coloured with magma between its own minimum and 95th percentile (monodepth2's visualisation), "
            "untrained (init) beside trained (final) weights.", grid_png(depth_rows)))
        gt_path = Path(columns[0].record["provenance"]["gt"])
        gt = _gt_maps(gt_path, indices)
        error_rows = [[_error_panel(c, i, gt[i], protocol) for c in columns] for i in indices]
        figures.append(ReportFigure(
            f"errors_{name}", f"Relative depth error, protocol {name}",
            f"|pred − gt| / gt at the GT pixels protocol `{name}` scores, after its scaling and clamp "
            f"(rows: test images {', '.join(map(str, indices))}; GT `{gt_path}`). The abs_rel in each title "
            "is the per-image value of the metrics file.", grid_png(error_rows, colorbar=True)))
    return figures


def _loss_history(client: Any, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, CURVE_METRIC))
    return np.array([s for s, _ in history]), np.array([v for _, v in history])


def training_curve_figure(train_records: Sequence[dict[str, Any]], results_dir: Path) -> ReportFigure:
    """Training loss against step of every training run, read from ``results_dir/mlflow.db``."""
    name, title = "training_loss", "Training loss"
    caption = (f"`{CURVE_METRIC}` as logged to MLflow by each training run (run ids in the provenance section), "
               f"from `{results_dir / 'mlflow.db'}`.")
    runs = {f"{r['method']} seed {r.get('seed', '?')}": r for r in train_records if r.get("mlflow_run_id")}
    if not runs:
        return ReportFigure(name, title, caption, None, ("No training record names an MLflow run.",))
    database = results_dir / "mlflow.db"
    if not database.is_file():
        return ReportFigure(name, title, caption, None, (f"{database} not found: no training curves.",))
    import mlflow.tracking  # heavy (about 1 s); only this figure needs it

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri(results_dir))
    curves, notes = {}, []
    for label, record in sorted(runs.items()):
        steps, values = _loss_history(client, record["mlflow_run_id"])
        if len(steps):
            curves[label] = (steps, values)
        else:
            notes.append(f"{label}: MLflow run `{record['mlflow_run_id']}` has no `{CURVE_METRIC}` history in "
                         f"{database} (the run trained {record.get('steps', '?')} steps; the loss is logged "
                         "every few steps only).")
    return ReportFigure(name, title, caption, curves_png(curves, CURVE_METRIC) if curves else None, tuple(notes))
