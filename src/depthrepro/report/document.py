"""One paper table as a format-neutral document: header, rows of cells with marks, notes, footer.

``build_table`` turns reported rows, grouped metrics records and the rendering context into a
``TableDocument``; ``depthrepro.report.markdown``, ``latex`` and ``html`` only lay it out. Text in
the document may hold two inline marks, ``code`` in backticks and ``**bold**``, which each renderer
translates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthrepro.evaluate.protocols import FULL_REGION
from depthrepro.report.protocol_text import footer_protocol_lines, protocol_line
from depthrepro.report.tables import (
    Column,
    ReportedRow,
    Reproduction,
    block_marks,
    column_decimals,
    make_columns,
    place_reproductions,
)

NOT_COMPARABLE = ("**Not comparable to the paper.** Reproduced numbers come from the synthetic world "
                  "(streets and rooms rendered in the real datasets' formats) under a smoke-scale CPU schedule; "
                  "they show that the pipeline runs end to end, not whether the paper holds.")
MISSING_CELL = "—"
DESCRIPTOR_LABELS = {"pp": "PP"}
"""Header labels of descriptor columns that are not just the capitalised CSV name."""
OFFICIAL_STAGE = "official"
"""Checkpoint stage of an imported release (``depthrepro import-release``)."""
STAGE_LABELS = {"final": "trained (final.pt)", "init": "untrained (init.pt)", OFFICIAL_STAGE: "official release"}
CONTINUED_DEPENDENCY = "dependency.initial.sha256"
"""The training-record tag of a run that starts from another run's whole model (its `depends_on` names
`initial`, e.g. FeatDepth's online refinement)."""
WARM_START = "warm_start.sha256"
"""The training-record tag of a run that warm-starts from weights another profile kept (e.g. Monodepth2
1024x320); `warm_start.from` says which profile and epoch."""
CONTINUED_LABELS = {
    "refined": {"final": "refined (final.pt)", "init": "before refinement (init.pt)"},
    "fine-tuned": {"final": "fine-tuned (final.pt)", "init": "warm start (init.pt)"},
}
"""Stage labels of a run that continues another run's trained weights: its init.pt is that trained model,
not an untrained one."""


def continuation(train: dict[str, Any]) -> str | None:
    """`fine-tuned` or `refined` when a training record's run continues another run's weights, else None."""
    if WARM_START in train:
        return "fine-tuned"
    return "refined" if CONTINUED_DEPENDENCY in train else None


MARK_LEGEND = "Per block of reported rows: **bold** best, underlined second best (recomputed from the numbers)."
COUNT_LEGEND = ("n: how many runs (training seeds, or scorings of a release) a row of ours averages; where n > 1 its "
                "cells are the mean ± the sample standard deviation over those runs, each listed below. The test "
                "images behind each run are counted in that list.")


@dataclass(frozen=True)
class Cell:
    """One table cell; ``mark`` is ``best``, ``second`` or empty."""

    text: str
    mark: str = ""


@dataclass(frozen=True)
class TableLine:
    """A row of the main table (``kind``: reported, official, reproduced, delta) or a block heading."""

    kind: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class TableDocument:
    """Everything a renderer lays out; ``header`` and each non-block line have the same length.

    ``footer`` items are the provenance list; ``sources`` (one per reported row) nest under its last
    item, "Reported numbers:".
    """

    title: str
    protocol_line: str
    header: tuple[str, ...]
    lines: tuple[TableLine, ...]
    notes: tuple[str, ...]
    sanity_header: tuple[str, ...]
    sanity_rows: tuple[tuple[str, ...], ...]
    sanity_verdicts: tuple[str, ...]
    synthetic: bool
    footer: tuple[str, ...]
    sources: tuple[str, ...]


def _fmt(values: np.ndarray, decimals: int) -> str:
    if np.isnan(values).any():  # a metric the scorer could not compute (its record says why)
        return MISSING_CELL
    if len(values) == 1:
        return f"{values[0]:.{decimals}f}"
    return f"{values.mean():.{decimals}f} ± {values.std(ddof=1):.{decimals}f}"


def _scaled(rep: Reproduction, column: Column, region: str) -> np.ndarray:
    values = rep.values(column.key, region)
    return values * 100.0 if column.percent else values


def _missing_reason(method: str, context: dict) -> str:
    if context.get("unscored_reason"):
        return f"not reproduced: {context['unscored_reason']}"
    if method not in context["implemented_methods"]:
        return f"not reproduced: {method} is not implemented yet"
    return f"not reproduced: {method} is not in this run's methods ({', '.join(context['configured_methods'])})"


