"""Sentences that state a protocol (GT, crop, range, scaling, post-processing) under every table.

They take the protocol as the plain dict stored in metrics records (``Protocol.to_dict()``, or
``PoseProtocol.to_dict()`` with ``kind: pose``), so a table can be rendered from records alone.
"""

from __future__ import annotations

from typing import Any


def _crop_text(protocol: dict[str, Any]) -> str:
    if protocol["crop"] == "none":
        return "no crop"
    pixels, size = protocol.get("crop_pixels"), protocol.get("crop_image_size")
    if pixels and size:
        return (f"{protocol['crop']} (rows {pixels[0]}:{pixels[1]}, columns {pixels[2]}:{pixels[3]} "
                f"of {size[0]}x{size[1]})")
    return str(protocol["crop"])


def _range_text(protocol: dict[str, Any]) -> str:
    if protocol["mask"] == "gt_positive":
        return "mask gt > 0 (no GT cap)"
    if protocol["mask"] == "positive_capped":
        return f"mask 0 < gt ≤ {protocol['max_depth']} m"
    return f"depth range {protocol['min_depth']}–{protocol['max_depth']} m"


def _scaling_text(protocol: dict[str, Any]) -> str:
    scaling = protocol["scaling"]
    if scaling["monocular"] == scaling["stereo"] == "median":
        return "median for monocular and stereo-trained models"
    if scaling["monocular"] == scaling["stereo"] == "fixed" and protocol["stereo_scale"] == 1.0:
        return "none (metric predictions)"
    return (f"{scaling['monocular']} for monocular models, {scaling['stereo']} ×{protocol['stereo_scale']} "
            "for stereo-trained ones")


def _transform_text(transform: dict[str, Any] | None) -> str:
    if not transform:
        return ""
    if transform["kind"] == "window":
        window, size = transform["window"], transform["image_size"]
        return (f"; GT cut to rows {window[0]}:{window[1]}, columns {window[2]}:{window[3]} of {size[0]}x{size[1]} "
                "before scoring")
    size = transform["output_size"]
    if transform["kind"] == "resize_nearest":
        return f"; GT resized to {size[0]}x{size[1]} (nearest)"
    return f"; GT centre-cropped and re-sampled to {size[0]}x{size[1]} (sparse, rounded positions)"


def protocol_line(protocol: dict[str, Any]) -> str:
    """One sentence naming the protocol and everything that changes its numbers."""
    if protocol.get("kind") == "pose":
        alignment = ", ".join(f"{part}: {how}" for part, how in protocol["alignment"].items())
        return (f"Protocol `{protocol['name']}`: {protocol['description']}. GT: {protocol['gt_source']}; "
                f"sequences {', '.join(protocol['sequences'])}; alignment {alignment}; "
                f"metrics {', '.join(protocol['metrics'])}.")
    extra = _transform_text(protocol.get("gt_transform"))
    if protocol.get("resize") == "depth":
        extra += "; the predicted depth (not the disparity) is resized to the GT size"
    regions = protocol.get("regions") or ["full"]
    if len(regions) > 1:
        extra += f"; regions scored: {', '.join(regions)}"
    if protocol.get("empty_images") == "drop":
        extra += "; images without a valid pixel are left out"
    return (f"Protocol `{protocol['name']}`: {protocol['description']}. GT: {protocol['gt_source']}{extra}; "
            f"crop: {_crop_text(protocol)}; {_range_text(protocol)}; scaling: {_scaling_text(protocol)}; "
            f"flip post-processing: {'yes' if protocol['post_process'] else 'no'}.")


def footer_protocol_lines(protocol: dict[str, Any]) -> list[str]:
    """Footer items: split, mask and clamp with the source, then the protocol's notes and open questions."""
    if protocol.get("kind") == "pose":
        lines = [f"Protocol `{protocol['name']}`: split `{protocol['split']}`. Source: {protocol['source']}"]
    else:
        where = "on real KITTI" if protocol["gt_source"] in ("velodyne", "annotated") else "in the real test set"
        lines = [f"Protocol `{protocol['name']}`: split `{protocol['split']}` ({protocol['expected_images']} images "
                 f"{where}), mask `{protocol['mask']}`, clamp {protocol['clamp']}. Source: {protocol['source']}"]
    lines.append("Reported rows are the paper's numbers from its own evaluation, which this protocol describes; "
                 "rows a paper copies from other works may follow those works' protocols.")
    if protocol.get("notes"):
        lines.append(f"Protocol notes: {protocol['notes']}")
    for question in protocol.get("unknown") or []:
        lines.append(f"Open question about this protocol: {question}")
    return lines
