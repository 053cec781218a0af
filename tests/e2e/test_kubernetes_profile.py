"""workflow/profiles/kubernetes: every key is an option of Snakemake or its plugins, and a dry run through the
profile plans the DAG with GPU requests on the train and predict jobs only.

A dry run plans with Snakemake's dry-run executor, so no cluster is contacted and no kubeconfig is read (the
test points KUBECONFIG and HOME at empty places to show it). It does ask the default storage which files
exist: the S3 plugin's object lookups are replaced by the project copy's own files, as if the bucket held a
copy of the working tree. The Kubernetes Job the plugin would submit for a planned job is built by the
plugin's own `run_job` with the Kubernetes API call captured instead of sent.

Without snakemake-executor-plugin-kubernetes or snakemake-storage-plugin-s3 the tests are skipped with a
reason starting "KUBERNETES NOT TESTED".
"""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from tiny_world import tool_env

pytestmark = pytest.mark.e2e

PROFILE = "workflow/profiles/kubernetes"
PREFIX = "depthrepro-test/run"
CONFIG = """\
dataset: synthetic_kitti_tiny
profile: smoke
methods: [monodepth2]
seeds: [0]
tables: [dualrefine_kitti]
"""

# Snakemake's CLI with the S3 plugin's lookups answered from the working directory: the key under PREFIX is
# the project-relative path.
LOCAL_BUCKET_CLI = r"""
import sys
from pathlib import Path
import snakemake_storage_plugin_s3 as s3
prefix = sys.argv.pop(1) + "/"

def local(obj):
    key = f"{obj.bucket}/{obj.key}"
    if not key.startswith(prefix):
        raise ValueError(f"{key} is outside the default storage prefix {prefix}")
    return Path(key[len(prefix):])

async def no_inventory(self, cache):
    return None

s3.StorageObject.inventory = no_inventory
s3.StorageObject.exists = lambda self: local(self).exists()
s3.StorageObject.mtime = lambda self: local(self).stat().st_mtime
s3.StorageObject.size = lambda self: local(self).stat().st_size
s3.StorageObject.is_dir = lambda self: local(self).is_dir()
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module", autouse=True)
def plugins() -> None:
    missing = [name for name in ("snakemake_executor_plugin_kubernetes", "snakemake_storage_plugin_s3")
               if importlib.util.find_spec(name) is None]
    if missing:
        reason = (f"KUBERNETES NOT TESTED: {', '.join(missing)} not installed "
                  "(pip install snakemake-executor-plugin-kubernetes snakemake-storage-plugin-s3)")
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)


def _profile(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / PROFILE / "config.yaml").read_text())


def _resource_names(profile: dict) -> set[str]:
    entries = [*profile.get("default-resources", []), *profile.get("set-resources", [])]
    return {entry.split("=")[0].split(":")[-1] for entry in entries}


def test_every_key_is_an_option_and_every_resource_is_read_by_the_plugin(repo_root: Path) -> None:
    from snakemake.cli import get_argument_parser

    import snakemake_executor_plugin_kubernetes as plugin

    options = {s[2:] for action in get_argument_parser()._actions for s in action.option_strings if s[:2] == "--"}
    profile = _profile(repo_root)
    assert profile["executor"] == "kubernetes"
    assert not set(profile) - options, sorted(set(profile) - options)
    # the plugin turns these job resources into the pod's requests, node selector and tolerations
    source = Path(plugin.__file__).read_text()
    read = set(re.findall(r'resources_dict(?:\.get\(|\[)\s*"(\w+)"', source))
    read |= set(re.findall(r'"(\w+)" in resources_dict', source))
    assert _resource_names(profile) <= read, sorted(_resource_names(profile) - read)
    smk = "".join(path.read_text() for path in (repo_root / "workflow/rules").glob("*.smk"))
    rules = set(re.findall(r"^rule (\w+):", smk, flags=re.MULTILINE))
    named = {entry.split(":")[0] for entry in profile["set-resources"]} | {
        entry.split("=")[0] for entry in profile["set-threads"]}
    assert named <= rules, sorted(named - rules)


def _jobs(dry_run_output: str) -> list[dict]:
    """Each planned job: rule, resources (name → value) and shell command."""
    jobs = []
    for block in dry_run_output.split("\nrule ")[1:]:
        resources = re.search(r"^\s+resources: (.*)$", block, flags=re.MULTILINE)
        shell = re.search(r"^Shell command: (.*)$", block, flags=re.MULTILINE)
        pairs = [item.split("=", 1) for item in resources.group(1).split(", ")] if resources else []
        jobs.append({"rule": block.split(":", 1)[0],
                     "resources": {k: int(v) if v.isdigit() else v for k, v in pairs},
                     "shell": shell.group(1) if shell else ""})
    return jobs


def _pod(resources: dict) -> SimpleNamespace:
    """The container resources and pod tolerations of the Kubernetes Job the plugin builds for a job."""
    import snakemake_executor_plugin_kubernetes as plugin

    submitted = []
    executor = object.__new__(plugin.Executor)  # no cluster: only the Job-building attributes are set
    executor.__dict__.update(
        container_image="registry.test/depthrepro:test", persistent_volumes=[], k8s_cpu_scalar=0.95,
        k8s_service_account_name=None, privileged=False, namespace="default", run_namespace="test",
        secret_envvars={}, lock=threading.Lock(), logger=logging.getLogger("kubernetes-profile-test"),
        workflow=SimpleNamespace(deployment_settings=SimpleNamespace(deployment_method=set())),
        batchapi=SimpleNamespace(create_namespaced_job=lambda namespace, body: submitted.append(body)),
        format_job_exec=lambda job: "true", report_job_submission=lambda info: None)
    executor.run_job(SimpleNamespace(resources=resources, jobid=1, attempt=1, is_containerized=False))
    pod = submitted[0].spec.template.spec
    return SimpleNamespace(requests=pod.containers[0].resources.requests, tolerations=pod.tolerations or [])


def test_a_dry_run_through_the_profile_requests_gpus_for_train_and_predict(
        tiny_project: Callable[[str, str], Path], tmp_path: Path) -> None:
    work = tiny_project("kubernetes", CONFIG)
    params = work / "params/methods/monodepth2.yaml"
    text, count = re.subn(r"^(  smoke:.*\n)", r"\g<1>    gpus: 2\n", params.read_text(), flags=re.MULTILINE)
    assert count == 1
    params.write_text(text)
    (work / "local_bucket_cli.py").write_text(LOCAL_BUCKET_CLI)
    env = tool_env(DEPTHREPRO_IMAGE="registry.test/depthrepro:test", DEPTHREPRO_S3_PREFIX=f"s3://{PREFIX}",
                   KUBECONFIG=str(tmp_path / "no-kubeconfig"), HOME=str(tmp_path))
    dry = subprocess.run([sys.executable, "local_bucket_cli.py", PREFIX, "all_tables", "-n", "--profile", PROFILE,
                          "--configfile", "tiny.yaml"], cwd=work, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    jobs = _jobs(dry.stdout)
    by_rule: dict[str, list[dict]] = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    assert {"train", "predict", "score", "table"} <= set(by_rule), sorted(by_rule)
    assert f"s3://{PREFIX}/data.dvc" in dry.stdout  # inputs and outputs go through the bucket

    (train,) = by_rule["train"]
    assert train["resources"]["gpu"] == 2, train
    assert "torchrun --standalone --nproc_per_node 2 -m depthrepro.cli train" in train["shell"], train["shell"]
    assert all(job["resources"]["gpu"] == 1 for job in by_rule["predict"]), by_rule["predict"]
    assert not [job for rule in ("score", "table") for job in by_rule[rule] if "gpu" in job["resources"]]
    # the plugin refuses to submit a GPU job without a manufacturer
    assert all(job["resources"].get("gpu_manufacturer") == "nvidia" for job in jobs if "gpu" in job["resources"])

    pod = _pod(train["resources"])
    assert pod.requests["nvidia.com/gpu"] == "2" and pod.requests["memory"] == "32000M", pod.requests
    assert [t.key for t in pod.tolerations] == ["nvidia.com/gpu"]
    cpu_job = _pod(by_rule["score"][0]["resources"])
    assert "nvidia.com/gpu" not in cpu_job.requests and cpu_job.tolerations == [], cpu_job
