"""The report's moving-object section: full-image and dynamic-region errors of each method side by side,
each with its protocol; built from metrics records only."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from depthrepro.cli import main
from depthrepro.evaluate.protocols import load_protocol
from depthrepro.evaluate.score import score_depth
from depthrepro.report.dynamic_regions import dynamic_region_section
from depthrepro.report.page import report_page

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = REPO_ROOT / "params" / "protocols.yaml"
RUNS = {"dymultidepth": "kitti_odom_mr", "manydepth": "kitti_odom_mr_median"}


def _record(method: str, protocol_name: str, seed: int = 0) -> dict:
    """A metrics record of three keyframes, two with a moving object, the object predicted too far."""
    protocol = load_protocol(protocol_name, PROTOCOLS)
    gts, preds, masks = [], [], []
    for index in range(3):
        gts.append(np.full((376, 1241), 8.0 + index, dtype=np.float32))
        mask = np.zeros((256, 512), dtype=np.float32)
        if index:
            mask[100:140, 200:260] = 1
        pred = np.full((256, 512), 8.0 + index, dtype=np.float32) * (1 if protocol_name == "kitti_odom_mr" else 3)
        pred[mask > 0] *= 1.5
        preds.append(1 / pred)
        masks.append(mask)
    score = score_depth(preds, gts, protocol, stereo_trained=False, region_masks={"dynamic": masks})
    return {**score.to_json_dict(), "provenance": {
        "method": method, "weights": "final", "protocol": protocol_name, "checkpoint.sha256": "ab" * 32,
        "train": {"seed": seed}}}


def _records(tmp_path: Path) -> list[tuple[Path, dict]]:
    records = []
    for method, protocol in RUNS.items():
        path = tmp_path / f"{method}.json"
        record = _record(method, protocol)
        path.write_text(json.dumps(record))
        records.append((path, record))
    return records


def _cells(text: str) -> list[list[str]]:
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", text)]
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells] for cells in rows if cells]


def test_rows_put_full_and_dynamic_errors_side_by_side(tmp_path: Path) -> None:
    text = "\n".join(dynamic_region_section(list(reversed(_records(tmp_path)))))
    header = re.findall(r"<th>(.*?)</th>", text)
    assert header[5:11] == ["abs_rel (full)", "abs_rel (dynamic)", "rmse (full)", "rmse (dynamic)", "a1 (full)",
                            "a1 (dynamic)"]
    rows = _cells(text)
    assert [row[0] for row in rows] == ["dymultidepth", "manydepth"]  # protocol order, then method
    assert rows[0][3] == "kitti_odom_mr (fixed ×1)" and rows[1][3] == "kitti_odom_mr_median (median ×1)"
    for row in rows:
        assert row[4] == "3 / 2"  # the keyframe without a moving object is left out of the dynamic mean
        full, dynamic = float(row[5]), float(row[6])
        assert dynamic == pytest.approx(0.5) and 0 < full < 0.05  # the object is 1.5x too far, the rest right
        assert float(row[9]) > 0.95 and float(row[10]) == 0.0
    assert "Protocol `kitti_odom_mr`" not in text and "<code>kitti_odom_mr</code>" in text
    assert "scaling: median for monocular and stereo-trained models" in html.unescape(text)
    assert "scaling: none (metric predictions)" in html.unescape(text)


def test_records_without_a_dynamic_region_are_refused(tmp_path: Path) -> None:
    record = _record("manydepth", "kitti_odom_mr_median")
    record["regions"] = {}
    with pytest.raises(ValueError, match=r"m\.json: protocol 'kitti_odom_mr_median' scores no 'dynamic' region"):
        dynamic_region_section([(tmp_path / "m.json", record)])


def test_the_page_has_the_section_even_without_records(tmp_path: Path) -> None:
    empty = report_page("t", True, [], [], [], [])
    assert '<h2 id="dynamic-regions">' in empty and 'href="#dynamic-regions"' in empty
    assert "No dynamic-region metrics were given" in empty
    filled = report_page("t", True, [], [], [], [], (), _records(tmp_path))
    assert "No dynamic-region metrics were given" not in filled and "manydepth" in filled


def test_report_verb_takes_the_metrics_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the table verb reads data.dvc from the working directory
    table = tmp_path / "tables" / "gasmono_nyu.md"
    assert main(["table", "--table", "gasmono_nyu", "--dataset", "synthetic_kitti", "--profile", "smoke",
                 "--out", str(table), "--formats", "html"]) == 0
    page = tmp_path / "report.html"
    paths = [str(path) for path, _ in _records(tmp_path)]
    assert main(["report", "--dataset", "synthetic_kitti", "--profile", "smoke", "--out", str(page),
                 "--figures-dir", str(tmp_path / "figures"), "--results-dir", str(tmp_path),
                 "--tables", str(table.with_suffix(".html")), "--dynamic-regions", *paths]) == 0
    text = page.read_text()
    section = text.split('<h2 id="dynamic-regions">', 1)[1].split("<h2", 1)[0]
    assert [row[0] for row in _cells(section)] == ["dymultidepth", "manydepth"]
    assert all(path in html.unescape(section) for path in paths)
