"""The report's dynamic-region section: full-image and moving-object errors of each method, side by side.

Each record is a metrics file of `depthrepro score` under a protocol that scores a ``dynamic`` region
(valid GT inside the moving-object masks). One row per method and seed gives abs_rel, rmse and a1 over
the full image and over the dynamic region, with the protocol (and so the scaling) the row was scored
under, the images each mean covers and where the number comes from. No paper number appears here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from depthrepro.report.html import inline
from depthrepro.report.protocol_text import protocol_line
from depthrepro.report.result_figures import Scored

DYNAMIC_REGION = "dynamic"
SHOWN_METRICS = ("abs_rel", "rmse", "a1")
"""Columns of the section, each for the full image and the dynamic region."""


def _value(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _checked(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The record's dynamic-region scores; an error names the file when the protocol scores no such region."""
    region = (record.get("regions") or {}).get(DYNAMIC_REGION)
    if region is None:
        raise ValueError(f"{path}: protocol {record['protocol']['name']!r} scores no {DYNAMIC_REGION!r} region; "
                         "the dynamic-region section needs metrics of a protocol with regions [full, dynamic]")
    missing = [m for m in SHOWN_METRICS if m not in record["mean"]]
    if missing:
        raise ValueError(f"{path}: metrics {missing} are not in the record's means {sorted(record['mean'])}")
    return region


def _order(item: Scored) -> tuple[str, str, int]:
    record = item[1]
    return record["protocol"]["name"], record["provenance"]["method"], int(record["provenance"]["train"].get("seed", 0))


def _row(path: Path, record: dict[str, Any]) -> list[str]:
    region = _checked(path, record)
    prov, scaling = record["provenance"], record["scaling"]
    cells = [escape(prov["method"]), escape(str(prov["train"].get("seed", "?"))), escape(prov["weights"]),
             f"<code>{escape(record['protocol']['name'])}</code> ({escape(scaling['kind'])} ×{scaling['factor']:g})",
             f"{record['num_images']} / {region['num_images']}"]
    for metric in SHOWN_METRICS:
        cells += [_value(record["mean"][metric]), _value(region["mean"].get(metric))]
    checkpoint = escape(prov.get("checkpoint.sha256", "?")[:12])
    return [*cells, f"<code>{checkpoint}</code>", f"<code>{escape(str(path))}</code>"]


def dynamic_region_section(records: Sequence[Scored]) -> list[str]:
    """HTML lines of the section body (without its heading)."""
    if not records:
        return ["<p>No dynamic-region metrics were given: none of the params files params/report.yaml names "
                "(<code>dynamic_regions</code>) is configured, or the dataset has no odometry tree with "
                "moving-object masks.</p>"]
    ordered = sorted(records, key=_order)
    header = ["Method", "Seed", "Weights", "Protocol (scaling)", "Images (full / dynamic)",
              *(f"{metric} ({part})" for metric in SHOWN_METRICS for part in ("full", DYNAMIC_REGION)),
              "Checkpoint sha256", "Metrics file"]
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = ["<tr>" + "".join(f"<td>{cell}</td>" for cell in _row(p, r)) + "</tr>" for p, r in ordered]
    protocols = {r["protocol"]["name"]: r["protocol"] for _, r in ordered}
    return ["<p>Each method's trained weights on the same odometry test keyframes: errors over the full image "
            "and over the dynamic region, the valid ground truth inside the moving-object masks (keyframes "
            "without a moving object are left out of the dynamic mean; the images column counts both means). "
            "A median-scaled row takes each image's scale from its full image and applies it to the dynamic "
            "region too. These are measurements of this run, not paper numbers.</p>",
            '<table class="dynamic-regions">', f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody>",
            "</table>", "<ul>", *(f"<li>{inline(protocol_line(p))}</li>" for p in protocols.values()), "</ul>"]
