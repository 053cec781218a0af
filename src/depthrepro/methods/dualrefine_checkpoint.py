"""DualRefine's checkpoint file `depth_pose.pth`: the state dict of the official `DEQDepthPose`
plus the non-tensor entries `height`, `width` and four depth-range trackers.

`released_to_state` turns the loaded contents of such a file into the state dict of
`depthrepro.nets.dualrefine.DEQDepthPose` (whose keys are the official ones):
- the non-tensor entries are split off (and checked);
- the decoder's duplicate keys are reconciled: the official decoder registers its modules twice
  (`decoder.convs.<name>.*` and `decoder.decoder.<i>.*`, one set of tensors), so the two copies
  must agree, and a file holding only one copy gets the other;
- a layer stored with a plain `weight` where the network is weight-normalised (official
  `--disable_wnorm` checkpoints) becomes the equivalent pair `weight_g = ‖weight‖`,
  `weight_v = weight`.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import torch

from depthrepro.nets.weight_norm import norm_except_first_dim

FILE = "depth_pose.pth"
SIZE_ENTRIES = ("height", "width")
DEPTH_BIN_ENTRIES = ("min_depth_bin", "max_depth_bin", "mean_depth_bin", "median_depth_bin")
CHECKPOINT_EXTRAS = (*SIZE_ENTRIES, *DEPTH_BIN_ENTRIES)
# Official decoder: `decoder.decoder` lists the modules of `decoder.convs` in insertion order.
DECODER_MODULES = ("up_x9_0", "up_x9_1", "72", "36", "18", "9",
                   "dispConvScale0", "dispConvScale1", "dispConvScale2", "dispConvScale3")


def with_extras(weights: Mapping[str, torch.Tensor], height: int, width: int,
                depth_bins: Mapping[str, float]) -> dict[str, Any]:
    """`depth_pose.pth` contents from the network's state dict, its resolution and trackers."""
    missing = [k for k in DEPTH_BIN_ENTRIES if k not in depth_bins]
    if missing:
        raise KeyError(f"{FILE}: depth-range trackers {missing} are missing")
    return {**weights, "height": int(height), "width": int(width),
            **{k: float(depth_bins[k]) for k in DEPTH_BIN_ENTRIES}}


def split_extras(contents: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensor entries, non-tensor entries); the latter must be known extras of the right type."""
    weights = {k: v for k, v in contents.items() if isinstance(v, torch.Tensor)}
    extras = {k: v for k, v in contents.items() if not isinstance(v, torch.Tensor)}
    unknown = sorted(set(extras) - set(CHECKPOINT_EXTRAS))
    if unknown:
        raise KeyError(f"{FILE}: unexpected non-tensor entries {unknown}; "
                       f"known are {list(CHECKPOINT_EXTRAS)}")
    for key in SIZE_ENTRIES:
        if key in extras and (not isinstance(extras[key], int) or isinstance(extras[key], bool)):
            raise TypeError(f"{FILE}: '{key}' must be an int, got {extras[key]!r}")
    for key in DEPTH_BIN_ENTRIES:
        if key in extras and not isinstance(extras[key], int | float):
            raise TypeError(f"{FILE}: '{key}' must be a number, got {extras[key]!r}")
    return weights, extras


def _alias(key: str) -> str | None:
    """The other name of a decoder tensor (`decoder.convs.72.x` <-> `decoder.decoder.2.x`)."""
    parts = key.split(".")
    if len(parts) < 4 or parts[0] != "decoder":
        return None
    if parts[1] == "convs" and parts[2] in DECODER_MODULES:
        return ".".join(["decoder", "decoder", str(DECODER_MODULES.index(parts[2])), *parts[3:]])
    if parts[1] == "decoder" and parts[2].isdigit() and int(parts[2]) < len(DECODER_MODULES):
        return ".".join(["decoder", "convs", DECODER_MODULES[int(parts[2])], *parts[3:]])
    return None


def reconcile_decoder_aliases(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Both names of every decoder tensor, from whichever the file holds; they must agree."""
    out = dict(weights)
    for key, value in weights.items():
        other = _alias(key)
        if other is None:
            continue
        if other in weights:
            if not torch.equal(weights[other], value):
                raise ValueError(f"{FILE}: '{key}' and its alias '{other}' hold different "
                                 f"values; the decoder registers one tensor under both names")
        else:
            out[other] = value
    return out


def weight_norm_pairs(weights: Mapping[str, torch.Tensor], expected: Collection[str]
                      ) -> dict[str, torch.Tensor]:
    """Plain `<layer>.weight` entries turned into `<layer>.weight_g`/`.weight_v` where the
    network expects that pair (same effective weight)."""
    out = dict(weights)
    for key, value in weights.items():
        layer = key.removesuffix(".weight")
        if (key.endswith(".weight") and key not in expected
                and f"{layer}.weight_g" in expected and f"{layer}.weight_v" in expected):
            del out[key]
            out[f"{layer}.weight_g"] = norm_except_first_dim(value)
            out[f"{layer}.weight_v"] = value
    return out


def released_to_state(contents: Mapping[str, Any], expected: Collection[str]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict for a network with the keys `expected`, non-tensor entries) from the loaded
    contents of `depth_pose.pth`. Missing or unexpected keys raise KeyError naming them (only
    BatchNorm `num_batches_tracked` counters may be absent)."""
    if not isinstance(contents, Mapping):
        raise TypeError(f"{FILE}: expected a dict, got {type(contents).__name__}")
    weights, extras = split_extras(contents)
    weights = weight_norm_pairs(reconcile_decoder_aliases(weights), expected)
    missing = [k for k in expected if k not in weights and not k.endswith("num_batches_tracked")]
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise KeyError(f"{FILE}: missing keys {missing}, unexpected keys {unexpected}")
    return weights, extras
