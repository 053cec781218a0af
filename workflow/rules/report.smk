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
