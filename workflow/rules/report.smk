# Tables: reported numbers beside reproduced ones, with provenance footers.


rule table:
    input:
        metrics=table_metrics,
        official=table_official_metrics,
        tables="params/tables.yaml",
        releases="params/releases.yaml",
        reported=lambda wc: TABLES[wc.table]["reported"],
        dvc="data.dvc",
    output:
        md="results/tables/{table}.md",
        tex="results/tables/{table}.tex",
        html="results/tables/{table}.html",
    params:
        code=digest("table"),
        dataset=DATASET,
        profile=PROFILE,
        data_missing=lambda wc: table_data_missing(wc.table),
    log:
        "results/logs/table/{table}.log",
    shell:
        "depthrepro table --table {wildcards.table} --dataset {DATASET} --profile {PROFILE} "
        "--unscored={params.data_missing:q} "
        "--out {output.md} --formats md,tex,html {input.metrics} {input.official} > {log} 2>&1"


# The report: one self-contained HTML page of every configured table, the figures drawn from the
# predictions, GT and training runs behind the tables' numbers, the protocols and each number's provenance.
LIBS_REPORT = library_versions(["numpy", "opencv-python-headless", "pillow", "matplotlib", "mlflow"])


def report_files(wildcards):
    """Metrics of every configured table and what the figures read behind them, per input name (a pose
    table: its pose predictions), and the pose evaluations of params/report.yaml `odometry_poses`."""
    files = {"metrics": set(), "predictions": set(), "gt": set(), "train": set(), "pose_predictions": set()}
    for table in config["tables"]:
        protocol = TABLES[table]["protocol"]
        pose = protocol in POSE_PROTOCOLS
        if table_data_missing(table) or (pose and not pose_sequences(protocol)):
            continue
        for method in table_methods(table):
            for seed in config["seeds"]:
                run = {"method": method, "seed": seed}
                files["train"].add(f"{CKPT.format(**run)}/train.json")
                for weights in ("init", "final"):
                    files["metrics"].add(METRICS.format(weights=weights, **run) + f"/{protocol}.json")
                    if pose:
                        poses = pose_prediction_files(protocol, weights=weights, **run)
                        files["pose_predictions"].update(poses.values())
                    elif protocol in PROTOCOLS:
                        split = protocol_split(protocol)
                        files["predictions"].add(PRED.format(weights=weights, **run) + f"/{split}.npz")
                        files["gt"].add(f"{PREP}/gt/{split}.npz")
    for method, protocol in _load_yaml("params/report.yaml")["odometry_poses"].items():
        if method not in config["methods"] or not pose_sequences(protocol) or tree_missing("kitti_odometry"):
            continue
        for seed in config["seeds"]:
            for weights in ("init", "final"):
                run = {"method": method, "seed": seed, "weights": weights}
                files["metrics"].add(METRICS.format(**run) + f"/{protocol}.json")
                files["pose_predictions"].update(pose_prediction_files(protocol, **run).values())
    return {name: sorted(paths) for name, paths in files.items()}


def dynamic_region_metrics(wildcards):
    """Metrics of the report's dynamic-region section: every configured params file that params/report.yaml
    names under `dynamic_regions`, scored under the protocol named there (trained weights, every seed);
    none when the dataset has no odometry tree with moving-object masks."""
    if "kitti_odometry_mr" not in DS.get("companions", {}) or tree_missing("kitti_odometry_mr"):
        return []
    protocols = _load_yaml("params/report.yaml")["dynamic_regions"]
    return [METRICS.format(method=m, seed=s, weights="final") + f"/{protocols[m]}.json"
            for m in config["methods"] if m in protocols for s in config["seeds"]]


def unscored_run_files(wildcards=None):
    """train.json of every run no table scores: configured params files and the runs they start from
    (`depends_on`) whose params set no protocol and no pose protocol, when their data tree is available."""
    names, queue = [], list(config["methods"])
    while queue:
        method = queue.pop(0)
        if method not in names:
            names.append(method)
            queue += list(method_params(method).get("depends_on", {}).values())
    return [f"{CKPT.format(method=m, seed=s)}/train.json" for m in names
            if method_params(m).get("protocol") is None and not method_params(m).get("pose_protocol")
            and not tree_missing(method_format(m)) for s in config["seeds"]]


rule report:
    input:
        unpack(report_files),
        dynamic_regions=dynamic_region_metrics,
        pose_ablation=pose_ablation_files,
        unscored_runs=unscored_run_files,
        tables=expand("results/tables/{table}.html", table=config["tables"]),
        images=f"{PREP}/jpeg/manifest.json",
        params=["params/tables.yaml", "params/protocols.yaml", "params/datasets.yaml", "params/report.yaml"],
        methods=expand("params/methods/{method}.yaml", method=config["methods"]),
    output:
        html="results/report.html",
        figures=directory("results/figures"),
    params:
        code=digest("report"),
        libs=LIBS_REPORT,
    log:
        "results/logs/report.log",
    shell:
        "depthrepro report --dataset {DATASET} --profile {PROFILE} --out {output.html} "
        "--figures-dir {output.figures} --tables {input.tables} --metrics {input.metrics} "
        "--dynamic-regions {input.dynamic_regions} --pose-ablation {input.pose_ablation} "
        "--unscored-runs {input.unscored_runs} > {log} 2>&1"
