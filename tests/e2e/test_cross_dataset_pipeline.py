"""Cross-dataset evaluation through the whole DAG on the tiny synthetic world.

EPCDepth trains on KITTI raw and is scored on the NYUv2 test views in P2Net's h5 layout (protocol
nyuv2_epcdepth), filling the epcdepth_nyu table's Reproduced row. ManyDepth and Monodepth2 (KITTI raw)
predict the odometry test keyframes and are scored under kitti_odom_mr_median beside the dynamic
multi-frame method under its own kitti_odom_mr, full image and moving objects, in the report.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tiny_world import all_tables

pytestmark = pytest.mark.e2e

CONFIG = """\
dataset: synthetic_kitti_tiny
profile: smoke
methods: [epcdepth, manydepth, monodepth2, dymultidepth]
seeds: [0]
tables: [epcdepth_nyu, dymultidepth_kitti]
"""
RUN = "synthetic_kitti_tiny/smoke"
DYNAMIC = {"dymultidepth": "kitti_odom_mr", "manydepth": "kitti_odom_mr_median", "monodepth2": "kitti_odom_mr_median"}


@pytest.fixture(scope="module")
def cross_run(tiny_project: Callable[[str, str], Path]) -> Path:
    work = tiny_project("cross", CONFIG)
    all_tables(work)
    return work


def _metrics(run: Path, method: str, weights: str, protocol: str) -> dict:
    return json.loads((run / f"results/metrics/{RUN}/{method}/seed0/{weights}/{protocol}.json").read_text())


def test_epcdepth_is_scored_on_the_nyu_h5_test_views(cross_run: Path) -> None:
    record = _metrics(cross_run, "epcdepth", "final", "nyuv2_epcdepth")
    manifest = json.loads((cross_run / "data/synthetic_tiny/nyuv2/manifest.json").read_text())
    assert record["num_images"] == manifest["h5_test"]["files"] > 0
    assert record["scaling"]["kind"] == "median" and record["protocol"]["post_process"]
    with np.load(cross_run / record["provenance"]["predictions"]) as pred:
        assert pred["disp"].shape[1:] == (288, 384) and "disp_flipped" in pred.files
        assert json.loads(str(pred["test_input"]))["window"] == [44, 471, 40, 601]
    table = (cross_run / "results/tables/epcdepth_nyu.md").read_text()
    assert re.search(r"Reproduced \(smoke, synthetic_kitti_tiny[^|]*\) \| \**\d+\.\d+", table), table
    assert "not reproduced" not in table.split("Reproduced", 1)[0]


def test_moving_objects_are_reported_for_the_dynamic_method_beside_manydepth(cross_run: Path) -> None:
    for method, protocol in DYNAMIC.items():
        record = _metrics(cross_run, method, "final", protocol)
        assert record["regions"]["dynamic"]["num_images"] > 0, method
        with np.load(cross_run / record["provenance"]["predictions"]) as pred:
            assert pred["entries"].size == record["num_images"] + len(record["dropped_images"])
    assert _metrics(cross_run, "manydepth", "final", "kitti_odom_mr_median")["scaling"]["kind"] == "median"
    page = html.unescape((cross_run / "results/report.html").read_text())
    section = page.split('<h2 id="dynamic-regions">', 1)[1].split("<h2", 1)[0]
    for method, protocol in DYNAMIC.items():
        assert re.search(rf"<td>{method}</td><td>0</td><td>final</td><td><code>{protocol}</code>", section), method
    assert "scaling: median for monocular and stereo-trained models" in section
