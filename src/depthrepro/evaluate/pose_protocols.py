"""Named pose-evaluation protocols: the ``pose_protocols:`` section of ``params/protocols.yaml``.

A pose protocol states which odometry sequences are scored, how predicted trajectories are aligned
to the ground truth and which error metrics are reported. ``depthrepro.evaluate.pose_score`` computes
them: the ATE metrics with ``depthrepro.evaluate.pose_ate``, the KITTI devkit's segment errors with
``depthrepro.evaluate.pose_segments``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthrepro.evaluate.protocols import ProtocolError, check_entry_keys, choice, read_protocol_file, text_list

POSE_METRICS: dict[str, str] = {
    "ate_snippet_mean": "mean over snippets of the snippet ATE (m)",
    "ate_snippet_std": "standard deviation over snippets of the snippet ATE (m)",
    "ate_full": "RMSE of the aligned full trajectory (m)",
    "t_err": "KITTI devkit translational segment error (%)",
    "r_err": "KITTI devkit rotational segment error (deg/100 m)",
}
"""Metric names a pose protocol may list, with their units."""

COMPUTED_POSE_METRICS: tuple[str, ...] = ("ate_snippet_mean", "ate_snippet_std", "ate_full", "t_err", "r_err")
"""Pose metrics that ``depthrepro.evaluate.pose_score`` computes."""

ALIGNMENTS: tuple[str, ...] = ("first_point_and_scale", "sim3", "scale")
"""``first_point_and_scale``: shift to a common first position, one least-squares scale (snippets);
``sim3``: Umeyama similarity; ``scale``: only the scale of that similarity fit, no rotation or translation."""

_POSE_KEYS: tuple[str, ...] = (
    "description", "split", "sequences", "gt_source", "alignment", "metrics", "source", "notes",
)
_OPTIONAL_POSE_KEYS: tuple[str, ...] = ("snippet_length", "segment_lengths_m", "segment_step_frames", "unknown")


@dataclass(frozen=True)
class PoseProtocol:
    """One pose protocol. ``alignment`` maps ``snippet`` and/or ``trajectory`` to an ``ALIGNMENTS`` name."""

    name: str
    description: str
    split: str
    sequences: tuple[str, ...]
    gt_source: str
    alignment: dict[str, str]
    metrics: tuple[str, ...]
    source: str
    notes: str
    snippet_length: int | None = None
    segment_lengths_m: tuple[int, ...] | None = None
    segment_step_frames: int | None = None
    unknown: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-serialisable dict of every field, with ``kind: pose``."""
        plain = dataclasses.asdict(self)
        for key, value in plain.items():
            if isinstance(value, tuple):
                plain[key] = list(value)
        return {"kind": "pose", **plain}


def list_pose_protocols(path: Path) -> list[str]:
    """Names of the pose protocols defined in ``path``, in file order."""
    return list(read_protocol_file(path).get("pose_protocols") or {})


def _positive_int(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProtocolError(f"{where}: '{key}' must be a positive integer, got {value!r}")
    return value


def load_pose_protocol(name: str, path: Path) -> PoseProtocol:
    """Read pose protocol ``name`` from ``path``; errors name the file, the protocol and the key."""
    path = Path(path)
    entries = read_protocol_file(path).get("pose_protocols") or {}
    if name not in entries:
        raise ProtocolError(f"{path}: unknown pose protocol {name!r}; defined: {sorted(entries)}")
    entry = entries[name]
    where = f"{path}: pose_protocols.{name}"
    check_entry_keys(where, entry, _POSE_KEYS, _OPTIONAL_POSE_KEYS)
    sequences = text_list(where, "sequences", entry["sequences"])
    metrics = entry["metrics"]
    if not isinstance(metrics, list) or not metrics or any(m not in POSE_METRICS for m in metrics):
        raise ProtocolError(f"{where}: 'metrics' must be a non-empty list drawn from {list(POSE_METRICS)}")
    alignment = entry["alignment"]
    if not isinstance(alignment, dict) or not alignment or not set(alignment) <= {"snippet", "trajectory"}:
        raise ProtocolError(f"{where}: 'alignment' must map 'snippet' and/or 'trajectory' to one of "
                            f"{list(ALIGNMENTS)}, got {alignment!r}")
    lengths = entry.get("segment_lengths_m")
    if lengths is not None and (not isinstance(lengths, list) or not lengths):
        raise ProtocolError(f"{where}: 'segment_lengths_m' must be a non-empty list of metres, got {lengths!r}")
    return PoseProtocol(
        name=name,
        description=str(entry["description"]),
        split=str(entry["split"]),
        sequences=sequences,
        gt_source=str(entry["gt_source"]),
        alignment={part: choice(where, f"alignment.{part}", value, ALIGNMENTS) for part, value in alignment.items()},
        metrics=tuple(metrics),
        source=" ".join(str(entry["source"]).split()),
        notes=" ".join(str(entry["notes"]).split()),
        snippet_length=None if "snippet_length" not in entry
        else _positive_int(where, "snippet_length", entry["snippet_length"]),
        segment_lengths_m=None if lengths is None
        else tuple(_positive_int(where, "segment_lengths_m", v) for v in lengths),
        segment_step_frames=None if "segment_step_frames" not in entry
        else _positive_int(where, "segment_step_frames", entry["segment_step_frames"]),
        unknown=text_list(where, "unknown", entry.get("unknown", [])),
    )
