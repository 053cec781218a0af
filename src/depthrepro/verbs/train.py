"""`depthrepro train`: train a registered method; writes init.pt, final.pt, train.json and epochs/.

A profile's `keep_epochs: [N, ...]` keeps the weights and optimizer state after those epochs as
`epochs/epochN.pt`; another profile's `warm_start: {profile, epoch}` starts from such a file
(`--warm-start`): its weights, and its optimizer's moments under this profile's learning rates.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import yaml

from depthrepro.data.formats import DataSources, EvenSubset, training_dataset
from depthrepro.io.atomic import atomic_write_json
from depthrepro.io.file_hash import file_sha256
from depthrepro.methods.params_file import load_method_params, model_config
from depthrepro.methods.registry import build_method
from depthrepro.provenance.audit import images_tree_hash
from depthrepro.provenance.code_digest import code_digest
from depthrepro.provenance.repo_state import dvc_hash, git_state
from depthrepro.provenance.tracking import tracked_run
from depthrepro.train.distributed import join_process_group
from depthrepro.train.seeding import seed_everything
from depthrepro.train.optim import Schedule
from depthrepro.train.trainer import save_atomic, train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", required=True, help="key of params/datasets.yaml")
    p.add_argument("--profile", required=True, help="profile of the method's params file (smoke, paper)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--images", type=Path, required=True, help="image tree in the method's data format")
    p.add_argument("--split-file", type=Path, required=True)
    p.add_argument("--depth-hints", type=Path, help="depth-hint tree (methods with data.depth_hints)")
    p.add_argument("--coarse-poses", type=Path, help="COLMAP coarse-pose tree (data.format nyuv2)")
    p.add_argument("--dependency", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="a trained checkpoint this method starts from (params `depends_on`)")
    p.add_argument("--warm-start", type=Path, metavar="CHECKPOINT",
                   help="epochs/epochN.pt of the run named by the profile's `warm_start`")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1, help="CPU threads of the job, shared by its processes")
    p.add_argument("--params-dir", type=Path, default=Path("params"))
    p.add_argument("--results-dir", type=Path, default=Path("results"))


def _dependencies(pairs: list[str], params: dict, path: Path) -> dict[str, Path]:
    """`NAME=CHECKPOINT` arguments, checked against the params file's `depends_on` names."""
    given: dict[str, Path] = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep or not file:
            raise SystemExit(f"--dependency {pair!r}: expected NAME=CHECKPOINT")
        given[name] = Path(file)
    wanted = set(params.get("depends_on", {}))
    if set(given) != wanted:
        raise SystemExit(f"{path}: depends_on names {sorted(wanted)}, but --dependency gave {sorted(given)}")
    for name, file in given.items():
        if not file.is_file():
            raise SystemExit(f"--dependency {name}: {file} does not exist")
    return given


def _kept_epochs(prof: dict, where: str) -> frozenset[int]:
    """The profile's `keep_epochs`, checked against its `num_epochs`."""
    kept = prof.get("keep_epochs", [])
    valid = isinstance(kept, list) and all(isinstance(e, int) and not isinstance(e, bool)
                                           and 1 <= e <= prof["num_epochs"] for e in kept)
    if not valid:
        raise SystemExit(f"{where}.keep_epochs: expected a list of epochs in 1..{prof['num_epochs']}, got {kept!r}")
    return frozenset(kept)


def _warm_start(path: Path | None, prof: dict, params_name: str, where: str) -> dict | None:
    """The checkpoint of `--warm-start`, checked against the profile's `warm_start: {profile, epoch}`."""
    wanted = prof.get("warm_start")
    if wanted is not None and (not isinstance(wanted, dict) or set(wanted) != {"profile", "epoch"}):
        raise SystemExit(f"{where}.warm_start: expected {{profile: NAME, epoch: N}}, got {wanted!r}")
    if (wanted is None) != (path is None):
        raise SystemExit(f"{where}.warm_start is {wanted!r}, but --warm-start gave {path}")
    if path is None:
        return None
    if not path.is_file():
        raise SystemExit(f"--warm-start: {path} does not exist (profile {wanted['profile']!r} keeps it when "
                         f"its keep_epochs lists {wanted['epoch']})")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    found = (checkpoint.get("params_name"), checkpoint.get("epoch"))
    if found != (params_name, wanted["epoch"]) or "optimizer" not in checkpoint:
        raise SystemExit(f"--warm-start {path}: holds {found[0]!r} after epoch {found[1]!r}; {where}.warm_start "
                         f"wants {params_name!r} after epoch {wanted['epoch']} with its optimizer state")
    return checkpoint


