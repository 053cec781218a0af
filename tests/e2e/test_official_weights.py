"""Official weights through the DAG: a downloaded release is imported, predicted, scored and shown.

The release here is a monodepth2 model folder in the authors' layout (`encoder.pth` with its size entries,
`depth.pth`, `pose_encoder.pth`, `pose.pth`) written from a freshly initialised network: what matters is
that the pipeline finds it where the catalogue unpacks it, loads it with strict keys into the model of its
params file and profile, and fills the *Official weights* line of its paper row with provenance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from tiny_world import all_tables, copy_run, run_snakemake

from depthrepro.methods.params_file import load_method_params, model_config
from depthrepro.methods.registry import build_method

pytestmark = pytest.mark.e2e

RELEASE_DIR = "resources/checkpoints/monodepth2/mono_640x192"
METRICS = "results/metrics/synthetic_kitti_tiny/official/monodepth2_mono_640x192/kitti_eigen.json"


def _write_release(work: Path) -> None:
    params, profile = load_method_params(work / "params", "monodepth2", "paper")
    torch.manual_seed(0)
    state = build_method("monodepth2", model_config(params, profile)).checkpoint_state()
    folder = work / RELEASE_DIR / "mono_640x192"   # the zip's own top folder, as some archives have
    folder.mkdir(parents=True)
    for name, entries in state.items():
        torch.save(entries, folder / f"{name}.pth")


def test_downloaded_release_fills_its_official_row(evaluated_tiny_run: Path, tmp_path: Path) -> None:
    work = copy_run(evaluated_tiny_run, tmp_path / "official")
    before = (work / "results/tables/dualrefine_kitti.md").read_text()
    assert "checkpoint not downloaded: `depthrepro download --name monodepth2_mono_640x192 --unpack`" in before

    _write_release(work)
    run = all_tables(work)

    record = json.loads((work / METRICS).read_text())
    assert record["provenance"]["weights"] == "official"
    assert record["provenance"]["release"] == "monodepth2_mono_640x192"
    files = record["provenance"]["train"]["files"]
    assert sorted(Path(p).name for p in files) == ["depth.pth", "encoder.pth", "pose.pth", "pose_encoder.pth"]
    assert record["provenance"]["train"]["model_cfg"]["height"] == 192
    table = (work / "results/tables/dualrefine_kitti.md").read_text()
    line = next(line for line in table.splitlines() if "Official weights (`monodepth2_mono_640x192`" in line)
    assert re.search(r"\| \d\.\d{3} \|", line), line
    assert f"{record['mean']['abs_rel']:.3f}" in line
    assert "Δ Official − Reported" in table
    # the trained reproduction is untouched: only the official evaluation and what reads it ran
    assert "rule train" not in run.stderr and "rule import_release" in run.stderr


def test_release_that_does_not_load_fails_naming_the_file(evaluated_tiny_run: Path, tmp_path: Path) -> None:
    work = copy_run(evaluated_tiny_run, tmp_path / "broken")
    _write_release(work)
    encoder = next((work / RELEASE_DIR).rglob("encoder.pth"))
    entries = torch.load(encoder)
    entries.pop("encoder.conv1.weight")
    torch.save(entries, encoder)
    run = run_snakemake(work, METRICS, "--cores", "1")
    assert run.returncode != 0
    log = (work / "results/logs/import_release/monodepth2_mono_640x192.log").read_text()
    assert "mono_640x192" in log and "encoder.conv1.weight" in log, log
