"""Paper tables: the model behind every rendering (Markdown, LaTeX, HTML).

A table is an entry of ``params/tables.yaml`` (``TableSpec``) whose rows come from the paper's CSV
(``params/paper/<paper>.csv``, numbers as printed). For each row the renderers show *Reported* (the
paper), *Official weights* (the authors' checkpoint scored here, when downloaded) and *Reproduced*
(trained here: mean ± std over seeds, with n), then Δ = Reproduced − Reported. This module reads
the CSV and the spec, groups metrics records by method, decides which row each reproduction is
compared with, and ranks reported values per block (best and second best, recomputed).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from depthrepro.evaluate.pose_protocols import COMPUTED_POSE_METRICS, list_pose_protocols, load_pose_protocol
from depthrepro.evaluate.protocols import FULL_REGION, load_protocol

LOWER_IS_BETTER = {"abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "sq_rel_corrected",
                   "t_err", "r_err", "ate_snippet_mean", "ate_snippet_std", "ate_full"}
HIGHER_IS_BETTER = {"a1", "a2", "a3"}
CSV_TEXT_COLUMNS = ("table", "row", "block", "method", "official", "source", "note")
"""CSV columns with a fixed meaning; every other non-metric column is a row descriptor."""


class TableSpecError(ValueError):
    """A ``params/tables.yaml`` entry that does not match the expected layout."""


@dataclass(frozen=True)
class Column:
    """One metric column: ``key`` in the CSV and in metrics records, ``metric`` for its direction."""

    key: str
    metric: str
    label: str
    percent: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    @property
    def header(self) -> str:
        unit = " (%)" if self.percent else ""
        return f"{self.label}{unit} {'↓' if self.lower_is_better else '↑'}"


def make_columns(entries: Sequence[str | dict | Column], percent: Sequence[str] = ()) -> list[Column]:
    """Columns from spec entries: a metric name, or ``{key, metric, label}`` for other CSV names."""
    columns = []
    for entry in entries:
        if isinstance(entry, Column):
            columns.append(entry)
            continue
        if isinstance(entry, str):
            key, metric, label = entry, entry, entry
        elif isinstance(entry, dict) and set(entry) <= {"key", "metric", "label"} and "key" in entry:
            key = str(entry["key"])
            metric = str(entry.get("metric", key))
            label = str(entry.get("label", key))
        else:
            raise TableSpecError(f"column {entry!r}: expected a metric name or a mapping with key, metric, label")
        if metric not in LOWER_IS_BETTER | HIGHER_IS_BETTER:
            raise TableSpecError(f"column {key!r}: metric {metric!r} has no known direction; "
                                 f"expected one of {sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER)}")
        columns.append(Column(key, metric, label, key in percent))
    return columns


@dataclass(frozen=True)
class MissingTable:
    """A paper table that was not found, with what would fill it (rendered as a note, never as numbers)."""

    table: str
    content: str
    needed: str


@dataclass(frozen=True)
class TableSpec:
    """One entry of ``params/tables.yaml``."""

    name: str
    paper: str
    title: str
    reported: Path
    protocol: str
    columns: tuple[Column, ...]
    descriptors: tuple[str, ...] = ("resolution",)
    region: str = FULL_REGION
    notes: tuple[str, ...] = ()
    missing: tuple[MissingTable, ...] = ()
    unscored: str = ""
    """Why this table's rows cannot be reproduced by the pipeline yet ("" when they can)."""

    @property
    def heading(self) -> str:
        return f"{self.paper} — {self.title}"


_SPEC_KEYS = {"paper", "title", "reported", "protocol", "columns"}
_OPTIONAL_SPEC_KEYS = {"units", "descriptors", "region", "notes", "missing", "unscored"}


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or any(not isinstance(v, str) or not v.strip() for v in value):
        raise TableSpecError(f"{where}: '{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(" ".join(v.split()) for v in value)


def _missing(where: str, value: Any) -> tuple[MissingTable, ...]:
    if not isinstance(value, list):
        raise TableSpecError(f"{where}: 'missing' must be a list of {{table, content, needed}} mappings")
    items = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"table", "content", "needed"}:
            raise TableSpecError(f"{where}: every 'missing' item needs exactly table, content, needed; got {item!r}")
        items.append(MissingTable(*(" ".join(str(item[k]).split()) for k in ("table", "content", "needed"))))
    return tuple(items)


