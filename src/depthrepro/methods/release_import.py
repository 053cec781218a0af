"""Load an authors' released checkpoint into its method and store it as a depthrepro checkpoint.

The result has the layout `depthrepro train` writes (`method`, `model_cfg`, `data`, `state`, ...) with
`stage: "official"` and the release's name, so the predict and score steps treat it like any checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depthrepro.io.released import read_release
from depthrepro.methods.params_file import load_method_params, model_config
from depthrepro.methods.registry import build_method
from depthrepro.prepare.releases import Release


def import_release(release: Release, params_dir: Path, repo: Path = Path(".")) -> dict[str, Any]:
    """The checkpoint dict of `release`: its files loaded, with strict keys, into the params file's model."""
    params, profile = load_method_params(params_dir, release.params, release.profile)
    cfg = {**model_config(params, profile), **release.model}
    registered = params.get("method", release.params)
    method = build_method(registered, cfg)
    root = repo / release.root
    try:
        method.load_checkpoint_state(read_release(root, release.file), **release.load)
    except (KeyError, ValueError, RuntimeError) as error:
        raise SystemExit(f"{root}: release {release.name!r} does not load into {registered} "
                         f"({release.params}.yaml, profile {release.profile}): {error}") from None
    return {"method": registered, "params_name": release.params, "model_cfg": cfg, "seed": None,
            "trained_with_stereo": bool(params["trained_with_stereo"]), "data": params["data"],
            "weights_init": f"official release {release.archive.name}", "stage": "official",
            "release": release.name, "state": method.checkpoint_state()}
