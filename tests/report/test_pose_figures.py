"""Odometry figures from pose metrics records: the protocol's alignment, lowest seeds, notes, missing files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthrepro.evaluate.pose_ate import gt_relative_poses
from depthrepro.io.kitti_odometry import write_poses
from depthrepro.report.pose_figures import aligned_positions, pose_trajectory_figures

PNG = b"\x89PNG\r\n\x1a\n"


def drive(frames: int = 30) -> np.ndarray:
    poses = np.tile(np.eye(4), (frames, 1, 1))
    heading = np.linspace(0, 0.5, frames)
    poses[:, 0, 3] = 10 * (1 - np.cos(heading))
    poses[:, 2, 3] = 10 * np.sin(heading)
    for k, h in enumerate(heading):
        poses[k, :3, :3] = [[np.cos(h), 0, np.sin(h)], [0, 1, 0], [-np.sin(h), 0, np.cos(h)]]
    return poses


def record(tmp_path: Path, stage: str, seed: int, scale: float, alignment: str = "scale",
           t_err: float | None = None) -> tuple[Path, dict]:
    gt = drive()
    gt_file = tmp_path / "poses" / "00.txt"
    write_poses(gt_file, gt)
    motions = gt_relative_poses(gt)
    motions[:, :3, 3] *= scale
    poses_file = tmp_path / f"{stage}_{seed}.npz"
    np.savez(poses_file, relative_poses=motions)
    metrics = {"seq09_t_err": t_err, "seq09_r_err": None if t_err is None else 0.5, "seq10_t_err": None,
               "seq10_r_err": None}
    missing = {} if t_err is not None else {"seq09_t_err": "too short", "seq09_r_err": "too short"}
    return tmp_path / f"{stage}_{seed}.json", {
        "protocol": {"kind": "pose", "name": "kitti_odom_segments_featdepth", "metrics": ["t_err", "r_err"],
                     "alignment": {"trajectory": alignment}},
        "mean": metrics, "missing": missing, "sequences": {"09": {"dataset_sequence": "00"}},
        "provenance": {"method": "featdepth", "params_name": "featdepth_odom", "weights": stage,
                       "poses": {"09": str(poses_file)}, "gt_poses": {"09": str(gt_file)}, "train": {"seed": seed}}}


def test_one_figure_per_sequence_with_lowest_seed_per_stage_and_the_metrics_in_notes(tmp_path: Path) -> None:
    scored = [record(tmp_path, "final", 1, 0.2, t_err=9.0), record(tmp_path, "final", 0, 0.5, t_err=3.25),
              record(tmp_path, "init", 0, 0.01)]
    scored.append((tmp_path / "depth.json", {"protocol": {"name": "kitti_eigen"}, "provenance": {}}))
    figures = pose_trajectory_figures(scored)
    assert [f.name for f in figures] == ["trajectory_kitti_odom_segments_featdepth_09"]
    figure = figures[0]
    assert figure.png is not None and figure.png.startswith(PNG)
    assert "sequence 00 (scored as 09)" in figure.caption and "`scale`" in figure.caption
    assert figure.notes == ("featdepth_odom init (seed 0): t_err, r_err missing (too short).",
                            "featdepth_odom final (seed 0): t_err 3.250; r_err 0.500.")


def test_positions_are_aligned_as_the_protocol_scores_them(tmp_path: Path) -> None:
    gt = drive()
    _, scaled = record(tmp_path, "final", 0, 0.5)
    np.testing.assert_allclose(aligned_positions(scaled, "09", gt), gt[:, :3, 3], atol=1e-9)
    _, similar = record(tmp_path, "final", 0, 0.5, alignment="sim3")
    np.testing.assert_allclose(aligned_positions(similar, "09", gt), gt[:, :3, 3], atol=1e-9)


def test_missing_files_are_named(tmp_path: Path) -> None:
    path, rec = record(tmp_path, "final", 0, 1.0)
    rec["provenance"]["poses"]["09"] = str(tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="gone.npz: pose predictions file named by a pose metrics record"):
        pose_trajectory_figures([(path, rec)])
    assert pose_trajectory_figures([]) == []
