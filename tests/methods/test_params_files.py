"""Every params file under params/methods: its method is registered, and every profile builds the method
(model keys validated by the method's config) and a valid optimisation schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from depthrepro.methods.registry import available_methods, build_method
from depthrepro.train.optim import Schedule

PARAMS = Path(__file__).resolve().parents[2] / "params" / "methods"
CASES = [(path.stem, profile) for path in sorted(PARAMS.glob("*.yaml"))
         for profile in yaml.safe_load(path.read_text())["profiles"]]


@pytest.mark.parametrize(("name", "profile"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_profile_builds_its_method_and_schedule(name: str, profile: str) -> None:
    params = yaml.safe_load((PARAMS / f"{name}.yaml").read_text())
    assert params["method"] in available_methods(), f"{name}.yaml: method {params['method']!r} not registered"
    prof = params["profiles"][profile]
    Schedule.from_profile(prof, f"{name}.yaml:profiles.{profile}")
    cfg = {**params["model"], **prof.get("model", {}), "height": prof["height"], "width": prof["width"]}
    try:
        with torch.device("meta"):  # the constructors validate the config; no weights are materialised
            build_method(params["method"], cfg)
    except RuntimeError as error:  # a constructor that reads tensor values (e.g. a drop-path schedule)
        if "meta" not in str(error):
            raise
        build_method(params["method"], cfg)
    for dependency in params.get("depends_on", {}).values():
        assert (PARAMS / f"{dependency}.yaml").is_file(), f"{name}.yaml: depends_on {dependency!r} has no params file"


def test_stereo_variants_evaluate_at_the_stereo_scale() -> None:
    for name in ("monodepth2_s", "monodepth2_ms", "epcdepth", "featdepth"):
        assert yaml.safe_load((PARAMS / f"{name}.yaml").read_text())["trained_with_stereo"] is True, name
