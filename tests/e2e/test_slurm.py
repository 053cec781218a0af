"""A slice of the DAG (synthesize → track_data → prepare_jpeg, export_gt) through workflow/profiles/slurm on a
real one-node SLURM cluster (slurm_cluster.sh), checking the outputs and that every job was an sbatch job.

Without Debian's slurm-wlm and munge, without root, or when the daemons do not come up, the test is skipped
with a reason starting "SLURM NOT TESTED".
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from tiny_world import EVALUATED_CONFIG, run_snakemake, tool_env

pytestmark = pytest.mark.e2e

CLUSTER = Path(__file__).with_name("slurm_cluster.sh")
PREP = "results/prepared/synthetic_kitti_tiny"
SLICE = [f"{PREP}/jpeg/manifest.json", f"{PREP}/gt/eigen.npz"]
# SLURM job comments the executor plugin writes, one per job of the slice
JOBS = {"rule_synthesize", "rule_track_data", "rule_prepare_jpeg", "rule_export_gt_wildcards_eigen"}
# No accounting daemon on the test cluster: job states come from squeue, which keeps finished jobs (MinJobAge).
CLUSTER_FLAGS = ["--slurm-status-command", "squeue", "--slurm-no-account",
                 "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs"]


def _not_testable() -> str | None:
    missing = [t for t in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "slurmd must be started as root"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[cluster]')"
    return None


def _skip(reason: str) -> None:
    reason = f"SLURM NOT TESTED: {reason}"
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for Snakemake, sbatch and squeue on a one-node cluster started for this module."""
    if reason := _not_testable():
        _skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(["bash", str(CLUSTER), "start", str(folder)], capture_output=True, text=True)
    if start.returncode != 0:
        _skip(f"the one-node cluster did not start (exit {start.returncode}): {start.stderr[-2000:]}")
    try:
        env = tool_env(SLURM_CONF=str(folder / "slurm.conf"))
        yield {**env, "PATH": f"{folder / 'bin'}{os.pathsep}{env['PATH']}"}
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(folder)], check=True)


def test_a_dag_slice_runs_as_slurm_jobs(tiny_project: Callable[[str, str], Path], slurm_env: dict[str, str]) -> None:
    work = tiny_project("slurm", EVALUATED_CONFIG)
    run = run_snakemake(work, *SLICE, "--profile", "workflow/profiles/slurm", *CLUSTER_FLAGS, env=slurm_env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-6000:]
    log = run.stdout + run.stderr

    # every job went through sbatch and SLURM ran it to completion in this copy of the project
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", log))
    assert len(submitted) == len(JOBS), log[-4000:]
    queue = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%Z"], env=slurm_env,
                           capture_output=True, text=True, check=True).stdout
    ours = [row.split("|") for row in queue.splitlines() if row.split("|")[0] in submitted]
    assert {job_id for job_id, *_ in ours} == submitted, queue
    assert {comment for _, _, comment, _ in ours} == JOBS, queue
    assert all(state == "COMPLETED" and Path(workdir) == work for _, state, _, workdir in ours), queue
    for job_id in submitted:
        assert list((work / ".snakemake/slurm_logs").rglob(f"{job_id}.log")), f"no SLURM log of job {job_id}"

    # the outputs are complete
    assert "path: data" in (work / "data.dvc").read_text()
    manifest = json.loads((work / SLICE[0]).read_text())
    assert manifest["files"] == len(list((work / PREP / "jpeg").rglob("*.jpg"))) > 0
    split = (work / "data/synthetic_tiny/kitti_raw/splits/eigen/test_files.txt").read_text().splitlines()
    with np.load(work / SLICE[1]) as gt:
        assert len(gt["entries"]) == len(split) > 0
    dry = run_snakemake(work, *SLICE, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
