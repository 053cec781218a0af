"""Paper tables: each paper row's reported numbers beside ours, with the provenance of every number.

Rows come from the paper's CSV (`params/paper/<paper>.csv`, numbers as printed). For each row the table
shows *Reported* (the paper), *Official weights* (the authors' checkpoint scored here, when downloaded)
and *Reproduced* (trained here: mean ± std over seeds, with n), then Δ = Reproduced − Reported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LOWER_IS_BETTER = {"abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "sq_rel_corrected"}
NOT_COMPARABLE = ("**Not comparable to the paper.** Reproduced numbers come from the synthetic world "
                  "(a rendered street in KITTI's formats) under a smoke-scale CPU schedule; they show that "
                  "the pipeline runs end to end, not whether the paper holds.")


@dataclass(frozen=True)
class ReportedRow:
    """One row of a paper table as printed."""

    label: str
    method: str
    resolution: str
    metrics: dict[str, float]
    source: str


@dataclass
class Reproduction:
    """Scores of one method and checkpoint stage over seeds."""

    method: str
    stage: str
    records: list[dict] = field(default_factory=list)

    def values(self, metric: str) -> np.ndarray:
        return np.array([r["mean"][metric] for r in self.records], dtype=np.float64)

    @property
    def resolution(self) -> str:
        cfg = self.records[0]["provenance"]["train"].get("model_cfg", {})
        return f"{cfg.get('height', '?')}x{cfg.get('width', '?')}"


def load_reported(path: Path, table: str, columns: list[str]) -> list[ReportedRow]:
    """Rows of `table` in a reported-numbers CSV; errors name the file, line and column."""
    rows = []
    with open(path, newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            if r.get("table") != table:
                continue
            try:
                metrics = {c: float(r[c]) for c in columns if r.get(c) not in (None, "")}
            except ValueError as err:
                raise ValueError(f"{path}:{line}: non-numeric metric ({err})") from None
            missing = [k for k in ("row", "method", "source") if not r.get(k)]
            if missing:
                raise ValueError(f"{path}:{line}: empty column(s) {missing}")
            rows.append(ReportedRow(r["row"], r["method"], r.get("resolution", ""), metrics, r["source"]))
    if not rows:
        raise ValueError(f"{path}: no rows for table {table!r}")
    return rows


def group_scores(records: list[dict]) -> dict[tuple[str, str], Reproduction]:
    """Metrics records keyed by (method, checkpoint stage)."""
    groups: dict[tuple[str, str], Reproduction] = {}
    for rec in records:
        key = (rec["provenance"]["method"], rec["provenance"]["weights"])
        groups.setdefault(key, Reproduction(*key)).records.append(rec)
    return groups


def _fmt(values: np.ndarray) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _cells(rep: Reproduction, columns: list[str]) -> list[str]:
    return [_fmt(rep.values(c)) for c in columns]


def _header(columns: list[str], first: list[str]) -> list[str]:
    arrows = [f"{c} {'↓' if c in LOWER_IS_BETTER else '↑'}" for c in columns]
    cols = first + arrows + ["n"]
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def render_markdown(title: str, columns: list[str], reported: list[ReportedRow],
                    scores: dict[tuple[str, str], Reproduction], context: dict) -> str:
    """The table page: main table, a sanity section (untrained vs trained) and the provenance footer.

    `context` holds `protocol` (the protocol dict), `dataset`, `data_md5`, `synthetic`, `profile`,
    `configured_methods`, `implemented_methods` and `official` (method → reason no official row exists).
    """
    protocol = context["protocol"]
    lines = [f"# {title}", "", _protocol_line(protocol), ""]
    lines += _header(columns, ["Method", "Resolution", "Provenance"])
    for row in reported:
        lines.append(f"| {row.label} | {row.resolution} | Reported | "
                     + " | ".join(f"{row.metrics[c]:.3f}" if c in row.metrics else "—" for c in columns) + " | |")
        lines.append(f"| {row.label} | | Official weights | "
                     + " | ".join("—" for _ in columns) + f" | {context['official'].get(row.method, '')} |")
        rep = scores.get((row.method, "final"))
        if rep is None:
            reason = _missing_reason(row.method, context)
            lines.append(f"| {row.label} | | Reproduced | " + " | ".join("—" for _ in columns) + f" | {reason} |")
            continue
        lines.append(f"| {row.label} | {rep.resolution} | Reproduced ({context['profile']}, {context['dataset']}) | "
                     + " | ".join(_cells(rep, columns)) + f" | {len(rep.records)} |")
        lines.append(f"| {row.label} | | Δ Reproduced − Reported | "
                     + " | ".join(f"{rep.values(c).mean() - row.metrics[c]:+.3f}" if c in row.metrics else "—"
                                  for c in columns) + " | |")
    lines += ["", *_sanity_section(columns, scores), "", *_footer(reported, scores, context)]
    return "\n".join(lines) + "\n"


def _protocol_line(protocol: dict) -> str:
    crop = protocol["crop"] if protocol["crop"] != "none" else "no crop"
    scaling = protocol["scaling"]
    return (f"Protocol `{protocol['name']}`: {protocol['description']}. GT: {protocol['gt_source']}; crop: {crop}; "
            f"depth range {protocol['min_depth']}–{protocol['max_depth']} m; scaling: {scaling['monocular']} "
            f"for monocular models, {scaling['stereo']} ×{protocol['stereo_scale']} for stereo-trained ones; "
            f"flip post-processing: {'yes' if protocol['post_process'] else 'no'}.")


def _missing_reason(method: str, context: dict) -> str:
    if method not in context["implemented_methods"]:
        return f"not reproduced: {method} is not implemented yet"
    return f"not reproduced: {method} is not in this run's methods ({', '.join(context['configured_methods'])})"


def _sanity_section(columns: list[str], scores: dict[tuple[str, str], Reproduction]) -> list[str]:
    lines = ["## Sanity check: trained vs untrained network", "",
             "The same network and seed before training (`init.pt`) and after (`final.pt`), same protocol.", ""]
    lines += _header(columns, ["Method", "Weights"])
    for (method, stage), rep in sorted(scores.items()):
        label = "trained (final.pt)" if stage == "final" else "untrained (init.pt)"
        lines.append(f"| {method} | {label} | " + " | ".join(_cells(rep, columns)) + f" | {len(rep.records)} |")
    for method in sorted({m for m, _ in scores}):
        if (method, "init") in scores and (method, "final") in scores:
            before = scores[(method, "init")].values("abs_rel").mean()
            after = scores[(method, "final")].values("abs_rel").mean()
            verdict = "beats" if after < before else "does NOT beat"
            lines.append(f"\n{method}: the trained network {verdict} the untrained one "
                         f"(abs_rel {after:.3f} vs {before:.3f}).")
    return lines


def _footer(reported: list[ReportedRow], scores: dict[tuple[str, str], Reproduction], context: dict) -> list[str]:
    protocol = context["protocol"]
    lines = ["## Provenance", ""]
    if context["synthetic"]:
        lines += [NOT_COMPARABLE, ""]
    lines.append(f"- Dataset: `{context['dataset']}` — `data.dvc` md5 `{context['data_md5']}`; "
                 f"profile `{context['profile']}`.")
    lines.append(f"- Protocol `{protocol['name']}`: split `{protocol['split']}` "
                 f"({protocol['expected_images']} images on real KITTI), mask `{protocol['mask']}`, "
                 f"clamp {protocol['clamp']}. Source: {protocol['source']}")
    for (method, stage), rep in sorted(scores.items()):
        for rec in rep.records:
            prov, train = rec["provenance"], rec["provenance"]["train"]
            lines.append(
                f"- {method} {stage} seed {train.get('seed', '?')}: {rec['num_images']} test images, scaling "
                f"{rec['scaling']['kind']} ×{rec['scaling']['factor']}; checkpoint sha256 "
                f"`{prov['checkpoint.sha256'][:12]}`, weights init `{train.get('weights_init', '?')}`; "
                f"git `{prov['git.commit'][:12]}` (dirty: {prov['git.dirty']}); code digest train "
                f"`{train.get('code.digest', '?')}`, score `{prov['code.digest']}`; MLflow runs: train "
                f"`{train.get('mlflow_run_id', '?')}`, score `{prov['mlflow_run_id']}`.")
    lines.append("- Reported numbers:")
    lines += [f"  - {r.label}: {r.source}" for r in reported]
    return lines
