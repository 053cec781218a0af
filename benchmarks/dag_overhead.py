"""Planning overhead of the pipeline: `snakemake -n all_tables` with the synthetic world present, on the full DAG
(nothing run yet) and on an up-to-date tree (nothing to do). Target: under 3 s.

    python benchmarks/dag_overhead.py                          # default config and world: the full DAG
    python benchmarks/dag_overhead.py --dataset synthetic_kitti_tiny --complete  # same DAG on the tiny world,
                                                               # run, then timed up to date as well
    python benchmarks/dag_overhead.py --workdir .              # an existing tree as it is (e.g. after make demo)

Without --workdir it works in a temporary copy of the project: Snakemake renders the world (`--until
track_data`: the synthesize and track_data rules), the full DAG is timed, and with --complete all_tables runs and the
up-to-date tree is timed. Each figure is the median of --repeats dry runs, as wall seconds and as the CPU
seconds (user + system) of the Snakemake process, which a loaded machine inflates less than wall time.
One more dry run, with timers around Snakefile parsing, DAG building and the project's digest helpers,
says where the time goes; `snakemake --version` gives the fixed cost of starting Snakemake (interpreter,
imports, executor plugin discovery) and `-X importtime` the heaviest imports. The code digests come from
the cache in .snakemake/depthrepro/ that any earlier Snakemake call in the tree filled; one dry run of the
full DAG without it gives the cost of a first call (or of one after a code edit, for the closures it touches).
Appends to benchmarks/results/dag_overhead.json and writes dag_overhead.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from depthrepro.io.atomic import atomic_write_json, atomic_write_text
from depthrepro.provenance.repo_state import copy_worktree

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TARGET_S = 3.0

# Runs Snakemake's CLI with timers (CPU and wall seconds, calls) around a few functions; prints them on exit.
# The project's `depthrepro` must be importable from the working directory's src/, as the Snakefile does.
TIMED_CLI = r"""
import atexit, json, sys, time
sys.path.insert(0, "src")
import depthrepro.provenance.code_digest as digests
from snakemake.cli import main
import snakemake.workflow as workflow
spent, phase = {}, ["start"]
def timed(owner, name, key, sets_phase):
    original, depth = getattr(owner, name), [0]
    def wrapper(*args, **kwargs):
        if depth[0]:
            return original(*args, **kwargs)
        label = key if sets_phase else f"{key} (in {phase[0]})"
        previous = phase[0]
        if sets_phase:
            phase[0] = key
        depth[0] += 1
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1
            phase[0] = previous
            entry = spent.setdefault(label, {"calls": 0, "cpu_s": 0.0, "wall_s": 0.0})
            entry["calls"] += 1
            entry["cpu_s"] += time.process_time() - cpu
            entry["wall_s"] += time.perf_counter() - wall
    setattr(owner, name, wrapper)
timed(workflow.Workflow, "include", "parse Snakefile", True)
timed(workflow.Workflow, "_build_dag", "build DAG", True)
timed(digests, "code_digest", "code_digest", False)
timed(digests, "library_versions", "library_versions", False)
atexit.register(lambda: print("TIMERS " + json.dumps(spent), file=sys.stderr))
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def tool_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


