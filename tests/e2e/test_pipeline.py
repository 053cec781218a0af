"""The whole DAG on the tiny synthetic world, in a temporary copy of the repository.

Checks the table's contents, that a finished run leaves nothing to do, and that a code edit reruns
exactly the jobs whose code changed (Snakemake's own code trigger does not see imported modules).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_world import all_tables, copy_project, run_snakemake, tool_env

pytestmark = pytest.mark.e2e

TINY_CONFIG = """\
dataset: synthetic_kitti_tiny
profile: smoke
methods: [monodepth2, manydepth]
seeds: [0]
tables: [dualrefine_kitti, dualrefine_main, gasmono_nyu, epcdepth_readme_models, epcdepth_readme_disps,
         epcdepth_kitti, epcdepth_nyu, dymultidepth_kitti, featdepth_kitti, featdepth_vo]
"""


def _planned_rules(dry_run_output: str) -> set[str]:
    return set(re.findall(r"^rule (\w+):", dry_run_output, flags=re.MULTILINE))


def _planned_jobs(dry_run_output: str) -> set[str]:
    """`rule` or `rule[wildcards]` for every job a dry run plans."""
    jobs, rule = set(), None
    for line in dry_run_output.splitlines():
        if m := re.match(r"^rule (\w+):", line):
            rule = m.group(1)
            jobs.add(rule)
        elif rule and (m := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs.discard(rule)
            jobs.add(f"{rule}[{m.group(1)}]")
            rule = None
    return jobs


def _dry_run_after_edit(workdir: Path, rel: str, edit) -> set[str]:
    """Jobs planned after `edit(text) -> text` is applied to `workdir/rel` (restored afterwards)."""
    path = workdir / rel
    original = path.read_text()
    try:
        path.write_text(edit(original))
        dry = run_snakemake(workdir, "all_tables", "-n")
        assert dry.returncode == 0, dry.stderr[-3000:]
        return _planned_jobs(dry.stdout)
    finally:
        path.write_text(original)


@pytest.fixture(scope="module")
def finished_run(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_project(repo_root, tmp_path_factory.mktemp("pipeline"), TINY_CONFIG)
    all_tables(work)
    return work


def test_table_has_reported_and_reproduced_rows_with_provenance(finished_run: Path) -> None:
    # best/second-best marks (bold, underline) are recomputed per block; compare the numbers themselves
    table = re.sub(r"\*\*|</?u>", "", (finished_run / "results/tables/dualrefine_kitti.md").read_text())
    assert "| Monodepth2 | 192x640 | Reported | 0.115 | 0.903 | 4.863 | 0.193 | 0.877 | 0.958 | 0.980 |" in table
    reproduced = re.search(r"^\| Monodepth2 \| 96x320 \| Reproduced \(smoke, synthetic_kitti_tiny\) \|(.*)$",
                           table, flags=re.MULTILINE)
    assert reproduced, table
    values = [float(v) for v in re.findall(r"\d+\.\d+", reproduced.group(1))]
    assert len(values) == 7 and 0 < values[0] < 1  # abs_rel of a real evaluation
    assert re.search(r"^\| Manydepth \| 96x320 \| Reproduced \(smoke, synthetic_kitti_tiny\) \| \d\.\d{3} \|", table,
                     flags=re.MULTILINE), table
    assert "not reproduced: dualrefine is not in this run's methods (manydepth, monodepth2)" in table
    assert "Not comparable to the paper" in table
    assert "Protocol `kitti_eigen`" in table and "Garg" in table
    assert re.search(r"data\.dvc` md5 `[0-9a-f]{32}\.dir`", table)
    assert re.search(r"MLflow runs: train `[0-9a-f]{32}`, score `[0-9a-f]{32}`", table)
    assert "untrained (init.pt)" in table and "trained (final.pt)" in table


def test_every_configured_table_renders_in_three_formats(finished_run: Path) -> None:
    tables = sorted(p.stem for p in (finished_run / "results/tables").glob("*.md"))
    assert len(tables) == 10, tables
    for name in tables:
        for ext in ("tex", "html"):
            assert (finished_run / "results/tables" / f"{name}.{ext}").stat().st_size > 0
    featdepth = (finished_run / "results/tables/featdepth_kitti.md").read_text()
    assert "Reproduced (smoke, synthetic_kitti_tiny, 96x320)" in featdepth  # its Monodepth2 M row too


def test_data_is_tracked_by_dvc_without_git(finished_run: Path) -> None:
    assert not (finished_run / ".git").exists()
    assert "no_scm = true" in (finished_run / ".dvc" / "config.local").read_text().lower()
    assert "path: data" in (finished_run / "data.dvc").read_text()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "data.dvc"], cwd=finished_run, env=env,
                            capture_output=True, text=True)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr


def test_finished_run_leaves_nothing_to_do(finished_run: Path) -> None:
    dry = run_snakemake(finished_run, "all_tables", "-n")
    assert dry.returncode == 0, dry.stderr
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_code_edits_rerun_exactly_the_affected_jobs(finished_run: Path) -> None:
    metrics = finished_run / "src/depthrepro/evaluate/metrics.py"
    original = metrics.read_text()
    try:
        metrics.write_text(original + "\n# a comment changes no code\n")
        assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(run_snakemake(finished_run, "all_tables", "-n"))
        metrics.write_text(original + "\n\ndef _edited_helper() -> int:\n    return 1\n")
        dry = run_snakemake(finished_run, "all_tables", "-n")
        assert dry.returncode == 0, dry.stderr
        rules = _planned_rules(dry.stdout)
        assert {"score", "table"} <= rules, dry.stdout
        assert not rules & {"train", "predict", "synthesize", "prepare_jpeg"}, dry.stdout
    finally:
        metrics.write_text(original)


def test_a_network_edit_reruns_only_that_method(finished_run: Path) -> None:
    jobs = _dry_run_after_edit(finished_run, "src/depthrepro/nets/resnet_matching.py",
                               lambda t: t + "\n\ndef _edited() -> int:\n    return 1\n")
    trained = {j for j in jobs if j.startswith("train[")}
    assert trained == {"train[profile=smoke, method=manydepth, seed=0]"}, jobs
    assert not any("monodepth2" in j for j in jobs), jobs
    assert {"synthesize", "prepare_jpeg", "export_gt"}.isdisjoint(jobs), jobs


def test_a_params_edit_reruns_only_the_jobs_reading_it(finished_run: Path) -> None:
    jobs = _dry_run_after_edit(finished_run, "params/methods/manydepth.yaml",
                               lambda t: t.replace("disparity_smoothness: 0.001", "disparity_smoothness: 0.002"))
    assert {j for j in jobs if j.startswith("train[")} == {"train[profile=smoke, method=manydepth, seed=0]"}, jobs
    protocols = _dry_run_after_edit(finished_run, "params/protocols.yaml",
                                    lambda t: t.replace("max_depth: 80.0", "max_depth: 79.0", 1))
    assert any(j.startswith("score[") for j in protocols) and not any(
        j.startswith(("train[", "predict[")) for j in protocols), protocols


def test_a_jpeg_edit_reruns_everything_downstream_of_it(finished_run: Path) -> None:
    jobs = _dry_run_after_edit(finished_run, "src/depthrepro/prepare/jpeg.py",
                               lambda t: t + "\n\ndef _edited() -> int:\n    return 1\n")
    assert "prepare_jpeg" in jobs and "synthesize" not in jobs and "export_gt" not in jobs, jobs
    assert {"train[profile=smoke, method=manydepth, seed=0]",
            "train[profile=smoke, method=monodepth2, seed=0]"} <= jobs, jobs


def test_slurm_profile_plans_the_same_dag(repo_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="SLURM executor plugin NOT installed")
    work = copy_project(repo_root, tmp_path, TINY_CONFIG)
    dry = subprocess.run([sys.executable, "-m", "snakemake", "all_tables", "-n", "--profile",
                          "workflow/profiles/slurm", "--configfile", "tiny.yaml"], cwd=work, capture_output=True,
                         text=True)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert re.search(r"^train\s+2$", dry.stdout, flags=re.MULTILINE), dry.stdout[-3000:]  # both methods


def test_audit_prints_the_chain_and_flags_a_hand_edited_checkpoint(finished_run: Path) -> None:
    """Runs last on the finished run: it edits a checkpoint (and restores its bytes afterwards)."""
    metrics = next((finished_run / "results/metrics").rglob("final/kitti_eigen.json"))
    audit = lambda: subprocess.run(["depthrepro", "audit", str(metrics.relative_to(finished_run))],  # noqa: E731
                                   cwd=finished_run, capture_output=True, text=True,
                                   env=tool_env())
    clean = audit()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for link in ("predictions", "ground truth", "checkpoint", "training run", "prepared images", "raw data"):
        assert f"[ok] {link}:" in clean.stdout
    assert re.search(r'code\.digest: "[0-9a-f]{16}"', clean.stdout), clean.stdout
    cell = subprocess.run(["depthrepro", "audit", "--table", "dualrefine_kitti", "--method", "monodepth2",
                           "--column", "abs_rel"], cwd=finished_run, capture_output=True, text=True,
                          env=tool_env())
    assert cell.returncode == 0, cell.stdout + cell.stderr
    assert re.search(r"dualrefine_kitti / monodepth2 / abs_rel: 0\.\d{6} from results/metrics/", cell.stdout)
    assert "[ok] checkpoint:" in cell.stdout
    checkpoint = finished_run / json.loads(metrics.read_text())["provenance"]["checkpoint"]
    original = checkpoint.read_bytes()
    try:
        checkpoint.write_bytes(original + b"\0")
        edited = audit()
        assert edited.returncode == 1 and "[MISMATCH] checkpoint:" in edited.stdout, edited.stdout
    finally:
        checkpoint.write_bytes(original)

