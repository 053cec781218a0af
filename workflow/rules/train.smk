# Training: one job per (method, seed); writes the untrained and the trained weights. What a method reads
# (image tree, split, depth hints, coarse poses, the checkpoints it starts from) follows its params file.
# The rule serves every profile: a profile's `warm_start: {profile, epoch}` trains that profile's run too,
# whose `keep_epochs` keeps the weights it starts from (monodepth2's 1024x320 models continue the 640x192
# run after 10 epochs).
#
# GPUs: a profile's `gpus: N` (default 1) is the job's `gpu` resource, and N > 1 trains with DDP, one
# `torchrun` process per GPU (`batch_size` is per process). Snakemake counts GPUs but assigns no device ids.
# The job uses the devices in CUDA_VISIBLE_DEVICES when its environment sets them (SLURM does from the
# allocation; on Kubernetes the pod sees only its allocated GPUs, so the default picks exactly those) and
# devices 0..N-1 otherwise. Locally that is safe when GPU jobs run one at a time, `--resources gpu=1` as
# `make demo` runs: Snakemake caps a larger request at the limit, so a 2-GPU job runs as the only GPU job.


def train_split_file(method):
    p = method_params(method)
    fmt = method_format(method)
    if fmt == "nyuv2":  # GasMono trains on the frames COLMAP registered, as the authors' lists
        return f"{PREP}/colmap/splits/{p['train_split']}/train_files.txt"
    # online refinement (FeatDepth's M*/MS* rows) trains on a split's test list
    return ancient(split_file(p["train_split"], p.get("train_split_part", "train"), fmt))


def depth_hints_dir(method, profile=PROFILE):
    """Hints of the method's training split at its profile's `depth_hint_size` (official: 320x1024)."""
    height, width = method_profile(method, profile).get("depth_hint_size", [320, 1024])
    return f"{PREP}/depth_hints/{method_params(method)['train_split']}_{height}x{width}"


def dependencies(wc):
    """name → checkpoint of each method this run starts from (`depends_on` in its params file)."""
    deps = method_params(wc.method).get("depends_on", {})
    return {name: TRAIN_RUN.format(profile=wc.profile, method=dep, seed=wc.seed) + "/final.pt"
            for name, dep in sorted(deps.items())}


def warm_start(wc):
    """(kept-epochs folder, checkpoint in it) of the run this profile warm-starts from, or None."""
    warm = method_profile(wc.method, wc.profile).get("warm_start")
    if warm is None:
        return None
    source = warm.get("profile") if isinstance(warm, dict) else None
    if source == wc.profile or source not in method_params(wc.method).get("profiles", {}):
        raise KeyError(f"params/methods/{wc.method}.yaml: profiles.{wc.profile}.warm_start must name another "
                       f"profile of the file, got {warm!r}")
    if warm.get("epoch") not in method_profile(wc.method, source).get("keep_epochs", []):
        raise KeyError(f"params/methods/{wc.method}.yaml: profiles.{wc.profile}.warm_start wants epoch "
                       f"{warm.get('epoch')!r} of profile {source!r}, whose keep_epochs does not list it")
    folder = TRAIN_RUN.format(profile=source, method=wc.method, seed=wc.seed) + "/epochs"
    return folder, f"{folder}/epoch{warm['epoch']}.pt"


def train_inputs(wc):
    p = method_params(wc.method)
    inputs = {"images": method_images_marker(wc.method), "split": train_split_file(wc.method),
              **dependencies(wc)}
    if p["data"].get("depth_hints"):
        inputs["hints"] = f"{depth_hints_dir(wc.method, wc.profile)}/manifest.json"
    if method_format(wc.method) == "nyuv2":
        inputs["coarse_poses"] = f"{PREP}/colmap/manifest.json"
    if warm := warm_start(wc):
        inputs["warm_start"] = warm[0]
    return inputs


def train_data_args(wc):
    """The data arguments of `depthrepro train` for this run."""
    p = method_params(wc.method)
    args = [f"--images {method_images(wc.method)}"]
    if p["data"].get("depth_hints"):
        args.append(f"--depth-hints {depth_hints_dir(wc.method, wc.profile)}")
    if method_format(wc.method) == "nyuv2":
        args.append(f"--coarse-poses {PREP}/colmap")
    args += [f"--dependency {name}={path}" for name, path in dependencies(wc).items()]
    if warm := warm_start(wc):
        args.append(f"--warm-start {warm[1]}")
    return " ".join(args)


def method_gpus(method, profile=PROFILE):
    """GPUs a method trains on under a profile: its `gpus` (default 1)."""
    gpus = method_profile(method, profile).get("gpus", 1)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
        raise ValueError(f"params/methods/{method}.yaml: profiles.{profile}.gpus must be a positive integer, "
                         f"got {gpus!r}")
    return gpus


def train_launcher(wc):
    """The command that starts `depthrepro train`: itself on one GPU, `torchrun` with a process per GPU on more.

    The devices are those CUDA_VISIBLE_DEVICES names when the job's environment sets it, else 0..N-1.
    """
    gpus = method_gpus(wc.method, wc.profile)
    if gpus == 1:
        return "depthrepro train"
    devices = ",".join(str(i) for i in range(gpus))
    return (f"CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-{devices}}} "
            f"torchrun --standalone --nproc_per_node {gpus} -m depthrepro.cli train")


rule train:
    input:
        unpack(train_inputs),
        dvc="data.dvc",
        imagenet=init_weights,
    output:
        init=f"{TRAIN_RUN}/init.pt",
        final=f"{TRAIN_RUN}/final.pt",
        record=f"{TRAIN_RUN}/train.json",
        kept=directory(f"{TRAIN_RUN}/epochs"),  # the profile's keep_epochs (often none)
    params:
        code=method_code("train"),
        libs=LIBS_TORCH,
        method_params=lambda wc: method_digest(wc.method, wc.profile),
        data=train_data_args,
        launch=train_launcher,
        out=TRAIN_RUN,
    log:
        f"results/logs/train/{DATASET}/{{profile}}/{{method}}_seed{{seed}}.log",
    benchmark:
        f"results/benchmarks/train/{DATASET}/{{profile}}/{{method}}_seed{{seed}}.tsv"
    threads: 2
    resources:
        gpu=lambda wc: method_gpus(wc.method, wc.profile),
    wildcard_constraints:
        profile=r"[A-Za-z0-9_]+",
    shell:
        "{params.launch} --method {wildcards.method} --dataset {DATASET} --profile {wildcards.profile} "
        "--seed {wildcards.seed} --split-file {input.split} {params.data} --out {params.out} "
        "--threads {threads} > {log} 2>&1"
