"""The report's odometry figures, drawn from the pose metrics records of `depthrepro score-poses`.

A pose record's provenance names its pose predictions (``poses``: protocol sequence → file of
`depthrepro predict-poses`) and ground truth (``gt_poses``: protocol sequence → KITTI pose file). Each
figure shows one protocol sequence from above: the ground truth and, per method and checkpoint stage
(lowest seed), the chained predicted trajectory aligned to it as the protocol scores it (its
``alignment.trajectory``: ``scale`` or ``sim3``; Sim(3) for a protocol that aligns snippets only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depthrepro.evaluate.pose_ate import chain_relative_poses
from depthrepro.evaluate.pose_segments import align_trajectory
from depthrepro.io.kitti_odometry import read_poses
from depthrepro.report.figures import trajectories_png
from depthrepro.report.result_figures import STAGES, ReportFigure, Scored


def _seed(record: dict[str, Any]) -> int:
    return int(record["provenance"].get("train", {}).get("seed", 0))


def _lowest_seeds(scored: Sequence[Scored], protocol: str) -> list[dict[str, Any]]:
    """Per method and stage, the record of the lowest seed under ``protocol``, in method then stage order."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for _, record in scored:
        prov = record["provenance"]
        if record["protocol"]["name"] != protocol or prov["weights"] not in STAGES:
            continue
        key = (prov.get("params_name", prov["method"]), prov["weights"])
        if key not in chosen or _seed(record) < _seed(chosen[key]):
            chosen[key] = record
    return [chosen[key] for key in sorted(chosen, key=lambda k: (k[0], STAGES.index(k[1])))]


def _file(path: str, what: str) -> Path:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: {what} named by a pose metrics record not found")
    return Path(path)


def aligned_positions(record: dict[str, Any], sequence: str, gt: np.ndarray) -> np.ndarray:
    """``(N, 3)`` predicted camera positions of ``sequence``, aligned to ``gt`` as the record's protocol says."""
    path = _file(record["provenance"]["poses"][sequence], "pose predictions file")
    with np.load(path) as archive:
        if "relative_poses" not in archive.files:
            raise ValueError(f"{path}: pose predictions file lacks relative_poses; rerun `depthrepro predict-poses`")
        trajectory = chain_relative_poses(archive["relative_poses"])
    if trajectory.shape != gt.shape:
        raise ValueError(f"{path}: {len(trajectory)} chained poses for {len(gt)} GT poses")
    kind = record["protocol"]["alignment"].get("trajectory", "sim3")
    return align_trajectory(trajectory, gt, kind)[0][:, :3, 3]


def _values(record: dict[str, Any], sequence: str) -> str:
    """The record's metrics of ``sequence`` as text; missing ones grouped by their reason."""
    parts, missing = [], {}
    for metric in record["protocol"]["metrics"]:
        key = f"seq{sequence}_{metric}"
        value = record["mean"].get(key)
        if value is None:
            missing.setdefault(record.get("missing", {}).get(key, "no value"), []).append(metric)
        else:
            parts.append(f"{metric} {value:.3f}")
    parts += [f"{', '.join(metrics)} missing ({reason})" for reason, metrics in missing.items()]
    return "; ".join(parts)


def pose_trajectory_figures(scored: Sequence[Scored]) -> list[ReportFigure]:
    """One top-view figure (x–z) per pose protocol and protocol sequence scored in the records."""
    figures = []
    protocols = sorted({r["protocol"]["name"] for _, r in scored if r["protocol"].get("kind") == "pose"})
    for protocol in protocols:
        records = _lowest_seeds(scored, protocol)
        for sequence in sorted({s for r in records for s in r["provenance"].get("poses", {})}):
            with_sequence = [r for r in records if sequence in r["provenance"]["poses"]]
            gt_path = _file(with_sequence[0]["provenance"]["gt_poses"][sequence], "ground-truth pose file")
            gt = read_poses(gt_path)
            trajectories, notes = {}, []
            for record in with_sequence:
                prov = record["provenance"]
                label = f"{prov.get('params_name', prov['method'])} {prov['weights']} (seed {_seed(record)})"
                trajectories[label] = aligned_positions(record, sequence, gt)
                notes.append(f"{label}: {_values(record, sequence)}.")
            alignment = with_sequence[0]["protocol"]["alignment"].get("trajectory", "sim3")
            dataset_sequence = with_sequence[0]["sequences"][sequence]["dataset_sequence"]
            figures.append(ReportFigure(
                f"trajectory_{protocol}_{sequence}", f"Camera trajectory, sequence {sequence}, protocol {protocol}",
                f"Top view (x–z, metres) of the chained predicted camera positions of sequence {dataset_sequence} "
                f"(scored as {sequence}), aligned to the ground truth (`{gt_path}`, dashed) by `{alignment}` as "
                f"protocol `{protocol}` scores them.",
                trajectories_png(trajectories, gt[:, :3, 3]), tuple(notes)))
    return figures