def table_spec(name: str, entry: Any, path: Path) -> TableSpec:
    """Validate one ``tables.yaml`` entry; errors name the file, the table and the key."""
    where = f"{path}: {name}"
    if not isinstance(entry, dict):
        raise TableSpecError(f"{where}: expected a mapping")
    missing_keys = sorted(_SPEC_KEYS - set(entry))
    unknown = sorted(set(entry) - _SPEC_KEYS - _OPTIONAL_SPEC_KEYS)
    if missing_keys or unknown:
        raise TableSpecError(f"{where}: missing key(s) {missing_keys}, unknown key(s) {unknown}; "
                             f"optional keys are {sorted(_OPTIONAL_SPEC_KEYS)}")
    units = entry.get("units") or {}
    if not isinstance(units, dict) or not set(units) <= {"percent"}:
        raise TableSpecError(f"{where}: 'units' may only hold 'percent: [columns]', got {units!r}")
    percent = _strings(where, "units.percent", units.get("percent", []))
    if not isinstance(entry["columns"], list) or not entry["columns"]:
        raise TableSpecError(f"{where}: 'columns' must be a non-empty list")
    try:
        columns = make_columns(entry["columns"], percent)
    except TableSpecError as error:
        raise TableSpecError(f"{where}: {error}") from None
    unknown_percent = sorted(set(percent) - {c.key for c in columns})
    if unknown_percent:
        raise TableSpecError(f"{where}: units.percent names {unknown_percent}, which are not columns")
    return TableSpec(
        name=name,
        paper=str(entry["paper"]),
        title=str(entry["title"]),
        reported=Path(entry["reported"]),
        protocol=str(entry["protocol"]),
        columns=tuple(columns),
        descriptors=_strings(where, "descriptors", entry.get("descriptors", ["resolution"])),
        region=str(entry.get("region", FULL_REGION)),
        notes=_strings(where, "notes", entry.get("notes", [])),
        missing=_missing(where, entry.get("missing", [])),
        unscored=" ".join(str(entry.get("unscored", "")).split()),
    )


def load_table_specs(path: Path) -> dict[str, TableSpec]:
    """Every table of ``params/tables.yaml``, validated, in file order."""
    path = Path(path)
    if not path.is_file():
        raise TableSpecError(f"{path}: tables file not found")
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict) or not document:
        raise TableSpecError(f"{path}: expected a mapping of table names to table entries")
    return {name: table_spec(name, entry, path) for name, entry in document.items()}


@dataclass(frozen=True)
class ReportedRow:
    """One row of a paper table as printed.

    ``metrics`` holds the values as numbers (for ranking and Δ), ``printed`` the same cells exactly
    as the paper prints them; ``descriptors`` the other text columns of the CSV (resolution, train…).
    """

    label: str
    method: str
    resolution: str
    metrics: dict[str, float]
    source: str
    printed: dict[str, str] = field(default_factory=dict)
    block: str = ""
    note: str = ""
    descriptors: dict[str, str] = field(default_factory=dict)
    official: str = ""
    """The official evaluation (``params/releases.yaml``) of the authors' checkpoint behind this row."""


def _column_keys(columns: Sequence[str | dict | Column]) -> list[str]:
    return [c.key if isinstance(c, Column) else c["key"] if isinstance(c, dict) else c for c in columns]


def load_reported(path: Path, table: str, columns: Sequence[str | dict | Column]) -> list[ReportedRow]:
    """Rows of ``table`` in a reported-numbers CSV; errors name the file, line and column.

    Blank metric cells are values the paper does not print. ``method`` may be blank: the row has no
    registered method and is shown with its reported numbers only. ``official`` (optional column) names
    the official evaluation of the authors' released checkpoint behind the row.
    """
    keys = _column_keys(columns)
    rows = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        absent = [k for k in ["row", "method", "source", *keys] if k not in (reader.fieldnames or [])]
        if absent:
            raise ValueError(f"{path}: header lacks column(s) {absent}")
        descriptor_names = [n for n in reader.fieldnames or [] if n not in CSV_TEXT_COLUMNS and n not in keys]
        for line, record in enumerate(reader, start=2):
            if record.get("table") != table:
                continue
            printed = {k: record[k].strip() for k in keys if (record.get(k) or "").strip()}
            try:
                metrics = {k: float(v) for k, v in printed.items()}
            except ValueError as err:
                raise ValueError(f"{path}:{line}: non-numeric metric ({err})") from None
            empty = [k for k in ("row", "source") if not record.get(k)]
            if empty:
                raise ValueError(f"{path}:{line}: empty column(s) {empty}")
            descriptors = {n: (record.get(n) or "").strip() for n in descriptor_names}
            rows.append(ReportedRow(record["row"], (record.get("method") or "").strip(),
                                    descriptors.get("resolution", ""), metrics, record["source"], printed,
                                    (record.get("block") or "").strip(), (record.get("note") or "").strip(),
                                    descriptors, (record.get("official") or "").strip()))
    if not rows:
        raise ValueError(f"{path}: no rows for table {table!r}")
    return rows


