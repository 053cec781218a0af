# Shared helpers of the rules: config validation, params lookups, code digests. No pipeline logic here.
import csv
import json
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from depthrepro.provenance.code_digest import code_digest, library_versions  # noqa: E402

ROOT = Path(workflow.basedir)
SRC = ROOT / "src"

validate(config, "../schemas/config.schema.yaml")


def _load_yaml(path):
    with open(ROOT / path) as f:
        return yaml.safe_load(f)


DATASETS = _load_yaml("params/datasets.yaml")
validate(DATASETS, "../schemas/datasets.schema.yaml")
if config["dataset"] not in DATASETS:
    raise ValueError(f"config dataset {config['dataset']!r} is not in params/datasets.yaml "
                     f"(known: {', '.join(DATASETS)})")
DATASET = config["dataset"]
DS = DATASETS[DATASET]
PROFILE = config["profile"]
TABLES = _load_yaml("params/tables.yaml")
_PROTOCOL_DOC = _load_yaml("params/protocols.yaml")
PROTOCOLS = _PROTOCOL_DOC["protocols"]


def protocol_definition(name):
    """A protocol's entry with its crop definition, as the score rule's params (a rerun trigger)."""
    entry = dict(PROTOCOLS[name])
    entry["crop_definition"] = _PROTOCOL_DOC.get("crops", {}).get(entry["crop"])
    return json.dumps(entry, sort_keys=True)
for _t in config["tables"]:
    if _t not in TABLES:
        raise ValueError(f"config table {_t!r} is not in params/tables.yaml (known: {', '.join(TABLES)})")


# Files under resources/ (ImageNet weights, released checkpoints) by destination → catalogue name.
RESOURCE_ARCHIVES = {
    a["dest"]: a["name"]
    for group in _load_yaml("params/downloads.yaml")["groups"].values()
    for a in group["archives"]
    if a["dest"].startswith("resources/")
}


def method_params(method):
    """params/methods/<method>.yaml, with a clear error when missing."""
    path = ROOT / "params" / "methods" / f"{method}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no params file for method {method!r}")
    return _load_yaml(path.relative_to(ROOT))


def method_digest(method):
    """Digest of what a method's training reads from its params file (its profile, model and data keys)."""
    p = method_params(method)
    if PROFILE not in p.get("profiles", {}):
        raise KeyError(f"params/methods/{method}.yaml: no profile {PROFILE!r}")
    used = {k: v for k, v in p.items() if k != "profiles"}
    used["profile"] = p["profiles"][PROFILE]
    return json.dumps(used, sort_keys=True)


def digest(verb, *modules):
    """Digest of the import closure of `depthrepro.verbs.<verb>` and of extra `depthrepro.<module>`s."""
    return code_digest(SRC, [f"depthrepro.verbs.{verb}", *(f"depthrepro.{m}" for m in modules)])


def method_code(verb):
    """Params function: the digest of a verb plus the method module it builds through the registry."""
    return lambda wc: digest(verb, f"methods.{wc.method}")


LIBS_NUMERIC = library_versions(["numpy", "opencv-python-headless", "pillow"])
LIBS_TORCH = library_versions(["torch", "numpy", "opencv-python-headless", "pillow"])

# Result paths: one place for each.
RAW_ROOT = DS["raw_root"]
RAW_MANIFEST = f"{RAW_ROOT}/manifest.json"
PREP = f"results/prepared/{DATASET}"
RUN = f"{DATASET}/{PROFILE}"
CKPT = f"results/checkpoints/{RUN}/{{method}}/seed{{seed}}"
PRED = f"results/predictions/{RUN}/{{method}}/seed{{seed}}/{{weights}}"
METRICS = f"results/metrics/{RUN}/{{method}}/seed{{seed}}/{{weights}}"


def split_file(split, part):
    return f"{DS['splits']}/{split}/{part}_files.txt"


# Split files the raw-data rule provides (monodepth2's split names and format).
SPLIT_FILES = [split_file("eigen", "test"), split_file("eigen_benchmark", "test"),
               split_file("eigen_zhou", "train"), split_file("eigen_zhou", "val")]


def init_weights(wildcards):
    """The ImageNet weights file a method's training starts from under this profile (none for scratch)."""
    p = method_params(wildcards.method)
    return [p["imagenet_weights"]] if p["profiles"][PROFILE]["weights_init"] == "pretrained" else []


def table_methods(table):
    """Configured methods that reproduce a row of `table` (per its reported-numbers CSV)."""
    with open(ROOT / TABLES[table]["reported"], newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["table"] == table]
    return [m for m in config["methods"] if any(r["method"] == m for r in rows)]


def table_metrics(wildcards):
    """Metrics files a table needs: each of its configured methods and seeds, trained and untrained."""
    protocol = TABLES[wildcards.table]["protocol"]
    return [
        METRICS.format(method=m, seed=s, weights=w) + f"/{protocol}.json"
        for m in table_methods(wildcards.table) for s in config["seeds"] for w in ("init", "final")
    ]
