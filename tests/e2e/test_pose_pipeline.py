"""FeatDepth's odometry rows through the whole DAG on the tiny synthetic world.

`featdepth_odom` trains on the `odom` split of the odometry tree (after the FeatureNet auto-encoder it
depends on), predicts the relative poses of test sequence 00 (which stands in for 09; nothing stands in
for 10), is scored under `kitti_odom_segments_featdepth` and fills the featdepth_vo table's Reproduced row.
The tiny sequence is a few metres long, shorter than the shortest 100 m segment, so every metric must be
missing with its reason, never 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tiny_world import all_tables, run_snakemake

pytestmark = pytest.mark.e2e

CONFIG = """\
dataset: synthetic_kitti_tiny
profile: smoke
methods: [featdepth_odom]
seeds: [0]
tables: [featdepth_vo]
"""
RUN = "synthetic_kitti_tiny/smoke/featdepth_odom/seed0"


@pytest.fixture(scope="module")
def pose_run(tiny_project: Callable[[str, str], Path]) -> Path:
    work = tiny_project("poses", CONFIG)
    all_tables(work)
    return work


def test_featdepth_odom_is_trained_predicted_and_scored(pose_run: Path) -> None:
    record = json.loads((pose_run / f"results/metrics/{RUN}/final/kitti_odom_segments_featdepth.json").read_text())
    assert record["protocol"]["name"] == "kitti_odom_segments_featdepth"
    assert record["provenance"]["params_name"] == record["provenance"]["method"] == "featdepth_odom"
    assert record["provenance"]["train"]["steps"] > 0
    assert record["mean"] == {"seq09_t_err": None, "seq09_r_err": None, "seq10_t_err": None, "seq10_r_err": None}
    assert "shortest segment (100 m)" in record["missing"]["seq09_t_err"]
    assert "no sequence standing in for sequence 10" in record["missing"]["seq10_r_err"]
    assert record["sequences"]["09"]["dataset_sequence"] == "00"
    poses = {}
    for weights in ("init", "final"):
        with np.load(pose_run / f"results/poses/{RUN}/{weights}/odom_00.npz") as archive:
            poses[weights] = archive["relative_poses"]
    assert poses["final"].shape == (13, 4, 4) and not np.allclose(poses["init"], poses["final"])


def test_the_table_row_and_the_report_come_from_the_pose_metrics(pose_run: Path) -> None:
    table = (pose_run / "results/tables/featdepth_vo.md").read_text()
    row = re.search(r"\| Ours \(row 1[^|]*\| Reproduced \(smoke, synthetic_kitti_tiny, 64x224\) \|([^\n]*)", table)
    assert row and row.group(1).count(" — ") == 4 and "shortest segment (100 m)" in row.group(1), table
    assert "kitti_odom_segments_featdepth" in (pose_run / "results/report.html").read_text()
    again = run_snakemake(pose_run, "all_tables", "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