class _Builder:
    """Lays out the rows of one table (kept as a class so the shared inputs are not passed around)."""

    def __init__(self, columns: list[Column], reported: Sequence[ReportedRow],
                 scores: dict[tuple[str, str], Reproduction], context: dict) -> None:
        self.columns = columns
        self.reported = reported
        self.scores = scores
        self.context = context
        self.descriptors: tuple[str, ...] = tuple(context.get("descriptors", ("resolution",)))
        self.region: str = context.get("region", FULL_REGION)
        self.decimals = {c.key: column_decimals(reported, c) for c in columns}
        self.marks = block_marks(reported, columns)
        self.placement = place_reproductions(reported, scores)

    def header(self) -> tuple[str, ...]:
        names = tuple(DESCRIPTOR_LABELS.get(name, name.replace("_", " ").capitalize()) for name in self.descriptors)
        return ("Method", *names, "Provenance", *(c.header for c in self.columns), "n")

    def _line(self, kind: str, label: str, descriptors: Sequence[str], provenance: str,
              values: Sequence[Cell], last: str) -> TableLine:
        cells = (Cell(label), *(Cell(d) for d in descriptors), Cell(provenance), *values, Cell(last))
        return TableLine(kind, cells)

    def _dashes(self) -> list[Cell]:
        return [Cell(MISSING_CELL) for _ in self.columns]

    def _reproduced_cells(self, rep: Reproduction) -> list[Cell]:
        return [Cell(_fmt(_scaled(rep, c, self.region), self.decimals[c.key])) for c in self.columns]

    def rows(self) -> list[TableLine]:
        lines: list[TableLine] = []
        blank = ["" for _ in self.descriptors]
        show_blocks = len({row.block for row in self.reported}) > 1
        block = None
        for index, row in enumerate(self.reported):
            if show_blocks and row.block != block:
                block = row.block
                lines.append(TableLine("block", (Cell(block or MISSING_CELL),)))
            reported = [Cell(row.printed.get(c.key, MISSING_CELL), self.marks.get((index, c.key), ""))
                        for c in self.columns]
            note = "" if row.method else "not reproduced: no registered method"
            lines.append(self._line("reported", row.label, [row.descriptors.get(d, "") for d in self.descriptors],
                                    "Reported", reported, note))
            if not row.method:
                continue
            lines += self._official_lines(row, blank)
            lines += self._reproduction_lines(index, row, blank)
        return lines

    def _delta_line(self, rep: Reproduction, row: ReportedRow, blank: list[str], label: str) -> TableLine:
        deltas = []
        for c in self.columns:
            ours = _scaled(rep, c, self.region).mean()
            known = c.key in row.metrics and not np.isnan(ours)
            deltas.append(Cell(f"{ours - row.metrics[c.key]:+.{self.decimals[c.key]}f}" if known else MISSING_CELL))
        return self._line("delta", row.label, blank, label, deltas, "")

    def _count_and_gaps(self, rep: Reproduction) -> str:
        """``n``, and why any of the table's metrics is missing from the records."""
        reasons = dict.fromkeys(reason for rec in rep.records for key, reason in rec.get("missing", {}).items()
                                if reason and key in {c.key for c in self.columns})
        return str(len(rep.records)) + (f" (missing: {'; '.join(reasons)})" if reasons else "")

    def _official_lines(self, row: ReportedRow, blank: list[str]) -> list[TableLine]:
        """The authors' checkpoint scored here, and its Δ to the paper; or why there is none."""
        rep = self.scores.get((row.official, OFFICIAL_STAGE)) if row.official else None
        if rep is None:
            reason = (self.context["official"].get(row.official, "downloaded, but not scored in this run")
                      if row.official else "no released checkpoint is known for this row")
            return [self._line("official", row.label, blank, "Official weights", self._dashes(), reason)]
        where = f"`{row.official}`, {self.context['dataset']}, {rep.resolution}"
        return [self._line("official", row.label, blank, f"Official weights ({where})",
                           self._reproduced_cells(rep), self._count_and_gaps(rep)),
                self._delta_line(rep, row, blank, "Δ Official − Reported")]

    def _reproduction_lines(self, index: int, row: ReportedRow, blank: list[str]) -> list[TableLine]:
        chosen = self.placement.get(index)
        rep = self.scores.get((row.method, "final"))
        if rep is None or chosen is None or self.context.get("unscored_reason"):
            return [self._line("reproduced", row.label, blank, "Reproduced", self._dashes(),
                               _missing_reason(row.method, self.context))]
        if chosen != index:
            reason = (f"not reproduced here: this run's {row.method} ({rep.resolution}) is compared with "
                      f"row '{self.reported[chosen].label}'")
            return [self._line("reproduced", row.label, blank, "Reproduced", self._dashes(), reason)]
        descriptors = [rep.resolution if d == "resolution" else "" for d in self.descriptors]
        where = f"{self.context['profile']}, {self.context['dataset']}"
        if "resolution" not in self.descriptors:
            where += f", {rep.resolution}"
        if self.region != FULL_REGION:
            where += f", region {self.region}"
        return [self._line("reproduced", row.label, descriptors, f"Reproduced ({where})",
                           self._reproduced_cells(rep), self._count_and_gaps(rep)),
                self._delta_line(rep, row, blank, "Δ Reproduced − Reported")]

    def sanity(self) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], tuple[str, ...]]:
        header = ("Method", "Weights", *(c.header for c in self.columns), "n")
        rows = []
        continued = {method: kind for (method, _), rep in self.scores.items()
                     if rep.records and (kind := continuation(rep.records[0]["provenance"].get("train", {})))}
        for (method, stage), rep in sorted(self.scores.items()):
            label = (CONTINUED_LABELS[continued[method]] if method in continued else STAGE_LABELS).get(stage, stage)
            rows.append((method, label, *(cell.text for cell in self._reproduced_cells(rep)), str(len(rep.records))))
        verdicts = []
        column = self.columns[0]  # the table's headline metric (abs_rel for depth tables)
        for method in sorted({m for m, _ in self.scores}):
            if (method, "init") in self.scores and (method, "final") in self.scores:
                before = self.scores[(method, "init")].values(column.key, self.region).mean()
                after = self.scores[(method, "final")].values(column.key, self.region).mean()
                if np.isnan(before) or np.isnan(after):
                    verdicts.append(f"{method}: {column.label} is missing, so untrained and trained cannot be "
                                    "compared on it.")
                    continue
                better = after < before if column.lower_is_better else after > before
                verdict = "beats" if better else "does NOT beat"
                if method in continued:
                    verdicts.append(f"{method}: the {continued[method]} network {verdict} its starting weights, the "
                                    f"trained model it continues ({column.label} {after:.3f} vs {before:.3f}).")
                    continue
                verdicts.append(f"{method}: the trained network {verdict} the untrained one "
                                f"({column.label} {after:.3f} vs {before:.3f}).")
        return header, tuple(rows), tuple(verdicts)

    def notes(self) -> tuple[str, ...]:
        notes = [MARK_LEGEND] if any(self.marks.values()) else []
        notes.append(COUNT_LEGEND)
        percent = [c.label for c in self.columns if c.percent]
        if percent:
            notes.append(f"{', '.join(percent)} in percent, as the paper prints them; reproduced fractions "
                         "are multiplied by 100.")
        notes += list(self.context.get("notes", ()))
        for item in self.context.get("missing", ()):
            notes.append(f"Not found, so no numbers are shown: {item.table} ({item.content}). "
                         f"Needed to fill it: {item.needed}")
        return tuple(notes)

    def footer(self) -> tuple[str, ...]:
        protocol = self.context["protocol"]
        lines = [f"Dataset: `{self.context['dataset']}` — `data.dvc` md5 `{self.context['data_md5']}`; "
                 f"profile `{self.context['profile']}`."]
        lines += footer_protocol_lines(protocol)
        if self.region != FULL_REGION:
            lines.append(f"Reproduced values are the `{self.region}` region's means.")
        for (method, stage), rep in sorted(self.scores.items()):
            for rec in rep.records:
                lines.append(_record_line(method, stage, rec))
        lines.append("Reported numbers:")
        return tuple(lines)


