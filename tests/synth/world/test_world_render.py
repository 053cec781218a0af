"""The whole world: one call renders every format, bit-identically for a seed whatever the worker count."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from depthrepro.synth.world import FORMATS


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_in_every_format(tiny_world: Path, tiny_world_parallel: Path) -> None:
    first, second = _hashes(tiny_world), _hashes(tiny_world_parallel)
    assert first.keys() == second.keys()
    for name in FORMATS:
        files = [key for key in first if key.startswith(f"{name}/")]
        differing = [key for key in files if first[key] != second[key]]
        print(f"\n{name}: {len(files)} files compared, {len(differing)} differ")
        assert len(files) > 20
        assert not differing, f"{name}: files differ between renders: {differing[:5]}"
    assert first["manifest.json"] == second["manifest.json"]


def test_manifest_and_figure_sheets(tiny_world: Path) -> None:
    manifest = json.loads((tiny_world / "manifest.json").read_text())
    assert manifest["preset"] == "tiny" and manifest["seed"] == 0
    assert sorted(manifest["formats"]) == sorted(FORMATS)
    for name, summary in manifest["formats"].items():
        assert summary["folder"] == name
        assert (tiny_world / name / "manifest.json").is_file()
        assert (tiny_world / name / "figure_sheet.png").stat().st_size > 10_000
    assert str(tiny_world) not in (tiny_world / "manifest.json").read_text()
