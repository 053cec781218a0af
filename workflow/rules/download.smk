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

    rule download_odometry:
        output:
            f"results/downloads/{DATASET}_odometry.json",
        params:
            code=digest("download"),
        log:
            f"results/logs/download/{DATASET}_odometry.log",
        resources:
            downloads=1,
        shell:
            "depthrepro download --group kitti_odometry --group monorec_odometry "
            "--name split_odom_train_files --name split_odom_val_files --name split_odom_test_files_09 "
            "--name split_odom_test_files_10 --unpack --no-progress --manifest {output} > {log} 2>&1"

    rule odometry_tree:
        input:
            f"results/downloads/{DATASET}_odometry.json",
            f"results/downloads/{DATASET}_annotated.json",
        output:
            f"{format_tree('kitti_odometry_mr')['raw_root']}/manifest.json",
            [split_file("odometry", part, "kitti_odometry_mr") for part in ("train", "test")],
            split_file("odom", "train", "kitti_odometry"),
        params:
            code=digest("odometry_tree", "verbs.prepare"),
            out=format_tree("kitti_odometry_mr")["raw_root"],
        log:
            f"results/logs/prepare/{DATASET}_odometry_tree.log",
        shell:
            "depthrepro prepare odometry-tree --out {params.out} > {log} 2>&1"

    # NYUv2's bundle and P2Net's h5 files are OneDrive pages (manual archives): this rule fails with their
    # instructions until they are saved where the catalogue says; tables on NYUv2 say so meanwhile.
    rule download_nyu:
        output:
            f"results/downloads/{DATASET}_nyu.json",
        params:
            code=digest("download"),
        log:
            f"results/logs/download/{DATASET}_nyu.log",
        resources:
            downloads=1,
        shell:
            "depthrepro download --name sc_depth_nyu --name p2net_nyu_test --name gasmono_split_train_files "
            "--name gasmono_split_val_files --name gasmono_split_test_files --name epcdepth_nyu_test_list "
            "--unpack --no-progress --manifest {output} > {log} 2>&1"

    rule nyu_tree:
        input:
            f"results/downloads/{DATASET}_nyu.json",
        output:
            f"{format_tree('nyuv2')['raw_root']}/manifest.json",
            [split_file("nyu", part, "nyuv2") for part in ("train", "val", "test")],
            split_file("nyu_h5", "test", "nyuv2"),
        params:
            code=digest("nyu_tree", "verbs.prepare"),
            out=format_tree("nyuv2")["raw_root"],
        log:
            f"results/logs/prepare/{DATASET}_nyu_tree.log",
        shell:
            "depthrepro prepare nyu-tree --out {params.out} > {log} 2>&1"

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
