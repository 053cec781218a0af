"""Named depth-evaluation protocols read from ``params/protocols.yaml``.

A protocol fixes everything that changes a depth number besides the prediction itself: the GT
source and how GT maps are re-sampled, the crop, the validity mask, the clamp range, how
predictions are scaled, whether they are flip post-processed, which image regions are scored and
what happens to an image without a valid pixel. The scale rule depends on how the model was
trained; ``scaling_for`` takes that modality as a bool, so a stereo-trained model cannot be
median-scaled by passing the wrong mode string.

Entries under ``protocol_stubs:`` name protocols that a paper uses but whose definition is not
known well enough to score with; ``load_protocol`` refuses them and says what is unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from depthrepro.evaluate.metrics import ALL_METRIC_NAMES
from depthrepro.geometry.stereo import STANDARD_STEREO_BASELINE
from depthrepro.io.mapping_keys import check_mapping_keys

GT_SOURCES: tuple[str, ...] = ("velodyne", "annotated", "nyu_labelled")
MASKS: tuple[str, ...] = ("range_and_crop", "gt_positive", "positive_capped")
SCALINGS: tuple[str, ...] = ("median", "fixed")
RESIZE_TARGETS: tuple[str, ...] = ("disparity", "depth")
GT_TRANSFORMS: tuple[str, ...] = ("window", "resize_nearest", "centre_crop_sparse")
REGIONS: tuple[str, ...] = ("full", "dynamic")
EMPTY_IMAGE_RULES: tuple[str, ...] = ("error", "drop")
NO_CROP = "none"
FULL_REGION = "full"

_PROTOCOL_KEYS: tuple[str, ...] = (
    "description", "split", "expected_images", "gt_source", "crop", "mask", "min_depth", "max_depth",
    "clamp", "scaling", "stereo_scale", "post_process", "metrics", "source", "notes",
)
_OPTIONAL_KEYS: tuple[str, ...] = ("gt_transform", "resize", "regions", "empty_images", "unknown")


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
class GtTransform:
    """How each GT depth map is re-sampled before it is masked and scored.

    ``window``: keep rows ``[top, bottom)`` and columns ``[left, right)`` of ``window`` (pixels) of a
    map that must be ``image_size`` (H, W); the prediction then covers that window only.
    ``resize_nearest``: nearest-neighbour resize to ``output_size`` (H, W).
    ``centre_crop_sparse``: centre crop to the aspect of ``output_size``, then scatter every valid
    GT pixel to its rounded position at ``output_size`` (the MonoRec loader's treatment).
    """

    kind: str
    output_size: tuple[int, ...] | None = None
    window: tuple[int, ...] | None = None
    image_size: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Protocol:
    """One named evaluation protocol (see ``params/protocols.yaml`` for the meaning of each field).

    ``crop_fractions`` is ``(top, bottom, left, right)`` as fractions of ``(H, H, W, W)``; a crop
    given in pixels has ``crop_pixels`` ``(top, bottom, left, right)`` instead, valid for GT maps of
    ``crop_image_size`` (H, W) only. Both are None when ``crop`` is ``none``.
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
    crop_pixels: tuple[int, ...] | None = None
    crop_image_size: tuple[int, ...] | None = None
    gt_transform: GtTransform | None = None
    resize: str = "disparity"
    regions: tuple[str, ...] = (FULL_REGION,)
    empty_images: str = "error"
    unknown: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-serialisable dict of every field (tuples become lists)."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def scaling_for(protocol: Protocol, trained_with_stereo: bool,
                training_baseline: float = STANDARD_STEREO_BASELINE) -> ScaleAlignment:
    """The scale alignment for a model under ``protocol``.

    ``trained_with_stereo`` is True for models whose training used stereo pairs (S and MS): they
    predict depth in units of their training baseline. The protocol's fixed ``stereo_scale`` is the rig
    baseline over the standard 0.1; a model trained with another baseline (FeatDepth: 0.015) takes
    ``stereo_scale × 0.1 / training_baseline`` (×36 for FeatDepth). Monocular models take the
    protocol's monocular rule (median, or ×1 when fixed).
    """
    if not isinstance(trained_with_stereo, bool):
        raise TypeError(f"trained_with_stereo must be a bool, got {trained_with_stereo!r}")
    if not training_baseline > 0:
        raise ValueError(f"training_baseline must be positive, got {training_baseline!r}")
    if trained_with_stereo:
        factor = protocol.stereo_scale * STANDARD_STEREO_BASELINE / training_baseline
        return ScaleAlignment(protocol.scaling.stereo, float(round(factor, 9)))
    return ScaleAlignment(protocol.scaling.monocular, 1.0)


