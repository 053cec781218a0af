# Evaluation: predictions on a test split, then metrics under a named protocol.


def method_test_split(method):
    """The test list a method predicts on, in its data format's tree."""
    return ancient(split_file(method_params(method)["test_split"], "test", method_format(method)))


# Cross-dataset prediction: a split other than the method's own test split belongs to another data format
# (the tree its ground truth comes from, GT_SPLIT_FORMAT) and is read as `test_inputs:` of
# params/protocols.yaml says, e.g. a KITTI-trained EPCDepth on P2Net's NYUv2 h5 files.
TEST_INPUTS = _PROTOCOL_DOC.get("test_inputs") or {}


def cross_dataset(method, split):
    """Whether `method` predicts `split` as a foreign test split (anything but its own `test_split`)."""
    own = method_params(method)["test_split"]
    if split == own:
        return False
    if split not in TEST_INPUTS or split not in GT_SPLIT_FORMAT:
        raise ValueError(f"params/methods/{method}.yaml tests on split {own!r}; split {split!r} needs "
                         f"test_inputs.{split} in params/protocols.yaml and its tree in GT_SPLIT_FORMAT (prepare.smk)")
    return True


def prediction_inputs(method, split):
    """{"images" (marker file), "split" (list file), "root" (image tree), "options", "definition"} of a prediction."""
    if not cross_dataset(method, split):
        return {"images": method_images_marker(method), "split": method_test_split(method),
                "root": method_images(method), "options": "", "definition": ""}
    fmt = GT_SPLIT_FORMAT[split]
    return {"images": ancient(f"{format_tree(fmt)['raw_root']}/manifest.json"),
            "split": ancient(split_file(split, "test", fmt)), "root": format_tree(fmt)["raw_root"],
            "options": f"--test-input {split}", "definition": json.dumps(TEST_INPUTS[split], sort_keys=True)}


rule predict:
    input:
        weights=f"{CKPT}/{{weights}}.pt",
        images=lambda wc: prediction_inputs(wc.method, wc.split)["images"],
        split=lambda wc: prediction_inputs(wc.method, wc.split)["split"],
    output:
        f"{PRED}/{{split}}.npz",
    params:
        code=method_code("predict"),
        libs=LIBS_TORCH,
        images=lambda wc: prediction_inputs(wc.method, wc.split)["root"],
        test_input=lambda wc: prediction_inputs(wc.method, wc.split)["options"],
        test_input_definition=lambda wc: prediction_inputs(wc.method, wc.split)["definition"],
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
        "--dataset {DATASET} {params.test_input} --out {output} --threads {threads} > {log} 2>&1"


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
        protocol="|".join(PROTOCOLS),  # depth protocols; pose.smk scores the pose protocols
    shell:
        "depthrepro score --predictions {input.pred} --gt {input.gt} --protocol {wildcards.protocol} "
        "--train-record {input.train} --out {output} > {log} 2>&1"


# Official weights: an authors' released checkpoint, once downloaded, is imported into its method and then
# predicted and scored exactly like a trained checkpoint.


def release_method(wildcards):
    """The params file whose model loads the release."""
    return RELEASES[wildcards.release].params


rule import_release:
    input:
        release=lambda wc: ancient(str(RELEASES[wc.release].root)),
        releases="params/releases.yaml",
    output:
        checkpoint=f"{OFFICIAL_CKPT}.pt",
        record=f"{OFFICIAL_CKPT}.json",
    params:
        code=lambda wc: digest("import_release", method_module(release_method(wc))),
        libs=LIBS_TORCH,
        method_params=lambda wc: json.dumps(method_params(release_method(wc)), sort_keys=True),
    log:
        "results/logs/import_release/{release}.log",
    shell:
        "depthrepro import-release --release {wildcards.release} --out {output.checkpoint} > {log} 2>&1"


rule predict_official:
    input:
        weights=f"{OFFICIAL_CKPT}.pt",
        images=lambda wc: prediction_inputs(release_method(wc), wc.split)["images"],
        split=lambda wc: prediction_inputs(release_method(wc), wc.split)["split"],
    output:
        f"{OFFICIAL_PRED}/{{split}}.npz",
    params:
        code=lambda wc: digest("predict", method_module(release_method(wc))),
        libs=LIBS_TORCH,
        images=lambda wc: prediction_inputs(release_method(wc), wc.split)["root"],
        test_input=lambda wc: prediction_inputs(release_method(wc), wc.split)["options"],
        test_input_definition=lambda wc: prediction_inputs(release_method(wc), wc.split)["definition"],
    log:
        f"results/logs/predict/{DATASET}/official_{{release}}_{{split}}.log",
    threads: 2
    resources:
        gpu=1,
    shell:
        "depthrepro predict --checkpoint {input.weights} --images {params.images} --split-file {input.split} "
        "--dataset {DATASET} {params.test_input} --out {output} --threads {threads} > {log} 2>&1"


rule score_official:
    input:
        pred=lambda wc: OFFICIAL_PRED.format(**wc) + f"/{protocol_split(wc.protocol)}.npz",
        gt=lambda wc: f"{PREP}/gt/{protocol_split(wc.protocol)}.npz",
        record=f"{OFFICIAL_CKPT}.json",
        dvc="data.dvc",
    output:
        f"{OFFICIAL_METRICS}/{{protocol}}.json",
    params:
        code=digest("score"),
        libs=LIBS_NUMERIC,
        protocol=lambda wc: protocol_definition(wc.protocol),
    log:
        f"results/logs/score/{DATASET}/official_{{release}}_{{protocol}}.log",
    wildcard_constraints:
        protocol="|".join(PROTOCOLS),
    shell:
        "depthrepro score --predictions {input.pred} --gt {input.gt} --protocol {wildcards.protocol} "
        "--train-record {input.record} --out {output} > {log} 2>&1"
