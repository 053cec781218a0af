"""The real-data profile files build their DAGs: every configured method defines the profile, and
paper_hr's Monodepth2 runs continue the `paper` runs' kept epoch 10."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tiny_world import copy_project, run_snakemake

pytestmark = pytest.mark.e2e

PROFILES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "params/profiles").glob("*.yaml"))


@pytest.fixture(scope="module")
def project(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(repo_root, tmp_path_factory.mktemp("profiles"), "")


def _dry_run(project: Path, profile: str) -> str:
    (project / "tiny.yaml").write_text((project / "params/profiles" / profile).read_text())
    dry = run_snakemake(project, "all_tables", "-n", "-p")
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-3000:]
    return dry.stdout


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_file_builds_its_dag(project: Path, profile: str) -> None:
    assert "rule all_tables:" in _dry_run(project, profile)


def test_hr_monodepth2_warm_starts_from_the_paper_run(project: Path) -> None:
    out = _dry_run(project, "paper_hr.yaml")
    for method in ("monodepth2", "monodepth2_s", "monodepth2_ms"):
        source = f"results/checkpoints/kitti/paper/{method}/seed0"
        assert re.search(rf"--method {method} --dataset kitti --profile paper --seed 0 .*--out {source} ", out)
        assert re.search(rf"--method {method} --dataset kitti --profile paper_hr --seed 0 .*"
                         rf"--warm-start {source}/epochs/epoch10\.pt ", out)
    # only the warm starts' sources train under `paper`
    assert set(re.findall(r"--method (\w+) --dataset kitti --profile paper --seed", out)) == {
        "monodepth2", "monodepth2_s", "monodepth2_ms"}
