"""Scores of predicted camera motion under a pose protocol, per odometry sequence.

A sequence is scored from its N ground-truth camera-to-world poses and the N-1 predicted motions
``T_{k+1<-k}`` (``depthrepro.evaluate.pose_ate``'s convention). The motions are chained into a
trajectory and aligned to the ground truth as the protocol's ``alignment.trajectory`` says; then:

* ``ate_snippet_mean`` / ``ate_snippet_std``: monodepth2's snippet ATE (its own per-snippet alignment);
* ``ate_full``: RMSE (m) of the aligned positions;
* ``t_err`` / ``r_err``: the KITTI devkit's segment errors of the aligned trajectory (``pose_segments``).

A metric that cannot be computed (a sequence shorter than the shortest segment, a protocol sequence the
dataset has no stand-in for) is None with a reason, never 0. Tables read ``seq<SS>_<metric>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depthrepro.evaluate.pose_ate import chain_relative_poses, snippet_ate
from depthrepro.evaluate.pose_protocols import PoseProtocol
from depthrepro.evaluate.pose_segments import SegmentError, align_trajectory, path_distances, segment_metrics

SEGMENT_METRICS = ("t_err", "r_err")
SNIPPET_METRICS = ("ate_snippet_mean", "ate_snippet_std")


def metric_key(sequence: str, metric: str) -> str:
    """The key of a sequence's metric in metrics records and table columns: ``seq09_t_err``."""
    return f"seq{sequence}_{metric}"


@dataclass(frozen=True)
class SequenceScore:
    """One protocol sequence scored on the dataset sequence standing for it.

    ``metrics`` maps every metric of the protocol to a value or None (``missing`` says why);
    ``scale`` is the alignment's scale factor (predicted units to metres).
    """

    sequence: str
    dataset_sequence: str
    num_frames: int
    path_length_m: float
    alignment: str
    scale: float
    metrics: dict[str, float | None]
    missing: dict[str, str] = field(default_factory=dict)
    segments: tuple[SegmentError, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "dataset_sequence": self.dataset_sequence,
            "num_frames": self.num_frames,
            "path_length_m": self.path_length_m,
            "alignment": {"kind": self.alignment, "scale": self.scale},
            "metrics": dict(self.metrics),
            "missing": dict(self.missing),
            "segments": [{"first": s.first, "last": s.last, "length_m": s.length_m,
                          "t_err_percent": 100.0 * s.t_err, "r_err_deg_per_100m": 100.0 * float(np.degrees(s.r_err))}
                         for s in self.segments],
        }


def _required(protocol: PoseProtocol, key: str) -> Any:
    value = getattr(protocol, key)
    if value is None:
        raise ValueError(f"pose protocol {protocol.name!r}: its metrics need '{key}', which it does not set")
    return value


def score_pose_sequence(gt_global_poses: np.ndarray, pred_relative_poses: np.ndarray, protocol: PoseProtocol,
                        sequence: str, dataset_sequence: str) -> SequenceScore:
    """Every metric of ``protocol`` on one sequence: GT camera-to-world ``(N, 4, 4)``, motions ``(N-1, 4, 4)``."""
    gt = np.asarray(gt_global_poses, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ValueError(f"sequence {sequence}: expected (N, 4, 4) GT poses, got shape {gt.shape}")
    pred = chain_relative_poses(pred_relative_poses)
    if pred.shape != gt.shape:
        raise ValueError(f"sequence {sequence}: {len(pred) - 1} predicted motions for {len(gt)} GT poses; "
                         "expected one motion per consecutive frame pair")
    alignment = protocol.alignment.get("trajectory")
    metrics: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    segments: tuple[SegmentError, ...] = ()
    needs_trajectory = "ate_full" in protocol.metrics or any(m in protocol.metrics for m in SEGMENT_METRICS)
    if needs_trajectory and alignment is None:
        raise ValueError(f"pose protocol {protocol.name!r}: trajectory metrics need alignment.trajectory")
    aligned, fit = align_trajectory(pred, gt, alignment) if alignment else (pred, None)
    path_length = float(path_distances(gt)[-1])
    if any(m in protocol.metrics for m in SNIPPET_METRICS):
        ates = snippet_ate(gt, pred_relative_poses, _required(protocol, "snippet_length"))
        metrics.update(ate_snippet_mean=float(ates.mean()), ate_snippet_std=float(ates.std()))
    if "ate_full" in protocol.metrics:
        metrics["ate_full"] = float(np.sqrt(np.mean(np.sum((aligned[:, :3, 3] - gt[:, :3, 3]) ** 2, axis=1))))
    if any(m in protocol.metrics for m in SEGMENT_METRICS):
        result = segment_metrics(gt, aligned, _required(protocol, "segment_lengths_m"),
                                 _required(protocol, "segment_step_frames"))
        metrics.update(t_err=result.t_err, r_err=result.r_err)
        segments = result.segments
        if result.missing_reason:
            missing.update({m: result.missing_reason for m in SEGMENT_METRICS})
    return SequenceScore(sequence, dataset_sequence, len(gt), path_length, alignment or "none",
                         fit.scale if fit else 1.0, {m: metrics[m] for m in protocol.metrics}, missing, segments)


@dataclass(frozen=True)
class PoseScore:
    """A checkpoint's scores on every sequence of a protocol; ``absent`` maps the protocol sequences
    that could not be scored to the reason."""

    protocol: PoseProtocol
    stereo_trained: bool
    sequences: dict[str, SequenceScore]
    absent: dict[str, str]

    def __post_init__(self) -> None:
        scored, absent = set(self.sequences), set(self.absent)
        if scored & absent or scored | absent != set(self.protocol.sequences):
            raise ValueError(f"pose protocol {self.protocol.name!r} scores sequences {list(self.protocol.sequences)}; "
                             f"got scores for {sorted(self.sequences)} and reasons for {sorted(self.absent)}")

    @property
    def metric_names(self) -> list[str]:
        """``seq<SS>_<metric>`` for every protocol sequence and metric, in protocol order."""
        return [metric_key(s, m) for s in self.protocol.sequences for m in self.protocol.metrics]

    def mean_dict(self) -> dict[str, float | None]:
        """Every metric name's value (None when missing)."""
        values: dict[str, float | None] = {}
        for s in self.protocol.sequences:
            for m in self.protocol.metrics:
                score = self.sequences.get(s)
                values[metric_key(s, m)] = None if score is None else score.metrics[m]
        return values

    def missing_dict(self) -> dict[str, str]:
        """Metric name → why it has no value."""
        reasons = {}
        for s in self.protocol.sequences:
            for m in self.protocol.metrics:
                score = self.sequences.get(s)
                reason = self.absent[s] if score is None else score.missing.get(m, "")
                if reason:
                    reasons[metric_key(s, m)] = reason
        return reasons

    def to_json_dict(self) -> dict[str, Any]:
        """The record's body, shaped like a depth score's (``protocol``, ``scaling``, ``num_images``,
        ``metric_names``, ``mean``) plus ``missing`` and the per-sequence details."""
        return {
            "protocol": self.protocol.to_dict(),
            "stereo_trained": self.stereo_trained,
            "scaling": {"kind": f"trajectory alignment {self.protocol.alignment.get('trajectory', 'none')}",
                        "factor": {s: score.scale for s, score in self.sequences.items()}},
            "num_images": sum(score.num_frames for score in self.sequences.values()),
            "metric_names": self.metric_names,
            "mean": self.mean_dict(),
            "missing": self.missing_dict(),
            "sequences": {s: score.to_json_dict() for s, score in self.sequences.items()},
            "absent_sequences": dict(self.absent),
        }