@dataclass
class Reproduction:
    """Scores of one method and checkpoint stage over seeds."""

    method: str
    stage: str
    records: list[dict] = field(default_factory=list)

    def values(self, metric: str, region: str = FULL_REGION) -> np.ndarray:
        """``(seeds,)`` means of ``metric`` over the images of ``region``."""
        if region == FULL_REGION:
            return np.array([r["mean"][metric] for r in self.records], dtype=np.float64)
        return np.array([r["regions"][region]["mean"][metric] for r in self.records], dtype=np.float64)

    @property
    def resolution(self) -> str:
        cfg = self.records[0]["provenance"]["train"].get("model_cfg", {})
        return f"{cfg.get('height', '?')}x{cfg.get('width', '?')}"

    @property
    def stereo_trained(self) -> bool | None:
        return self.records[0].get("stereo_trained")


def group_scores(records: list[dict]) -> dict[tuple[str, str], Reproduction]:
    """Metrics records keyed by (method, checkpoint stage); an imported release by (release, "official")."""
    groups: dict[tuple[str, str], Reproduction] = {}
    for rec in records:
        prov = rec["provenance"]
        key = (prov.get("release") or prov["method"], prov["weights"])
        groups.setdefault(key, Reproduction(*key)).records.append(rec)
    return groups


def _uses_stereo(train: str) -> bool:
    """Whether a paper's training label (M, S, MS, MS†, M*, …) includes stereo pairs."""
    return "S" in re.sub(r"[^A-Za-z]", "", train).replace("Sup", "")


def place_reproductions(rows: Sequence[ReportedRow], scores: dict[tuple[str, str], Reproduction]) -> dict[int, int]:
    """``{row index: index of the row its method's trained reproduction is compared on}``.

    A method's one reproduction goes on the row of that method that agrees best with it: same
    training modality (when the table has a ``train`` column), then same resolution, then the
    first such row. Every row of the method maps to that chosen row.
    """
    placement: dict[int, int] = {}
    for method in dict.fromkeys(row.method for row in rows if row.method):
        rep = scores.get((method, "final"))
        candidates = [i for i, row in enumerate(rows) if row.method == method]
        if rep is None:
            continue

        def agreement(index: int, rep: Reproduction = rep) -> tuple[bool, bool]:
            row = rows[index]
            train = row.descriptors.get("train", "")
            modality = not train or rep.stereo_trained is None or _uses_stereo(train) == rep.stereo_trained
            return modality, row.resolution == rep.resolution

        chosen = max(candidates, key=agreement)
        placement.update({i: chosen for i in candidates})
    return placement


def block_marks(rows: Sequence[ReportedRow], columns: Sequence[Column]) -> dict[tuple[int, str], str]:
    """``{(row index, column key): "best" | "second"}`` over the reported values of each block.

    Ties share a mark; "best" needs two rows with a value in the block, "second" three.
    """
    marks: dict[tuple[int, str], str] = {}
    blocks: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        blocks.setdefault(row.block, []).append(index)
    for members in blocks.values():
        for column in columns:
            valued = [i for i in members if column.key in rows[i].metrics]
            if len(valued) < 2:
                continue
            sign = 1.0 if column.lower_is_better else -1.0
            ranked = sorted({sign * rows[i].metrics[column.key] for i in valued})
            for i in valued:
                position = ranked.index(sign * rows[i].metrics[column.key])
                if position == 0:
                    marks[(i, column.key)] = "best"
                elif position == 1 and len(valued) >= 3:
                    marks[(i, column.key)] = "second"
    return marks


def column_decimals(rows: Sequence[ReportedRow], column: Column) -> int:
    """Decimals the paper prints in ``column`` (the most any row uses; 3 when it prints none)."""
    decimals = [len(text.split(".")[1]) if "." in text else 0 for row in rows
                for key, text in row.printed.items() if key == column.key]
    return max(decimals) if decimals else 3


def load_table_protocol(name: str, path: Path) -> dict[str, Any]:
    """The plain dict of the depth or pose protocol ``name`` (``kind``: ``depth`` or ``pose``).

    A stub or an unknown name raises the protocol loader's error, which says what is missing.
    """
    if name in list_pose_protocols(path):
        return load_pose_protocol(name, path).to_dict()
    return {"kind": "depth", **load_protocol(name, path).to_dict()}


def unscored_reason(protocol: dict[str, Any]) -> str:
    """Why no reproduction can be scored under ``protocol`` yet ("" when one can)."""
    if protocol.get("kind") != "pose":
        return ""
    missing = [m for m in protocol["metrics"] if m not in COMPUTED_POSE_METRICS]
    return f"depthrepro does not compute {', '.join(missing)} yet" if missing else ""