def _init_from_imagenet(method: torch.nn.Module, params: dict, prof: dict) -> str:
    """ImageNet initialisation from the params file; returns what the run records as `weights_init`.

    `imagenet_weights` is one file or a mapping (e.g. `{resnet50: ..., resnet18: ...}`) passed to the method
    as is; `pose_imagenet_weights` (a second file for the pose networks) goes in as `pose_path`.
    """
    spec = prof.get("imagenet_weights", params["imagenet_weights"])
    files = {k: Path(v) for k, v in spec.items()} if isinstance(spec, dict) else Path(spec)
    pose = Path(params["pose_imagenet_weights"]) if "pose_imagenet_weights" in params else None
    every = [*(files.values() if isinstance(files, dict) else [files]), *([pose] if pose else [])]
    missing = [str(f) for f in every if not f.is_file()]
    if missing:
        print(f"warning: {', '.join(missing)} not found; training from random initialisation", flush=True)
        return "scratch (ImageNet weights not downloaded)"
    method.init_from_imagenet(files, **({"pose_path": pose} if pose else {}))
    return "imagenet:" + ",".join(f"{f.name}={file_sha256(f)[:12]}" for f in every)


def _processes(prof: dict, where: str) -> int:
    """Processes of this run (`torchrun` sets WORLD_SIZE), checked against the profile's `gpus` (default 1).

    `batch_size` is per process, so training with another number of processes than the profile says would
    train with another effective batch.
    """
    gpus = prof.get("gpus", 1)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
        raise SystemExit(f"{where}.gpus: expected a positive integer, got {gpus!r}")
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if processes != gpus:
        raise SystemExit(f"{where}.gpus is {gpus}, but this run has {processes} process(es); start it with "
                         f"`torchrun --standalone --nproc_per_node {gpus} -m depthrepro.cli train ...` "
                         "(the train rule does)")
    return processes


