"""A depthrepro checkpoint file (written by `depthrepro train` or `depthrepro import-release`) with its method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from depthrepro.methods.registry import build_method


def load_trained(path: Path) -> tuple[dict[str, Any], nn.Module]:
    """The checkpoint's contents and its method built from `model_cfg`, weights loaded, on CPU."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    method = build_method(checkpoint["method"], checkpoint["model_cfg"])
    method.load_checkpoint_state(checkpoint["state"])
    return checkpoint, method