def _scaling_text(scaling: dict[str, Any]) -> str:
    factor = scaling["factor"]
    if isinstance(factor, dict):  # per sequence (pose protocols)
        return f"{scaling['kind']} (" + ", ".join(f"{k}: ×{v:.3g}" for k, v in sorted(factor.items())) + ")"
    return f"{scaling['kind']} ×{factor}"


def _weights_init_text(train: dict[str, Any]) -> str:
    if WARM_START in train:
        return (f"a warm start from the weights another run kept ({train.get('warm_start.from', '?')}, "
                f"sha256 `{train[WARM_START][:12]}`)")
    if CONTINUED_DEPENDENCY in train:
        return f"the trained weights of another run (`initial`, sha256 `{train[CONTINUED_DEPENDENCY][:12]}`)"
    return f"`{train.get('weights_init', '?')}`"


def _trained_on_text(train: dict[str, Any]) -> str:
    """Where a run trained: device, processes and (on a CPU, where they change the weights) torch threads."""
    if "device" not in train:
        return ""
    processes = int(train.get("world_size", "1"))
    threads = train.get("torch.threads")
    if processes > 1:
        each = f", {threads} torch thread(s) each" if threads else ""
        return f"; trained on `{train['device']}` by {processes} processes{each}"
    return f"; trained on `{train['device']}`" + (f" with {threads} torch thread(s)" if threads else "")