def read_protocol_file(path: Path) -> dict[str, Any]:
    """The parsed protocol file; it must hold a ``protocols:`` mapping (other sections are optional)."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: protocol file not found")
    with path.open() as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("protocols"), dict):
        raise ProtocolError(f"{path}: expected a mapping with a 'protocols:' mapping at top level")
    return document


def list_protocols(path: Path) -> list[str]:
    """Names of the depth protocols defined in ``path``, in file order (stubs excluded)."""
    return list(read_protocol_file(path)["protocols"])


def list_protocol_stubs(path: Path) -> dict[str, dict[str, Any]]:
    """``{name: entry}`` of the ``protocol_stubs:`` section: protocols too little known to score with."""
    stubs = read_protocol_file(path).get("protocol_stubs") or {}
    for name, entry in stubs.items():
        if not isinstance(entry, dict) or not entry.get("unknown") or not entry.get("description"):
            raise ProtocolError(f"{path}: protocol_stubs.{name} needs a 'description' and a non-empty 'unknown' list")
    return stubs


def choice(where: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``; otherwise a ProtocolError naming ``where`` and ``key``."""
    if value not in choices:
        raise ProtocolError(f"{where}: '{key}' must be one of {list(choices)}, got {value!r}")
    return str(value)


def number(where: str, key: str, value: Any) -> float:
    """``value`` as a float; booleans and non-numbers raise a ProtocolError naming ``where`` and ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def check_entry_keys(where: str, entry: Any, required: Sequence[str], optional: Sequence[str]) -> None:
    """A protocol entry must be a mapping with every `required` key and nothing beyond `optional`."""
    check_mapping_keys(where, entry, required, optional, ProtocolError)


def text_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    """A list of non-empty strings as a tuple (whitespace runs folded to one space)."""
    if not isinstance(value, list) or any(not isinstance(item, str) or not item.strip() for item in value):
        raise ProtocolError(f"{where}: '{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(" ".join(item.split()) for item in value)


def _int_list(where: str, key: str, value: Any, length: int) -> tuple[int, ...]:
    if (not isinstance(value, list) or len(value) != length
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value)):
        raise ProtocolError(f"{where}: '{key}' must be a list of {length} non-negative integers, got {value!r}")
    return tuple(value)


def _window(where: str, key: str, bounds: Any, image_size: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Pixel bounds ``(top, bottom, left, right)`` checked against the ``(H, W)`` they refer to."""
    window = _int_list(where, key, bounds, 4)
    size = _int_list(where, "image_size", image_size, 2)
    top, bottom, left, right = window
    if not (top < bottom <= size[0] and left < right <= size[1]):
        raise ProtocolError(f"{where}: '{key}' {list(window)} must satisfy top < bottom <= H and left < right <= W "
                            f"of image_size {list(size)}")
    return window, size


def _crop(path: Path, document: dict[str, Any], crop: str, where: str) -> dict[str, tuple | None]:
    """The crop's ``crop_fractions``, ``crop_pixels`` and ``crop_image_size`` (all None for ``none``)."""
    fields: dict[str, tuple | None] = {"crop_fractions": None, "crop_pixels": None, "crop_image_size": None}
    if crop == NO_CROP:
        return fields
    crops = document.get("crops") or {}
    if crop not in crops:
        raise ProtocolError(f"{where}: crop {crop!r} is neither 'none' nor defined under 'crops:' in {path}")
    definition = crops[crop] if isinstance(crops[crop], dict) else {}
    if "pixels" in definition:
        pixels, size = _window(f"{path}: crops.{crop}", "pixels", definition["pixels"], definition.get("image_size"))
        return {**fields, "crop_pixels": pixels, "crop_image_size": size}
    fractions = definition.get("fractions")
    if not isinstance(fractions, list) or len(fractions) != 4:
        raise ProtocolError(f"{path}: crops.{crop} needs fractions: [top, bottom, left, right] "
                            "or pixels: [top, bottom, left, right] with image_size: [H, W]")
    values = tuple(number(f"{path}: crops.{crop}", "fractions", v) for v in fractions)
    if not (0 <= values[0] < values[1] <= 1 and 0 <= values[2] < values[3] <= 1):
        raise ProtocolError(f"{path}: crops.{crop}.fractions must satisfy 0 <= top < bottom <= 1, same for columns")
    return {**fields, "crop_fractions": values}


