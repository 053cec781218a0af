"""A method's params file (`params/methods/<name>.yaml`) and the model config one of its profiles gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load_method_params(params_dir: Path, name: str, profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the params file, its `profile` entry), with errors naming the file and key."""
    path = Path(params_dir) / "methods" / f"{name}.yaml"
    if not path.is_file():
        raise SystemExit(f"{path}: no params file for method {name!r}")
    params = yaml.safe_load(path.read_text())
    if profile not in params.get("profiles", {}):
        raise SystemExit(f"{path}: no profile {profile!r} under profiles")
    return params, params["profiles"][profile]


def model_config(params: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """The constructor config: the file's `model`, the profile's `model` overrides, its height and width."""
    return {**params["model"], **profile.get("model", {}), "height": profile["height"], "width": profile["width"]}

