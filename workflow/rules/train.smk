# Training: one job per (method, seed); writes the untrained and the trained weights.


rule train:
    input:
        dvc="data.dvc",
        images=f"{PREP}/jpeg/manifest.json",
        train=ancient(split_file("eigen_zhou", "train")),
        val=ancient(split_file("eigen_zhou", "val")),
        imagenet=init_weights,
    output:
        init=f"{CKPT}/init.pt",
        final=f"{CKPT}/final.pt",
        record=f"{CKPT}/train.json",
    params:
        code=method_code("train"),
        libs=LIBS_TORCH,
        method_params=lambda wc: method_digest(wc.method),
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
        "--seed {wildcards.seed} --images {PREP}/jpeg --split-file {input.train} --out {params.out} "
        "--threads {threads} > {log} 2>&1"