def _gt_transform(where: str, value: Any) -> GtTransform | None:
    if value is None:
        return None
    where = f"{where}.gt_transform"
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a mapping with 'kind', got {value!r}")
    kind = choice(where, "kind", value.get("kind"), GT_TRANSFORMS)
    expected = {"kind", "window", "image_size"} if kind == "window" else {"kind", "output_size"}
    if set(value) != expected:
        raise ProtocolError(f"{where}: kind {kind!r} takes exactly the keys {sorted(expected)}, got {sorted(value)}")
    if kind == "window":
        window, size = _window(where, "window", value["window"], value["image_size"])
        return GtTransform(kind, window=window, image_size=size)
    output = _int_list(where, "output_size", value["output_size"], 2)
    if min(output) < 1:
        raise ProtocolError(f"{where}: 'output_size' must be positive, got {list(output)}")
    return GtTransform(kind, output_size=output)


def _regions(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or value[0] != FULL_REGION or len(set(value)) != len(value):
        raise ProtocolError(f"{where}: 'regions' must be a list starting with '{FULL_REGION}' without repeats, "
                            f"got {value!r}")
    return tuple(choice(where, "regions", region, REGIONS) for region in value)


def load_protocol(name: str, path: Path) -> Protocol:
    """Read protocol ``name`` from the YAML file ``path`` and validate every field.

    Raises ProtocolError naming the file, the protocol and the offending key; an unknown name lists
    the names the file defines, and a stub says what about it is unknown.
    """
    path = Path(path)
    document = read_protocol_file(path)
    entries = document["protocols"]
    if name not in entries:
        stubs = list_protocol_stubs(path)
        if name in stubs:
            raise ProtocolError(f"{path}: protocol_stubs.{name} cannot score: its definition is incomplete "
                                f"(unknown: {'; '.join(text_list(path.name, 'unknown', stubs[name]['unknown']))})")
        raise ProtocolError(f"{path}: unknown protocol {name!r}; defined: {sorted(entries)}")
    entry = entries[name]
    where = f"{path}: protocols.{name}"
    check_entry_keys(where, entry, _PROTOCOL_KEYS, _OPTIONAL_KEYS)

    scaling = entry["scaling"]
    if not isinstance(scaling, dict) or set(scaling) != {"monocular", "stereo"}:
        raise ProtocolError(f"{where}: 'scaling' must be a mapping with keys monocular and stereo, got {scaling!r}")
    clamp = entry["clamp"]
    if not isinstance(clamp, list) or len(clamp) != 2:
        raise ProtocolError(f"{where}: 'clamp' must be [low, high], got {clamp!r}")
    clamp_range = (number(where, "clamp", clamp[0]), number(where, "clamp", clamp[1]))
    min_depth = number(where, "min_depth", entry["min_depth"])
    max_depth = number(where, "max_depth", entry["max_depth"])
    if not (0 <= min_depth < max_depth) or not (0 <= clamp_range[0] < clamp_range[1]):
        raise ProtocolError(f"{where}: expected 0 <= min_depth < max_depth and 0 <= clamp low < clamp high")
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
        gt_source=choice(where, "gt_source", entry["gt_source"], GT_SOURCES),
        crop=crop,
        mask=choice(where, "mask", entry["mask"], MASKS),
        min_depth=min_depth,
        max_depth=max_depth,
        clamp=clamp_range,
        scaling=ScalingRule(
            monocular=choice(where, "scaling.monocular", scaling["monocular"], SCALINGS),
            stereo=choice(where, "scaling.stereo", scaling["stereo"], SCALINGS),
        ),
        stereo_scale=number(where, "stereo_scale", entry["stereo_scale"]),
        post_process=entry["post_process"],
        metrics=tuple(metrics),
        source=" ".join(str(entry["source"]).split()),
        notes=" ".join(str(entry["notes"]).split()),
        gt_transform=_gt_transform(where, entry.get("gt_transform")),
        resize=choice(where, "resize", entry.get("resize", "disparity"), RESIZE_TARGETS),
        regions=_regions(where, entry.get("regions", [FULL_REGION])),
        empty_images=choice(where, "empty_images", entry.get("empty_images", "error"), EMPTY_IMAGE_RULES),
        unknown=text_list(where, "unknown", entry.get("unknown", [])),
        **_crop(path, document, crop, where),
    )
