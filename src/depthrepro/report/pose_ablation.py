"""The report's pose-ablation section: GasMono's refined poses against the raw COLMAP poses.

Each record is the JSON `depthrepro pose-ablation` writes. The section says plainly whether the refined
poses are closer to the ground-truth poses than the raw COLMAP poses, then lists every sequence's
errors per pose set, the alignment used and the record's provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from depthrepro.report.html import inline

PoseAblation = tuple[Path, dict[str, Any]]
"""A pose-ablation record and the file it was read from."""

_METRIC_TEXT = {"rotation_deg": ("rotation", "°"), "translation": ("translation", " m"),
                "direction_deg": ("direction", "°")}


def _number(value: float) -> str:
    """Four significant digits: the errors range from tenths of a millimetre to degrees."""
    return f"{value:.4g}"


def verdict(record: dict[str, Any]) -> str:
    """One sentence: are the refined poses closer than the raw COLMAP poses, with the mean errors."""
    comparison = record["comparison"]
    closer = comparison["refined_closer"]
    parts = []
    for metric, values in comparison["by_mean_error"].items():
        name, unit = _METRIC_TEXT.get(metric, (metric, ""))
        parts.append(f"{name} {_number(values['refined'])}{unit} vs {_number(values['colmap'])}{unit}"
                     + ("" if values["refined_lower"] else " (not lower)"))
    answer = "**are closer**" if closer else "**are not closer**"
    return (f"GasMono's refined poses {answer} to the ground-truth poses than the raw COLMAP poses "
            f"(mean errors over all frame pairs, refined vs COLMAP: {'; '.join(parts)}).")


def _rows(record: dict[str, Any]) -> list[list[str]]:
    rows = []
    groups = [*record["sequences"].items(), ("all sequences", record["overall"])]
    for sequence, sets in groups:
        for name, summary in sets.items():
            scale = summary.get("scale")
            rows.append([escape(sequence), escape(name), str(summary["pairs"]),
                         "per sequence" if scale is None else escape(f"{scale:.4g}"),
                         *(f"{_number(summary[m]['mean'])} / {_number(summary[m]['median'])}"
                           for m in record["error_names"])])
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    return ['<table class="pose-ablation">', f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody>",
            "</table>"]


def _record(path: Path, record: dict[str, Any]) -> list[str]:
    prov = record["provenance"]
    seed = prov.get("train", {}).get("seed", "?")
    units = record["error_units"]
    header = ("Sequence", "Pose set", "Pairs", "Scale",
              *(f"{_METRIC_TEXT.get(m, (m, ''))[0]} error ({units[m]}), mean / median" for m in record["error_names"]))
    sets = [f"<li><code>{escape(name)}</code>: {escape(text)}</li>" for name, text in record["pose_sets"].items()]
    return [f"<h3>{escape(prov['method'])} seed {escape(str(seed))}, {escape(prov['weights'])} weights</h3>",
            f"<p>{inline(verdict(record))}</p>",
            f"<p>{record['frames']} target frames of <code>{escape(record['split_file'])}</code>, each with its "
            f"-1 and +1 source frame. Alignment: {escape(record['alignment'])}.</p>",
            "<ul>", *sets, "</ul>", *_table(header, _rows(record)),
            f"<p>Record <code>{escape(str(path))}</code>; checkpoint sha256 "
            f"<code>{escape(prov['checkpoint.sha256'][:16])}</code>, "
            f"git <code>{escape(prov['git.commit'][:12])}</code> (dirty: {escape(str(prov['git.dirty']))}), "
            f"code digest <code>{escape(prov['code.digest'])}</code>, "
            f"data.dvc <code>{escape(prov['data.md5'])}</code>, "
            f"MLflow run <code>{escape(prov['mlflow_run_id'])}</code>.</p>"]


def pose_ablation_section(records: Sequence[PoseAblation]) -> list[str]:
    """HTML lines of the section body (without its heading)."""
    if not records:
        return ["<p>No pose-ablation record was given: it needs a trained GasMono and the exact poses of the "
                "synthetic world.</p>"]
    out = ["<p>Relative poses of GasMono's training frames against the exact poses: the raw COLMAP poses it "
           "trains from, and its refined poses from the trained checkpoint.</p>"]
    for path, record in records:
        out += _record(path, record)
    return out
