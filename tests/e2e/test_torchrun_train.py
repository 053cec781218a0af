"""Multi-GPU training: a profile's `gpus: N` makes the train rule launch `torchrun` with N processes, and
`depthrepro train` runs under `torchrun` (DDP on gloo here, on CPU) with rank 0 alone writing files.

Without a `torchrun` executable the real run is skipped with a reason starting "TORCHRUN NOT TESTED".
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tiny_world import run_snakemake, tool_env

from depthrepro.synth.kitti_raw import render_kitti_raw

pytestmark = pytest.mark.e2e

TWO_METHODS = """\
dataset: synthetic_kitti_tiny
profile: smoke
methods: [monodepth2, manydepth]
seeds: [0]
tables: [dualrefine_kitti]
"""

# Runs `depthrepro train` and records, per rank, every file the verb and the trainer write.
RANK_SPY = r"""
import os, sys
from pathlib import Path
import depthrepro.io.atomic as atomic
import depthrepro.train.trainer as trainer
import depthrepro.verbs.train as verb
from depthrepro.cli import main

log = Path(sys.argv.pop(1)) / f"writes-rank{os.environ['RANK']}.txt"
def spy(write, path_at):
    def wrapper(*args):
        with open(log, "a") as f:
            f.write(Path(args[path_at]).name + "\n")
        return write(*args)
    return wrapper
trainer.save_atomic = verb.save_atomic = spy(trainer.save_atomic, 1)
verb.atomic_write_json = spy(atomic.atomic_write_json, 0)
sys.exit(main(sys.argv[1:]))
"""


def _set_gpus(work: Path, method: str, gpus: object) -> None:
    """Give `method`'s smoke profile `gpus: <gpus>` in a project copy."""
    path = work / "params/methods" / f"{method}.yaml"
    text, count = re.subn(r"^(  smoke:.*\n)", rf"\g<1>    gpus: {gpus}\n", path.read_text(), flags=re.MULTILINE)
    assert count == 1, path
    path.write_text(text)


def _train_shell_commands(dry_run_output: str) -> dict[str, str]:
    """method → the shell command a dry run with -p prints for its train job."""
    commands = {}
    for block in dry_run_output.split("\nrule ")[1:]:
        method = re.search(r"wildcards: (?:profile=\w+, )?method=(\w+)", block)
        shell = re.search(r"^(?:Shell command: )?(.*--method .*)$", block, flags=re.MULTILINE)
        if block.startswith("train:") and method and shell:
            commands[method.group(1)] = shell.group(1).strip()
    return commands


def test_the_rule_launches_torchrun_for_a_multi_gpu_profile(tiny_project: Callable[[str, str], Path]) -> None:
    work = tiny_project("torchrun_rule", TWO_METHODS)
    _set_gpus(work, "monodepth2", 2)
    dry = run_snakemake(work, "all_tables", "-n", "-p", "--cores", "2", "--resources", "gpu=1")
    assert dry.returncode == 0, dry.stderr[-3000:]
    commands = _train_shell_commands(dry.stdout)
    assert commands["monodepth2"].startswith(
        "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0,1} torchrun --standalone --nproc_per_node 2 "
        "-m depthrepro.cli train --method monodepth2 "), commands
    assert commands["manydepth"].startswith("depthrepro train --method manydepth "), commands
    # a job asking for more GPUs than --resources allows is capped to the limit: it runs alone
    train_block = next(b for b in dry.stdout.split("\nrule ") if b.startswith("train:") and "method=monodepth2" in b)
    assert re.search(r"resources: .*\bgpu=1\b", train_block), train_block


def test_a_bad_gpus_value_fails_naming_the_file(tiny_project: Callable[[str, str], Path]) -> None:
    work = tiny_project("torchrun_bad", TWO_METHODS)
    _set_gpus(work, "manydepth", 0)
    dry = run_snakemake(work, "all_tables", "-n")
    assert dry.returncode != 0
    message = "params/methods/manydepth.yaml: profiles.smoke.gpus must be a positive integer, got 0"
    assert message in dry.stdout + dry.stderr, dry.stdout[-3000:] + dry.stderr[-3000:]


@pytest.fixture(scope="module")
def torchrun() -> str:
    found = shutil.which("torchrun", path=tool_env()["PATH"])
    if found is None:
        reason = "TORCHRUN NOT TESTED: no torchrun executable on PATH (it comes with torch)"
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)
    return found


def test_torchrun_trains_with_two_gloo_processes_and_rank_0_writes(repo_root: Path, tmp_path: Path,
                                                                   torchrun: str) -> None:
    world = tmp_path / "world"
    render_kitti_raw(world, preset="tiny", seed=0, workers=1)
    params = tmp_path / "params"
    (params / "methods").mkdir(parents=True)
    shutil.copy(repo_root / "params/datasets.yaml", params / "datasets.yaml")
    method = yaml.safe_load((repo_root / "params/methods/monodepth2.yaml").read_text())
    method["data"]["image_ext"] = "png"  # the rendered tree, not the prepared JPEGs
    method["profiles"] = {"ddp": {"gpus": 2, "height": 64, "width": 192, "batch_size": 1, "num_epochs": 2,
                                  "learning_rate": 1e-4, "lr_schedule": {"policy": "step", "step_size": 5},
                                  "weights_init": "scratch", "num_workers": 0, "deterministic": True}}
    (params / "methods/monodepth2.yaml").write_text(yaml.safe_dump(method))
    (tmp_path / "data.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n")
    (tmp_path / "spy.py").write_text(RANK_SPY)
    out = tmp_path / "ckpt"
    samples = len((world / "splits/eigen_zhou/train_files.txt").read_text().splitlines())
    assert samples >= 2

    run = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", str(tmp_path / "spy.py"), str(tmp_path), "train",
         "--method", "monodepth2", "--dataset", "synthetic_kitti_tiny", "--profile", "ddp", "--seed", "0",
         "--images", str(world), "--split-file", str(world / "splits/eigen_zhou/train_files.txt"),
         "--out", str(out), "--threads", "2", "--params-dir", str(params), "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path, env=tool_env(PYTHONPATH=str(repo_root / "src")), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]

    record = json.loads((out / "train.json").read_text())
    assert record["world_size"] == "2" and record["torch.threads"] == "1"  # --threads 2 shared by 2 processes
    assert record["steps"] == 2 * (samples // 2)  # 2 epochs; each process trains its half, a sample per step
    assert sorted(p.name for p in out.iterdir()) == ["epochs", "final.pt", "init.pt", "train.json", "work"]
    writes = {rank: (tmp_path / f"writes-rank{rank}.txt") for rank in (0, 1)}
    assert writes[0].read_text().split() == ["init.pt", "resume.pt", "resume.pt", "final.pt", "train.json"]
    assert not writes[1].exists()
    with sqlite3.connect(tmp_path / "results/mlflow.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 1  # rank 0 alone tracks the run