def run(args: argparse.Namespace) -> int:
    """Train; under `torchrun` every process trains its shard and rank 0 alone writes files and logs."""
    try:
        return _train(args)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(args: argparse.Namespace) -> int:
    params, prof = load_method_params(args.params_dir, args.method, args.profile)
    where = f"{args.params_dir / 'methods' / args.method}.yaml:profiles.{args.profile}"
    torch.set_num_threads(max(1, args.threads // _processes(prof, where)))
    dataset_cfg = yaml.safe_load((args.params_dir / "datasets.yaml").read_text())[args.dataset]
    # a profile may override model keys (e.g. an earlier teacher freeze so a short run reaches it)
    model_cfg = model_config(params, prof)
    device, rank = join_process_group()
    seed_everything(args.seed, deterministic=prof.get("deterministic", False))

    method = build_method(params.get("method", args.method), model_cfg)
    weights_init = "scratch"
    if prof["weights_init"] == "pretrained":
        weights_init = _init_from_imagenet(method, params, prof)
    # after the ImageNet initialisation: a dependency's trained weights take precedence
    dependencies = _dependencies(args.dependency, params, args.params_dir / "methods" / f"{args.method}.yaml")
    for name, path in dependencies.items():
        method.init_from_dependency(name, torch.load(path, map_location="cpu", weights_only=False))
    warm = _warm_start(args.warm_start, prof, args.method, where)
    if warm is not None:
        method.load_checkpoint_state(warm["state"])
        warm_from = f"{prof['warm_start']['profile']} profile, epoch {warm['epoch']}"
        weights_init = f"warm start ({warm_from})"
    kept_epochs = _kept_epochs(prof, where)
    (args.out / "epochs").mkdir(parents=True, exist_ok=True)
    checkpoint_meta = {"method": params.get("method", args.method), "params_name": args.method,
                       "model_cfg": model_cfg, "seed": args.seed,
                       "trained_with_stereo": bool(params["trained_with_stereo"]),
                       "data": params["data"], "weights_init": weights_init}
    if rank == 0:
        save_atomic({**checkpoint_meta, "stage": "init", "state": method.checkpoint_state()}, args.out / "init.pt")

    sources = DataSources(args.images, args.split_file, args.depth_hints, args.coarse_poses)
    dataset = training_dataset(params["data"], sources, prof["height"], prof["width"],
                               model_cfg.get("frame_ids", [0]), dataset_cfg.get("intrinsics"),
                               args.seed, where)
    if "train_samples" in prof:  # smoke profiles: an even subset of the split keeps CPU runs to minutes
        dataset = EvenSubset(dataset, int(prof["train_samples"]))
    schedule = Schedule.from_profile(prof, where)

    src_root = Path(__file__).resolve().parents[2]
    digest = code_digest(src_root, ["depthrepro.verbs.train", type(method).__module__])
    git = git_state(Path.cwd())
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    manifest_path = args.images / "manifest.json"
    images_manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    tags = {"stage": "train", "method": args.method, "dataset": args.dataset, "profile": args.profile,
            "seed": str(args.seed), "code.digest": digest, "git.commit": git["commit"], "git.dirty": git["dirty"],
            "data.md5": dvc_hash(Path("data.dvc")),
            "prepared.jpeg_sha256": images_tree_hash(images_manifest),
            "prepared.images": str(args.images),
            "device": str(device), "world_size": str(world), "torch": torch.__version__,
            # on a CPU the intra-op thread count sets the order of float reductions, hence the exact weights
            "torch.threads": str(torch.get_num_threads()),
            "weights_init": weights_init,
            **{f"dependency.{name}.sha256": file_sha256(path) for name, path in dependencies.items()},
            **({"warm_start.sha256": file_sha256(args.warm_start), "warm_start.from": warm_from}
               if warm is not None else {})}
    run_params = {**{f"model.{k}": v for k, v in model_cfg.items()}, **{f"profile.{k}": v for k, v in prof.items()},
                  "train_samples": len(dataset)}
    fingerprint = json.dumps([model_cfg, prof, args.seed, digest, tags["data.md5"], tags["prepared.jpeg_sha256"],
                              sorted((k, v) for k, v in tags.items() if k.startswith(("dependency.", "warm_start.")))],
                             sort_keys=True, default=str)
    amp = bool(prof.get("amp", False))
    start_optimizer = warm["optimizer"] if warm is not None else None

    def keep(epoch: int, optimizer: torch.optim.Optimizer) -> None:
        if epoch in kept_epochs:
            save_atomic({**checkpoint_meta, "stage": f"epoch{epoch}", "epoch": epoch,
                         "state": method.checkpoint_state(), "optimizer": optimizer.state_dict()},
                        args.out / "epochs" / f"epoch{epoch}.pt")

    if rank != 0:  # other DDP processes train their shard; rank 0 logs and writes the files
        train(method, dataset, schedule, args.out / "work", args.seed, device, fingerprint, amp=amp,
              start_optimizer=start_optimizer)
        return 0
    with tracked_run(args.results_dir, f"train/{args.method}/{args.dataset}/{args.profile}/seed{args.seed}",
                     tags, run_params) as mlrun:
        import mlflow

        result = train(method, dataset, schedule, args.out / "work", args.seed, device, fingerprint,
                       log_metrics=lambda m, step: mlflow.log_metrics(m, step=step), amp=amp,
                       start_optimizer=start_optimizer, after_epoch=keep)
        mlflow.log_metrics({"final_loss": result.final_loss, "samples_per_s": result.samples_per_s,
                            "data_wait_fraction": result.data_wait_fraction})
        save_atomic({**checkpoint_meta, "stage": "final", "epoch": result.epochs, "step": result.steps,
                     "state": method.checkpoint_state()}, args.out / "final.pt")
        record = {**tags, "mlflow_run_id": mlrun.info.run_id, "model_cfg": model_cfg, "profile_params": prof,
                  "train_samples": len(dataset), "epochs": result.epochs, "steps": result.steps,
                  "final_loss": result.final_loss, "samples_per_s": result.samples_per_s,
                  "data_wait_fraction": result.data_wait_fraction,
                  "checkpoints": {name: file_sha256(args.out / f"{name}.pt") for name in ("init", "final")}}
        mlflow.set_tags({"checkpoint.final.sha256": record["checkpoints"]["final"]})
    atomic_write_json(args.out / "train.json", record)
    print(json.dumps({k: record[k] for k in ("mlflow_run_id", "steps", "final_loss", "samples_per_s")}))
    return 0