def timed_run(cmd: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """(result, wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def snakemake(*args: str, config: list[str]) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args, *config]


def check(result: subprocess.CompletedProcess, what: str) -> str:
    out = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"{what} failed (exit {result.returncode}):\n{out[-4000:]}")
    return out


def job_total(dry_run_output: str) -> int:
    """The `total` row of a dry run's job stats (0 when there is nothing to do)."""
    found = re.findall(r"^total\s+(\d+)$", dry_run_output, flags=re.MULTILINE)
    return int(found[0]) if found else 0


DIGEST_CACHE = Path(".snakemake/depthrepro")  # the code-digest cache of workflow/rules/common.smk


def cold_digest_cache(work: Path, config: list[str]) -> dict:
    """One dry run after removing the code-digest cache: every closure is parsed again."""
    shutil.rmtree(work / DIGEST_CACHE, ignore_errors=True)
    result, wall, cpu = timed_run(snakemake("all_tables", "-n", config=config), work)
    check(result, "snakemake -n all_tables without the digest cache")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def time_dry_runs(work: Path, config: list[str], repeats: int, expect_nothing: bool) -> dict:
    walls, cpus, jobs = [], [], None
    for _ in range(repeats):
        result, wall, cpu = timed_run(snakemake("all_tables", "-n", config=config), work)
        out = check(result, "snakemake -n all_tables")
        if expect_nothing != ("Nothing to be done" in out):
            raise SystemExit(f"expected {'nothing' if expect_nothing else 'jobs'} to do:\n{out[-3000:]}")
        walls.append(wall)
        cpus.append(cpu)
        jobs = job_total(out)
    return {"jobs_to_run": jobs, "wall_s_median": round(statistics.median(walls), 2),
            "wall_s_min": round(min(walls), 2), "cpu_s_median": round(statistics.median(cpus), 2),
            "repeats": repeats}


def breakdown(work: Path, config: list[str]) -> dict:
    """Seconds inside Snakefile parsing, DAG building and the digest helpers during one dry run."""
    result, wall, cpu = timed_run([sys.executable, "-c", TIMED_CLI, "all_tables", "-n", *config], work)
    out = check(result, "timed dry run")
    timers = json.loads(re.findall(r"^TIMERS (.*)$", out, flags=re.MULTILINE)[-1])
    rounded = {k: {"calls": v["calls"], "cpu_s": round(v["cpu_s"], 3), "wall_s": round(v["wall_s"], 3)}
               for k, v in sorted(timers.items())}
    return {"total_wall_s": round(wall, 2), "total_cpu_s": round(cpu, 2), "timers": rounded}


def heaviest_imports(work: Path, limit: int = 8) -> dict[str, float]:
    """Cumulative import seconds of the heaviest top-level packages when Snakemake starts (-X importtime)."""
    result, _, _ = timed_run([sys.executable, "-X", "importtime", "-m", "snakemake", "--version"], work)
    check(result, "snakemake --version")
    cumulative: dict[str, float] = {}
    for line in result.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+(\S+)$", line)
        if m and "." not in m.group(2):
            cumulative[m.group(2)] = max(cumulative.get(m.group(2), 0.0), int(m.group(1)) / 1e6)
    top = sorted(cumulative.items(), key=lambda kv: -kv[1])[:limit]
    return {name: round(seconds, 2) for name, seconds in top}


def startup(work: Path, repeats: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeats):
        result, wall, cpu = timed_run([sys.executable, "-m", "snakemake", "--version"], work)
        check(result, "snakemake --version")
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_s_median": round(statistics.median(walls), 2), "cpu_s_median": round(statistics.median(cpus), 2)}


def copy_project(work: Path, configfile: Path | None) -> list[str]:
    """The project's files into `work` (as the end-to-end tests do); the --configfile arguments for there."""
    copy_worktree(ROOT, work)
    if configfile is None:
        return []
    shutil.copy2(configfile, work / "benchmark_config.yaml")
    return ["--configfile", "benchmark_config.yaml"]


def measure(work: Path, config: list[str], args: argparse.Namespace) -> dict:
    result: dict = {"startup_snakemake_version": startup(work, args.repeats)}
    if args.workdir is None:
        committed = (work / "data.dvc").read_text()
        check(timed_run(snakemake("all_tables", "--until", "track_data", "--cores", str(args.cores), config=config),
                        work)[0], "rendering the synthetic world")
        if not config:  # the committed data.dvc describes the default world
            result["data_dvc_as_committed"] = (work / "data.dvc").read_text() == committed
        result["full_dag"] = time_dry_runs(work, config, args.repeats, expect_nothing=False)
        result["full_dag_breakdown"] = breakdown(work, config)
        result["full_dag_cold_digest_cache"] = cold_digest_cache(work, config)
        if args.complete:
            check(timed_run(snakemake("all_tables", "--cores", str(args.cores), "--resources", "gpu=1",
                                      config=config), work)[0], "snakemake all_tables")
    if args.workdir is not None or args.complete:
        result["up_to_date"] = time_dry_runs(work, config, args.repeats, expect_nothing=True)
        result["up_to_date_breakdown"] = breakdown(work, config)
        forced = check(timed_run(snakemake("all_tables", "-n", "--forceall", config=config), work)[0],
                       "snakemake -n --forceall")
        result["jobs_in_dag"] = job_total(forced)
    result["heaviest_imports_s"] = heaviest_imports(work)
    return result


def markdown_row(entry: dict) -> str:
    cells = []
    for key in ("full_dag", "up_to_date"):
        m = entry.get(key)
        cells.append(f"{m['wall_s_median']} / {m['cpu_s_median']} ({m['jobs_to_run']} jobs)" if m else "–")
    start = entry["startup_snakemake_version"]
    digest_cpu = sum(v["cpu_s"] for k, v in entry.get("up_to_date_breakdown", entry.get("full_dag_breakdown", {}))
                     .get("timers", {}).items() if k.startswith("code_digest"))
    cold = entry.get("full_dag_cold_digest_cache")
    cold_cell = f"{cold['wall_s']} / {cold['cpu_s']}" if cold else "–"
    return (f"| {entry['date']} | {entry['machine']} | {entry['config']} | {entry.get('jobs_in_dag', '–')} | "
            f"{cells[0]} | {cells[1]} | {start['wall_s_median']} / {start['cpu_s_median']} | "
            f"{digest_cpu:.2f} | {cold_cell} |")


def write_results(entry: dict) -> str:
    """Appends `entry` to dag_overhead.json and renders dag_overhead.md from all entries; returns the markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "dag_overhead.json"
    history = json.loads(path.read_text()) if path.is_file() else []
    history.append(entry)
    atomic_write_json(path, history)
    return render(history)


def breakdown_rows(entry: dict) -> list[str]:
    rows = []
    for case in ("full_dag", "up_to_date"):
        b = entry.get(f"{case}_breakdown")
        if not b:
            continue
        timers = b["timers"]
        phase = {name: timers.get(name, {"cpu_s": 0.0})["cpu_s"] for name in ("parse Snakefile", "build DAG")}
        digest = {name: timers.get(f"code_digest (in {name})", {"cpu_s": 0.0, "calls": 0})
                  for name in ("parse Snakefile", "build DAG")}
        imports = ", ".join(f"{k} {v}" for k, v in list(entry["heaviest_imports_s"].items())[:4])
        rows.append(
            f"| {entry['date']} | {entry['config']} | {case.replace('_', ' ')} | {b['total_cpu_s']} | "
            f"{entry['startup_snakemake_version']['cpu_s_median']} | "
            + " | ".join(f"{phase[n]:.2f} ({digest[n]['cpu_s']:.2f} in {digest[n]['calls']} calls)"
                         for n in ("parse Snakefile", "build DAG"))
            + f" | {imports} |")
    return rows


def render(history: list[dict]) -> str:
    rows = "\n".join(markdown_row(e) for e in history)
    where = "\n".join(row for e in history for row in breakdown_rows(e))
    markdown = (
        "# DAG overhead: `snakemake -n all_tables`\n\n"
        f"Target: under {TARGET_S:.0f} s. Cells: median wall s / median CPU s (user + system) of the Snakemake "
        "process, with the jobs the dry run plans. Full DAG: the synthetic world rendered, nothing else run; "
        "up to date: after a complete run (nothing to do). code_digest CPU s: the digests' share of one dry run; "
        "full DAG, cold digest cache: one dry run after removing .snakemake/depthrepro/ (– where the pipeline had "
        "no digest cache yet). Details, timers and imports in dag_overhead.json.\n\n"
        "| date | machine | config | jobs in DAG | full DAG | up to date | `snakemake --version` | "
        "code_digest CPU s | full DAG, cold digest cache |\n|---|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        "## Where the time goes\n\n"
        "CPU seconds of one timed dry run: the fixed start of Snakemake (`snakemake --version`: interpreter, "
        "imports, discovery of every installed plugin), parsing the Snakefile and building the DAG, each with the "
        "part spent in `code_digest`; and the heaviest imports at start (cumulative s, `-X importtime`).\n\n"
        "| date | config | case | total | start | parse Snakefile (code_digest) | build DAG (code_digest) | "
        "heaviest imports |\n|---|---|---|---|---|---|---|---|\n"
        f"{where}\n"
    )
    atomic_write_text(RESULTS / "dag_overhead.md", markdown)
    return markdown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configfile", type=Path, help="Snakemake config (default: params/profiles/default.yaml)")
    p.add_argument("--dataset", help="replace the config's dataset (e.g. synthetic_kitti_tiny): same DAG, other world")
    p.add_argument("--workdir", type=Path, help="time this existing tree as it is instead of a fresh copy")
    p.add_argument("--complete", action="store_true", help="in the copy, run all_tables and time it up to date")
    p.add_argument("--label", help="how the results name the configuration (default: its path)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    override = ["--config", f"dataset={args.dataset}"] if args.dataset else []
    if args.workdir is not None:
        config = ["--configfile", str(args.configfile.resolve())] if args.configfile else []
        result = measure(args.workdir.resolve(), config + override, args)
    else:
        with tempfile.TemporaryDirectory(prefix="dag_overhead_") as scratch:
            work = Path(scratch)
            result = measure(work, copy_project(work, args.configfile) + override, args)
    entry = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "config": args.label or (str(args.configfile or "params/profiles/default.yaml")
                                 + (f", dataset={args.dataset}" if args.dataset else "")),
        "python": platform.python_version(),
        **result,
    }
    print(write_results(entry))
    print(json.dumps(entry, indent=1))


if __name__ == "__main__":
    main()
