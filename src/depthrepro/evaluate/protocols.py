"""Named depth-evaluation protocols read from ``params/protocols.yaml``.

A protocol fixes everything that changes a KITTI number besides the prediction itself: the GT
source, the crop, the validity mask, the clamp range, how predictions are scaled and whether they
are flip post-processed. The scale rule depends on how the model was trained; ``scaling_for``
takes that modality as a bool, so a stereo-trained model cannot be median-scaled by passing the
wrong mode string.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from depthrepro.evaluate.metrics import ALL_METRIC_NAMES

GT_SOURCES: tuple[str, ...] = ("velodyne", "annotated")
MASKS: tuple[str, ...] = ("range_and_crop", "gt_positive")
SCALINGS: tuple[str, ...] = ("median", "fixed")
NO_CROP = "none"

_PROTOCOL_KEYS: tuple[str, ...] = (
    "description", "split", "expected_images", "gt_source", "crop", "mask", "min_depth", "max_depth",
    "clamp", "scaling", "stereo_scale", "post_process", "metrics", "source", "notes",
)


class ProtocolError(ValueError):
    """A protocol file or entry that does not match the expected layout."""


@dataclass(frozen=True)
class ScalingRule:
    """Scale alignment per training modality: ``median`` or ``fixed``."""

    monocular: str
    stereo: str


@dataclass(frozen=True)
class ScaleAlignment:
    """How one model's predictions are scaled: ``kind`` ``median`` (after ``× factor``) or ``fixed``."""

    kind: str
    factor: float


@dataclass(frozen=True)
class Protocol:
    """One named evaluation protocol (see ``params/protocols.yaml`` for the meaning of each field).

    ``crop_fractions`` is ``(top, bottom, left, right)`` as fractions of ``(H, H, W, W)``, or None
    when ``crop`` is ``none``.
    """

    name: str
    description: str
    split: str
    expected_images: int
    gt_source: str
    crop: str
    crop_fractions: tuple[float, ...] | None
    mask: str
    min_depth: float
    max_depth: float
    clamp: tuple[float, float]
    scaling: ScalingRule
    stereo_scale: float
    post_process: bool
    metrics: tuple[str, ...]
    source: str
    notes: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-serialisable dict of every field (tuples become lists)."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def scaling_for(protocol: Protocol, trained_with_stereo: bool) -> ScaleAlignment:
    """The scale alignment for a model under ``protocol``.

    ``trained_with_stereo`` is True for models whose training used stereo pairs (S and MS): they
    predict depth in units of the 0.1 training baseline and take the fixed ``stereo_scale``.
    Monocular models take the protocol's monocular rule (median, or ×1 when fixed).
    """
    if not isinstance(trained_with_stereo, bool):
        raise TypeError(f"trained_with_stereo must be a bool, got {trained_with_stereo!r}")
    if trained_with_stereo:
        return ScaleAlignment(protocol.scaling.stereo, protocol.stereo_scale)
    return ScaleAlignment(protocol.scaling.monocular, 1.0)


def _read_file(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: protocol file not found")
    with path.open() as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("protocols"), dict):
        raise ProtocolError(f"{path}: expected a mapping with a 'protocols:' mapping at top level")
    return document


def list_protocols(path: Path) -> list[str]:
    """Names of the protocols defined in ``path``, in file order."""
    return list(_read_file(path)["protocols"])