def _record_line(method: str, stage: str, rec: dict[str, Any]) -> str:
    prov, train = rec["provenance"], rec["provenance"]["train"]
    dropped = rec.get("dropped_images") or []
    dropped_text = f" ({len(dropped)} without valid GT left out)" if dropped else ""
    if stage == OFFICIAL_STAGE:
        files = ", ".join(f"`{Path(p).name}` `{h[:12]}`" for p, h in train.get("files", {}).items())
        return (f"{method} official weights ({train.get('params_name', '?')}.yaml, profile "
                f"{train.get('profile', '?')}): {rec['num_images']} test images{dropped_text}, scaling "
                f"{_scaling_text(rec['scaling'])}; release files {files} from "
                f"{train.get('url', '?')}; checkpoint sha256 `{prov['checkpoint.sha256'][:12]}`; git "
                f"`{prov['git.commit'][:12]}` (dirty: {prov['git.dirty']}); code digest import "
                f"`{train.get('code.digest', '?')}`, score `{prov['code.digest']}`; MLflow score run "
                f"`{prov['mlflow_run_id']}`.")
    return (f"{method} {stage} seed {train.get('seed', '?')}: {rec['num_images']} test images{dropped_text}, scaling "
            f"{_scaling_text(rec['scaling'])}; checkpoint sha256 "
            f"`{prov['checkpoint.sha256'][:12]}`, weights init {_weights_init_text(train)}{_trained_on_text(train)}; "
            f"git `{prov['git.commit'][:12]}` (dirty: {prov['git.dirty']}); code digest train "
            f"`{train.get('code.digest', '?')}`, score `{prov['code.digest']}`; MLflow runs: train "
            f"`{train.get('mlflow_run_id', '?')}`, score `{prov['mlflow_run_id']}`.")


def build_table(title: str, columns: Sequence[str | dict | Column], reported: Sequence[ReportedRow],
                scores: dict[tuple[str, str], Reproduction], context: dict) -> TableDocument:
    """The table document: main table, notes, sanity section (untrained vs trained) and footer.

    ``context`` holds ``protocol`` (the protocol dict), ``dataset``, ``data_md5``, ``synthetic``,
    ``profile``, ``configured_methods``, ``implemented_methods`` and ``official`` (release name → why
    its row has no official numbers); optionally ``descriptors`` (CSV text columns shown after the label,
    default ``("resolution",)``), ``region`` (which region's means a reproduction shows), ``notes``,
    ``missing`` (``MissingTable`` items) and ``unscored_reason`` (why no row of this protocol can be
    reproduced yet).
    """
    builder = _Builder(make_columns(columns), reported, scores, context)
    sanity_header, sanity_rows, verdicts = builder.sanity()
    sources = tuple(f"{row.label}: {row.source}" + (f" Note: {row.note}" if row.note else "") for row in reported)
    return TableDocument(
        title=title,
        protocol_line=protocol_line(context["protocol"]),
        header=builder.header(),
        lines=tuple(builder.rows()),
        notes=builder.notes(),
        sanity_header=sanity_header,
        sanity_rows=sanity_rows,
        sanity_verdicts=verdicts,
        synthetic=bool(context["synthetic"]),
        footer=builder.footer(),
        sources=sources,
    )


_INLINE = re.compile(r"(`[^`]+`|\*\*[^*]+\*\*)")


def inline_parts(text: str) -> list[tuple[str, str]]:
    """``text`` split into ``(kind, content)`` parts, kind ``text``, ``code`` (backticks) or ``bold`` (``**``)."""
    parts = []
    for piece in _INLINE.split(text):
        if not piece:
            continue
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            parts.append(("code", piece[1:-1]))
        elif piece.startswith("**") and piece.endswith("**") and len(piece) > 4:
            parts.append(("bold", piece[2:-2]))
        else:
            parts.append(("text", piece))
    return parts
