# Prepared data: JPEG conversion (monodepth2's settings) and ground-truth export.


rule prepare_jpeg:
    input:
        dvc="data.dvc",
        raw=ancient(RAW_MANIFEST),
    output:
        f"{PREP}/jpeg/manifest.json",
    params:
        code=digest("prepare_jpeg"),
        libs=LIBS_NUMERIC,
        quality=92,
    log:
        f"results/logs/prepare_jpeg/{DATASET}.log",
    benchmark:
        f"results/benchmarks/prepare_jpeg/{DATASET}.tsv"
    threads: 2
    shell:
        "depthrepro prepare-jpeg --raw-root {RAW_ROOT} --out {PREP}/jpeg --quality {params.quality} "
        "--workers {threads} > {log} 2>&1"


rule export_gt:
    input:
        dvc="data.dvc",
        raw=ancient(RAW_MANIFEST),
        split=ancient(split_file("{split}", "test")),
    output:
        f"{PREP}/gt/{{split}}.npz",
    params:
        code=digest("export_gt"),
        libs=LIBS_NUMERIC,
    log:
        f"results/logs/export_gt/{DATASET}_{{split}}.log",
    shell:
        "depthrepro export-gt --raw-root {RAW_ROOT} --split-file {input.split} --kind {wildcards.split} "
        "--out {output} > {log} 2>&1"
