# Tables: reported numbers beside reproduced ones, with provenance footers.


rule table:
    input:
        metrics=table_metrics,
        tables="params/tables.yaml",
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
    log:
        "results/logs/table/{table}.log",
    shell:
        "depthrepro table --table {wildcards.table} --dataset {DATASET} --profile {PROFILE} "
        "--out {output.md} --formats md,tex,html {input.metrics} > {log} 2>&1"


# The report: one self-contained HTML page of every configured table, the figures drawn from the
# predictions, GT and training runs behind the tables' numbers, the protocols and each number's provenance.
LIBS_REPORT = library_versions(["numpy", "opencv-python-headless", "pillow", "matplotlib", "mlflow"])


def report_files(wildcards):
    """Metrics of every configured table and what the figures read behind them, per input name."""
    files = {"metrics": set(), "predictions": set(), "gt": set(), "train": set()}
    for table in config["tables"]:
        protocol = TABLES[table]["protocol"]
        for method in table_methods(table):
            for seed in config["seeds"]:
                run = {"method": method, "seed": seed}
                files["train"].add(f"{CKPT.format(**run)}/train.json")
                for weights in ("init", "final"):
                    files["metrics"].add(METRICS.format(weights=weights, **run) + f"/{protocol}.json")
                    if protocol in PROTOCOLS:
                        split = protocol_split(protocol)
                        files["predictions"].add(PRED.format(weights=weights, **run) + f"/{split}.npz")
                        files["gt"].add(f"{PREP}/gt/{split}.npz")
    return {name: sorted(paths) for name, paths in files.items()}


rule report:
    input:
        unpack(report_files),
        tables=expand("results/tables/{table}.html", table=config["tables"]),
        images=f"{PREP}/jpeg/manifest.json",
        params=["params/tables.yaml", "params/protocols.yaml", "params/datasets.yaml"],
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
        "--figures-dir {output.figures} --tables {input.tables} --metrics {input.metrics} > {log} 2>&1"
