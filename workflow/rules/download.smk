# Raw data: the synthetic world is rendered here; real datasets come from the data-preparation rules.
# `data.dvc` records the hash of `data/`, and every downstream rule takes it as an input.

if DS["source"] == "synthetic":

    rule synthesize:
        output:
            f"{DS['synth']['root']}/manifest.json",
            RAW_MANIFEST,
            SPLIT_FILES,
            COMPANION_FILES,
        params:
            code=digest("synth"),
            libs=LIBS_NUMERIC,
            preset=DS["synth"]["preset"],
            seed=DS["synth"]["seed"],
            root=DS["synth"]["root"],
        log:
            f"results/logs/synthesize/{DATASET}.log",
        benchmark:
            f"results/benchmarks/synthesize/{DATASET}.tsv"
        threads: 2
        shell:
            "depthrepro synth --preset {params.preset} --seed {params.seed} --out {params.root} "
            "--workers {threads} > {log} 2>&1"

else:

    rule download_splits:
        output:
            SPLIT_FILES,
        params:
            code=digest("download"),
        log:
            f"results/logs/download/{DATASET}_splits.log",
        resources:
            downloads=1,
        shell:
            "depthrepro download --group kitti_splits --no-progress > {log} 2>&1"

    rule download_raw:
        input:
            splits=[ancient(f) for f in SPLIT_FILES],
        output:
            f"results/downloads/{DATASET}_raw.json",
        params:
            code=digest("download"),
            only=lambda wc, input: " ".join(f"--only-split-drives {f}" for f in input.splits),
        log:
            f"results/logs/download/{DATASET}_raw.log",
        resources:
            downloads=1,
        shell:
            "depthrepro download --group kitti_raw {params.only} --unpack --no-progress "
            "--manifest {output} > {log} 2>&1"

    rule download_annotated_depth:
        input:
            f"results/downloads/{DATASET}_raw.json",
        output:
            f"results/downloads/{DATASET}_annotated.json",
        params:
            code=digest("download"),
        log:
            f"results/logs/download/{DATASET}_annotated.log",
        resources:
            downloads=1,
        shell:
            "depthrepro download --group kitti_depth_annotated --unpack --no-progress --manifest {output} "
            "> {log} 2>&1"

    rule check_raw_data:
        input:
            f"results/downloads/{DATASET}_raw.json",
            f"results/downloads/{DATASET}_annotated.json",
        output:
            RAW_MANIFEST,
        params:
            code=digest("check_data"),
        log:
            f"results/logs/check_raw_data/{DATASET}.log",
        shell:
            "depthrepro check-data --dataset {DATASET} > {log} 2>&1"


rule download_resource:
    output:
        "resources/{path}",
    params:
        code=digest("download"),
        name=lambda wc: RESOURCE_ARCHIVES[f"resources/{wc.path}"],
    log:
        "results/logs/download/resources/{path}.log",
    resources:
        downloads=1,
    wildcard_constraints:  # catalogue files only: an unpacked release folder is not this rule's output
        path="|".join(re.escape(dest.removeprefix("resources/")) for dest in RESOURCE_ARCHIVES),
    shell:
        "depthrepro download --name {params.name} --no-progress > {log} 2>&1"


rule track_data:
    input:
        RAW_MANIFEST,
    output:
        "data.dvc",
    params:
        code=digest("track_data"),
    log:
        "results/logs/track_data.log",
    resources:
        dvc=1,
    shell:
        "depthrepro track-data data > {log} 2>&1"