def _choice(where: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ProtocolError(f"{where}: '{key}' must be one of {list(choices)}, got {value!r}")
    return str(value)


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _crop_fractions(path: Path, document: dict[str, Any], crop: str, where: str) -> tuple[float, ...] | None:
    if crop == NO_CROP:
        return None
    crops = document.get("crops") or {}
    if crop not in crops:
        raise ProtocolError(f"{where}: crop {crop!r} is neither 'none' nor defined under 'crops:' in {path}")
    fractions = crops[crop].get("fractions") if isinstance(crops[crop], dict) else None
    if not isinstance(fractions, list) or len(fractions) != 4:
        raise ProtocolError(f"{path}: crops.{crop}.fractions must be [top, bottom, left, right]")
    values = tuple(_number(f"{path}: crops.{crop}", "fractions", v) for v in fractions)
    if not (0 <= values[0] < values[1] <= 1 and 0 <= values[2] < values[3] <= 1):
        raise ProtocolError(f"{path}: crops.{crop}.fractions must satisfy 0 <= top < bottom <= 1, same for columns")
    return values


def load_protocol(name: str, path: Path) -> Protocol:
    """Read protocol ``name`` from the YAML file ``path`` and validate every field.

    Raises ProtocolError naming the file, the protocol and the offending key; an unknown name lists
    the names the file defines.
    """
    path = Path(path)
    document = _read_file(path)
    entries = document["protocols"]
    if name not in entries:
        raise ProtocolError(f"{path}: unknown protocol {name!r}; defined: {sorted(entries)}")
    entry = entries[name]
    where = f"{path}: protocols.{name}"
    if not isinstance(entry, dict):
        raise ProtocolError(f"{where}: expected a mapping")
    missing = [key for key in _PROTOCOL_KEYS if key not in entry]
    if missing:
        raise ProtocolError(f"{where}: missing key(s) {missing}")
    unknown = sorted(set(entry) - set(_PROTOCOL_KEYS))
    if unknown:
        raise ProtocolError(f"{where}: unknown key(s) {unknown}; expected {list(_PROTOCOL_KEYS)}")

    scaling = entry["scaling"]
    if not isinstance(scaling, dict) or set(scaling) != {"monocular", "stereo"}:
        raise ProtocolError(f"{where}: 'scaling' must be a mapping with keys monocular and stereo, got {scaling!r}")
    clamp = entry["clamp"]
    if not isinstance(clamp, list) or len(clamp) != 2:
        raise ProtocolError(f"{where}: 'clamp' must be [low, high], got {clamp!r}")
    clamp_range = (_number(where, "clamp", clamp[0]), _number(where, "clamp", clamp[1]))
    min_depth = _number(where, "min_depth", entry["min_depth"])
    max_depth = _number(where, "max_depth", entry["max_depth"])
    if not (0 <= min_depth < max_depth) or not (0 < clamp_range[0] < clamp_range[1]):
        raise ProtocolError(f"{where}: expected 0 <= min_depth < max_depth and 0 < clamp low < clamp high")
    metrics = entry["metrics"]
    if not isinstance(metrics, list) or not metrics or any(m not in ALL_METRIC_NAMES for m in metrics):
        raise ProtocolError(f"{where}: 'metrics' must be a non-empty list drawn from {list(ALL_METRIC_NAMES)}")
    expected_images = entry["expected_images"]
    if isinstance(expected_images, bool) or not isinstance(expected_images, int) or expected_images < 1:
        raise ProtocolError(f"{where}: 'expected_images' must be a positive integer, got {expected_images!r}")
    if not isinstance(entry["post_process"], bool):
        raise ProtocolError(f"{where}: 'post_process' must be true or false, got {entry['post_process']!r}")
    crop = str(entry["crop"])

    return Protocol(
        name=name,
        description=str(entry["description"]),
        split=str(entry["split"]),
        expected_images=expected_images,
        gt_source=_choice(where, "gt_source", entry["gt_source"], GT_SOURCES),
        crop=crop,
        crop_fractions=_crop_fractions(path, document, crop, where),
        mask=_choice(where, "mask", entry["mask"], MASKS),
        min_depth=min_depth,
        max_depth=max_depth,
        clamp=clamp_range,
        scaling=ScalingRule(
            monocular=_choice(where, "scaling.monocular", scaling["monocular"], SCALINGS),
            stereo=_choice(where, "scaling.stereo", scaling["stereo"], SCALINGS),
        ),
        stereo_scale=_number(where, "stereo_scale", entry["stereo_scale"]),
        post_process=entry["post_process"],
        metrics=tuple(metrics),
        source=" ".join(str(entry["source"]).split()),
        notes=" ".join(str(entry["notes"]).split()),
    )
