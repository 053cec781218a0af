# Ablations. The pose ablation: GasMono's refined poses and the raw COLMAP poses of its training frames,
# both against the exact poses of the synthetic world (real NYUv2 has none, so it runs on synthetic data).
ABLATION = f"results/ablation/{RUN}/{{method}}/seed{{seed}}"


def pose_ablation_files(wildcards=None):
    """The pose-ablation records of every configured GasMono params file and seed (synthetic data only)."""
    if DS["source"] != "synthetic":
        return []
    methods = [m for m in config["methods"] if method_params(m).get("method", m) == "gasmono"]
    return [ABLATION.format(method=m, seed=s) + "/poses.json" for m in methods for s in config["seeds"]]


rule pose_ablation:
    input:
        weights=f"{CKPT}/final.pt",
        train=f"{CKPT}/train.json",
        images=lambda wc: method_images_marker(wc.method),
        coarse_poses=f"{PREP}/colmap/manifest.json",
        split=lambda wc: train_split_file(wc.method),
        dvc="data.dvc",
    output:
        f"{ABLATION}/poses.json",
    params:
        code=method_code("pose_ablation"),
        libs=LIBS_TORCH,
        images=lambda wc: method_images(wc.method),
    log:
        f"results/logs/pose_ablation/{RUN}/{{method}}_seed{{seed}}.log",
    threads: 2
    shell:
        "depthrepro pose-ablation --checkpoint {input.weights} --images {params.images} "
        "--coarse-poses {PREP}/colmap --split-file {input.split} --train-record {input.train} "
        "--out {output} --threads {threads} > {log} 2>&1"
