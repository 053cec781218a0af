"""The report's section on training runs that no table scores: auto-encoders other runs start from, and
configurations with no evaluation protocol (FeatDepth on EuRoC). Each row is the run's ``train.json`` with the
reason its params file gives under ``unscored``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from depthrepro.report.html import inline

UnscoredRun = tuple[Path, dict[str, Any], str]
"""A run's ``train.json``, its record, and why no table scores it."""

_HEADER = ("Params", "Seed", "Data", "Samples", "Epochs", "Steps", "Final loss", "Samples/s", "Why no score",
           "Provenance")


def _row(path: Path, record: dict[str, Any], reason: str) -> list[str]:
    return [f"<code>{escape(record['method'])}</code>", escape(str(record.get("seed", "?"))),
            f"<code>{escape(str(record.get('prepared.images', '?')))}</code>",
            escape(str(record.get("train_samples", "?"))), escape(str(record.get("epochs", "?"))),
            escape(str(record.get("steps", "?"))), f"{float(record['final_loss']):.4g}",
            f"{float(record.get('samples_per_s', float('nan'))):.3g}", inline(reason),
            f"<code>{escape(str(path))}</code>, git <code>{escape(str(record.get('git.commit', ''))[:12])}</code>, "
            f"code digest <code>{escape(str(record.get('code.digest', '')))}</code>, "
            f"MLflow run <code>{escape(str(record.get('mlflow_run_id', '')))}</code>"]


def unscored_runs_section(runs: Sequence[UnscoredRun]) -> list[str]:
    """HTML lines of the section body (without its heading)."""
    if not runs:
        return ["<p>Every configured run is scored in a table.</p>"]
    head = "".join(f"<th>{escape(name)}</th>" for name in _HEADER)
    body = ["<tr>" + "".join(f"<td>{cell}</td>" for cell in _row(*run)) + "</tr>" for run in runs]
    return ["<p>These runs train (their loss curves are among the figures) but no table scores them.</p>",
            '<table class="unscored-runs">', f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody>",
            "</table>"]
