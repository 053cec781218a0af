"""The fixtures contract shared by every network-equivalence test (see the fixtures README).

Cases are discovered from `DEPTHREPRO_FIXTURES` (default `../shared/fixtures`); weights come from the
fixtures' own generator, filled per official module; outputs are compared with the README's tolerance rule.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("DEPTHREPRO_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def case_params(folder: str) -> list[Any]:
    """One pytest param per `case_*.pt`, or one loudly skipped param if the folder has none."""
    cases = sorted((FIXTURES / folder).glob("case_*.pt"))
    if not cases:
        reason = (f"FIXTURES MISSING: no case_*.pt in {FIXTURES / folder} "
                  f"(set DEPTHREPRO_FIXTURES); {folder} equivalence NOT checked")
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id=f"{folder}-missing")]
    return [pytest.param(path, id=f"{folder}-{path.stem}") for path in cases]


def load_case(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


def manifest(folder: str) -> dict[str, Any]:
    return json.loads((FIXTURES / folder / "manifest.json").read_text())


def fill_state(state: Mapping[str, torch.Tensor], skip_keys: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """The generator's deterministic values for one official state dict."""
    sys.path.insert(0, str(FIXTURES))
    try:
        from weights import fill_state_dict
    finally:
        sys.path.remove(str(FIXTURES))
    return fill_state_dict(dict(state), skip_keys=tuple(skip_keys))


def fill(module: torch.nn.Module, skip_keys: Iterable[str] = ()) -> None:
    """Load the fixtures' deterministic weights into one official module (own key index), eval mode."""
    module.load_state_dict(fill_state(module.state_dict(), skip_keys))
    module.eval()


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    """The fixtures README's tolerance rule."""
    atol = max(1e-5 * expected.abs().max().item(), 1e-9)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=atol, msg=lambda m: f"{name}: {m}")


def assert_pose_matches(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    """4×4 matrices: the rule above, and the same rule on the offset from the identity (~100× stricter)."""
    assert_matches(actual, expected, name)
    eye = torch.eye(4, dtype=expected.dtype).expand_as(expected)
    assert_matches(actual - eye, expected - eye, f"{name} - I")


def assert_discrete_matches(actual: torch.Tensor, expected: torch.Tensor, name: str,
                            max_mismatch: float = 1e-3) -> None:
    """Discrete outputs (argmin, masks): the fraction of differing elements, not a tolerance."""
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    atol = max(1e-5 * expected.abs().max().item(), 1e-9)
    mismatch = 1 - torch.isclose(actual, expected, rtol=1e-4, atol=atol).float().mean().item()
    assert mismatch <= max_mismatch, f"{name}: {mismatch:.2%} of elements differ"


def assert_keys_match_manifest(module: torch.nn.Module, folder: str, name: str,
                               check_shapes: bool = True) -> None:
    """Same state-dict keys in the same order (and shapes, parameter count) as the official module."""
    spec = manifest(folder)["modules"][name]
    expected = spec["state_dict"]
    state = module.state_dict()
    assert list(state) == list(expected), f"{folder}/manifest.json modules.{name}: key mismatch"
    if check_shapes:
        for key, entry in expected.items():
            assert list(state[key].shape) == entry["shape"], f"{folder} {name}.{key}: shape"
        assert sum(p.numel() for p in module.parameters()) == spec["num_params"], f"{name}: num_params"
