# Raw data: the synthetic world is rendered here; real datasets come from the data-preparation rules.
# `data.dvc` records the hash of `data/`, and every downstream rule takes it as an input.

if DS["source"] == "synthetic":

    rule synthesize:
        output:
            RAW_MANIFEST,
            SPLIT_FILES,
        params:
            code=digest("synth"),
            libs=LIBS_NUMERIC,
            preset=DS["synth"]["preset"],
            seed=DS["synth"]["seed"],
        log:
            f"results/logs/synthesize/{DATASET}.log",
        benchmark:
            f"results/benchmarks/synthesize/{DATASET}.tsv"
        threads: 2
        shell:
            "depthrepro synth --preset {params.preset} --seed {params.seed} --out {RAW_ROOT} "
            "--workers {threads} > {log} 2>&1"

else:

    rule check_raw_data:
        output:
            RAW_MANIFEST,
            SPLIT_FILES,
        params:
            code=digest("check_data"),
        log:
            f"results/logs/check_raw_data/{DATASET}.log",
        shell:
            "depthrepro check-data --dataset {DATASET} > {log} 2>&1"


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
