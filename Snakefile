# depthrepro: `snakemake --cores 8 --resources gpu=1 all_tables` regenerates every configured table.
# With no --configfile it runs on the embedded synthetic world; the real-data path is
# `--configfile params/profiles/paper.yaml`. Rules are thin: each shell calls one `depthrepro` verb.

configfile: "params/profiles/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/pose.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/report.smk"


rule all_tables:
    input:
        expand("results/tables/{table}.md", table=config["tables"]),
        "results/report.html",
    default_target: True


onsuccess:
    print("Tables: " + ", ".join(expand("results/tables/{table}.md", table=config["tables"])))
    print("Report: results/report.html")
