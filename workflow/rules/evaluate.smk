# Evaluation: predictions on a test split, then metrics under a named protocol.


def test_split(wildcards):
    return method_params(wildcards.method)["test_split"]


rule predict:
    input:
        weights=f"{CKPT}/{{weights}}.pt",
        images=f"{PREP}/jpeg/manifest.json",
        split=lambda wc: ancient(split_file(test_split(wc), "test")),
    output:
        f"{PRED}/{{split}}.npz",
    params:
        code=method_code("predict"),
        libs=LIBS_TORCH,
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
        "depthrepro predict --checkpoint {input.weights} --images {PREP}/jpeg --split-file {input.split} "
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
