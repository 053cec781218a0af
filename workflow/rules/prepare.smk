# Prepared data: JPEG conversion (monodepth2's settings), ground-truth export, depth hints, COLMAP coarse poses;
# each rule calls one `depthrepro prepare <step>`. `prepare_report` (not part of all_tables) measures them against
# the acceptance numbers: `snakemake prepare_report`.


rule prepare_jpeg:
    input:
        dvc="data.dvc",
        raw=ancient(RAW_MANIFEST),
    output:
        f"{PREP}/jpeg/manifest.json",
    params:
        code=digest("prepare_jpeg", "verbs.prepare"),
        libs=LIBS_NUMERIC,
        quality=92,
    log:
        f"results/logs/prepare_jpeg/{DATASET}.log",
    benchmark:
        f"results/benchmarks/prepare_jpeg/{DATASET}.tsv"
    threads: 2
    shell:
        "depthrepro prepare jpeg --raw-root {RAW_ROOT} --out {PREP}/jpeg --quality {params.quality} "
        "--workers {threads} > {log} 2>&1"


# Test splits whose ground truth lives in a companion tree, by the data format of that tree.
GT_SPLIT_FORMAT = {"nyu": "nyuv2", "nyu_h5": "nyuv2", "odometry": "kitti_odometry_mr"}


def gt_tree(wildcards):
    return format_tree(GT_SPLIT_FORMAT.get(wildcards.split, "kitti_raw"))


rule export_gt:
    input:
        dvc="data.dvc",
        raw=lambda wc: ancient(f"{gt_tree(wc)['raw_root']}/manifest.json"),
        split=lambda wc: ancient(split_file(wc.split, "test", GT_SPLIT_FORMAT.get(wc.split, "kitti_raw"))),
    output:
        f"{PREP}/gt/{{split}}.npz",
    params:
        code=digest("export_gt", "verbs.prepare"),
        libs=LIBS_NUMERIC,
        raw_root=lambda wc: gt_tree(wc)["raw_root"],
    log:
        f"results/logs/export_gt/{DATASET}_{{split}}.log",
    benchmark:
        f"results/benchmarks/export_gt/{DATASET}_{{split}}.tsv"
    threads: 2
    shell:
        "depthrepro prepare gt --raw-root {params.raw_root} --split-file {input.split} --kind {wildcards.split} "
        "--out {output} --workers {threads} > {log} 2>&1"


rule depth_hints:
    input:
        dvc="data.dvc",
        images=f"{PREP}/jpeg/manifest.json",
        split=lambda wc: ancient(split_file(wc.split, "train")),
    output:
        f"{PREP}/depth_hints/{{split}}_{{height}}x{{width}}/manifest.json",
    params:
        code=digest("depth_hints", "verbs.prepare"),
        libs=LIBS_TORCH,
        out=lambda wc: f"{PREP}/depth_hints/{wc.split}_{wc.height}x{wc.width}",
    log:
        f"results/logs/depth_hints/{DATASET}_{{split}}_{{height}}x{{width}}.log",
    benchmark:
        f"results/benchmarks/depth_hints/{DATASET}_{{split}}_{{height}}x{{width}}.tsv"
    wildcard_constraints:
        height=r"\d+",
        width=r"\d+",
    threads: 2
    shell:
        "depthrepro prepare depth-hints --root {PREP}/jpeg --split-file {input.split} --out {params.out} "
        "--height {wildcards.height} --width {wildcards.width} --workers {threads} > {log} 2>&1"


rule colmap_poses:
    input:
        dvc="data.dvc",
        raw=ancient(f"{format_tree('nyuv2')['raw_root']}/manifest.json"),
        train=ancient(split_file("nyu", "train", "nyuv2")),
        val=ancient(split_file("nyu", "val", "nyuv2")),
    output:
        # files, not the folder: finished scenes survive a failed run and the step resumes
        f"{PREP}/colmap/manifest.json",
        f"{PREP}/colmap/splits/nyu/train_files.txt",
        f"{PREP}/colmap/splits/nyu/val_files.txt",
    params:
        code=digest("colmap_poses", "verbs.prepare"),
        libs=library_versions(["pycolmap", "numpy", "opencv-python-headless"]),
        root=lambda wc: format_tree("nyuv2")["raw_root"],
        split_dir=lambda wc: f"{format_tree('nyuv2')['splits']}/nyu",
    log:
        f"results/logs/colmap_poses/{DATASET}.log",
    benchmark:
        f"results/benchmarks/colmap_poses/{DATASET}.tsv"
    threads: 2
    shell:
        "depthrepro prepare colmap-poses --root {params.root} --split-dir {params.split_dir} "
        "--out {PREP}/colmap --threads {threads} > {log} 2>&1"


def prepared_for_report(wildcards):
    """What `prepare --report` measures: the JPEG tree, the GT of every test split the dataset's trees have,
    the depth hints of the configured methods that train with them, and the coarse poses when there is an
    NYUv2 tree."""
    companions = DS.get("companions", {})
    splits = ["eigen", "eigen_benchmark", *(s for s, fmt in GT_SPLIT_FORMAT.items() if fmt in companions)]
    files = {"jpeg": f"{PREP}/jpeg/manifest.json", "gt": [f"{PREP}/gt/{s}.npz" for s in splits],
             "hints": sorted({f"{depth_hints_dir(m)}/manifest.json" for m in config["methods"]
                              if method_params(m)["data"].get("depth_hints")})}
    if "nyuv2" in companions:
        files["colmap"] = f"{PREP}/colmap/manifest.json"
    return files


rule prepare_report:
    input:
        unpack(prepared_for_report),
    output:
        f"{PREP}/report.json",
    params:
        code=digest("prepare_report", "verbs.prepare"),
        libs=LIBS_TORCH,
    log:
        f"results/logs/prepare_report/{DATASET}.log",
    shell:
        "depthrepro prepare --report --dataset {DATASET} --prepared {PREP} --json {output} > {log} 2>&1"
