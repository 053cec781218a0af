# Evaluation: predictions on a test split, then metrics under a named protocol.


def test_split_file(wildcards):
    p = method_params(wildcards.method)
    return ancient(split_file(p["test_split"], "test", method_format(wildcards.method)))


rule predict:
    input:
        weights=f"{CKPT}/{{weights}}.pt",
        images=lambda wc: method_images_marker(wc.method),
        split=test_split_file,
    output:
        f"{PRED}/{{split}}.npz",
    params:
        code=method_code("predict"),
        libs=LIBS_TORCH,
        images=lambda wc: method_images(wc.method),
    log:
        f"results/logs/predict/{RUN}/{{method}}_seed{{seed}}_{{weights}}_{{split}}.log",
    benchmark:
        f"results/benchmarks/predict/{RUN}/{{method}}_seed{{seed}}_{{weights}}_{{split}}.tsv"
    threads: 2
    resources:
        gpu=1,
    wildcard_constraints:
        weights="init|final",
    shell:
        "depthrepro predict --checkpoint {input.weights} --images {params.images} --split-file {input.split} "
        "--dataset {DATASET} --out {output} --threads {threads} > {log} 2>&1"


def protocol_split(protocol):
    return PROTOCOLS[protocol]["split"]


rule score:
    input:
        pred=lambda wc: PRED.format(**wc) + f"/{protocol_split(wc.protocol)}.npz",
        gt=lambda wc: f"{PREP}/gt/{protocol_split(wc.protocol)}.npz",
        train=f"{CKPT}/train.json",
        dvc="data.dvc",
    output:
        f"{METRICS}/{{protocol}}.json",
    params:
        code=digest("score"),
        libs=LIBS_NUMERIC,
        protocol=lambda wc: protocol_definition(wc.protocol),
    log:
        f"results/logs/score/{RUN}/{{method}}_seed{{seed}}_{{weights}}_{{protocol}}.log",
    wildcard_constraints:
        weights="init|final",
    shell:
        "depthrepro score --predictions {input.pred} --gt {input.gt} --protocol {wildcards.protocol} "
        "--train-record {input.train} --out {output} > {log} 2>&1"
