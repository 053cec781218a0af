"""Shared by the methods: configs from plain dicts (params files) and strict loading of checkpoint files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from torch import nn

from depthrepro.geometry.stereo import STANDARD_STEREO_BASELINE

ConfigT = TypeVar("ConfigT")
TUPLE_KEYS = ("frame_ids", "scales")


def config_from_dict(cls: type[ConfigT], cfg: Mapping[str, Any], method: str) -> ConfigT:
    """`cls(**cfg)` after checking the keys; `cls.validate()` raises ValueError naming a bad key."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise KeyError(f"{method} config: unknown keys {unknown}; expected a subset of {sorted(known)}")
    values = {k: tuple(v) if k in TUPLE_KEYS else v for k, v in cfg.items()}
    config = cls(**values)
    config.validate()
    return config


def load_module_state(module: nn.Module, state: Mapping[str, Any], file: str) -> None:
    """Strict `load_state_dict`, except that missing BatchNorm `num_batches_tracked` counters
    (absent from checkpoints of older PyTorch) keep their current values."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise KeyError(f"{file}.pth: missing keys {missing}, unexpected keys {unexpected}")
    module.load_state_dict({**own, **state})


def stereo_training_baseline(config: object) -> float:
    """The stereo baseline a method's depths are in units of: its config's `stereo_baseline` where the
    method sets its own (FeatDepth: 0.015), else the data pipeline's standard 0.1."""
    return float(getattr(config, "stereo_baseline", STANDARD_STEREO_BASELINE))
