# Tables: reported numbers beside reproduced ones, with provenance footers.


rule table:
    input:
        metrics=table_metrics,
        tables="params/tables.yaml",
        reported=lambda wc: TABLES[wc.table]["reported"],
        dvc="data.dvc",
    output:
        "results/tables/{table}.md",
    params:
        code=digest("table"),
        dataset=DATASET,
        profile=PROFILE,
    log:
        "results/logs/table/{table}.log",
    shell:
        "depthrepro table --table {wildcards.table} --dataset {DATASET} --profile {PROFILE} "
        "--out {output} {input.metrics} > {log} 2>&1"
