# Training: one job per (method, seed); writes the untrained and the trained weights. What a method reads
# (image tree, split, depth hints, coarse poses, the checkpoints it starts from) follows its params file.


def train_split_file(method):
    p = method_params(method)
    fmt = method_format(method)
    if fmt == "nyuv2":  # GasMono trains on the frames COLMAP registered, as the authors' lists
        return f"{PREP}/colmap/splits/{p['train_split']}/train_files.txt"
    # online refinement (FeatDepth's M*/MS* rows) trains on a split's test list
    return ancient(split_file(p["train_split"], p.get("train_split_part", "train"), fmt))


def depth_hints_dir(method):
    """Hints of the method's training split at its profile's `depth_hint_size` (official: 320x1024)."""
    p = method_params(method)
    height, width = p["profiles"][PROFILE].get("depth_hint_size", [320, 1024])
    return f"{PREP}/depth_hints/{p['train_split']}_{height}x{width}"


def dependencies(method, seed):
    """name → checkpoint of each method this one starts from (`depends_on` in its params file)."""
    deps = method_params(method).get("depends_on", {})
    return {name: CKPT.format(method=dep, seed=seed) + "/final.pt" for name, dep in sorted(deps.items())}


def train_inputs(wc):
    p = method_params(wc.method)
    inputs = {"images": method_images_marker(wc.method), "split": train_split_file(wc.method),
              **dependencies(wc.method, wc.seed)}
    if p["data"].get("depth_hints"):
        inputs["hints"] = f"{depth_hints_dir(wc.method)}/manifest.json"
    if method_format(wc.method) == "nyuv2":
        inputs["coarse_poses"] = f"{PREP}/colmap/manifest.json"
    return inputs


def train_data_args(wc):
    """The data arguments of `depthrepro train` for this method."""
    p = method_params(wc.method)
    args = [f"--images {method_images(wc.method)}"]
    if p["data"].get("depth_hints"):
        args.append(f"--depth-hints {depth_hints_dir(wc.method)}")
    if method_format(wc.method) == "nyuv2":
        args.append(f"--coarse-poses {PREP}/colmap")
    args += [f"--dependency {name}={path}" for name, path in dependencies(wc.method, wc.seed).items()]
    return " ".join(args)


rule train:
    input:
        unpack(train_inputs),
        dvc="data.dvc",
        imagenet=init_weights,
    output:
        init=f"{CKPT}/init.pt",
        final=f"{CKPT}/final.pt",
        record=f"{CKPT}/train.json",
    params:
        code=method_code("train"),
        libs=LIBS_TORCH,
        method_params=lambda wc: method_digest(wc.method),
        data=train_data_args,
        out=CKPT,
    log:
        f"results/logs/train/{RUN}/{{method}}_seed{{seed}}.log",
    benchmark:
        f"results/benchmarks/train/{RUN}/{{method}}_seed{{seed}}.tsv"
    threads: 2
    resources:
        gpu=1,
    shell:
        "depthrepro train --method {wildcards.method} --dataset {DATASET} --profile {PROFILE} "
        "--seed {wildcards.seed} --split-file {input.split} {params.data} --out {params.out} "
        "--threads {threads} > {log} 2>&1"
