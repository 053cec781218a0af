# Shared helpers of the rules: config validation, params lookups, code digests. No pipeline logic here.
import csv
import functools
import json
import re
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from depthrepro.prepare.releases import load_releases  # noqa: E402
from depthrepro.provenance.code_digest import DigestCache, code_digest, library_versions  # noqa: E402

ROOT = Path(workflow.basedir)
SRC = ROOT / "src"

validate(config, "../schemas/config.schema.yaml")


def _load_yaml(path):
    with open(ROOT / path) as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


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


# Every catalogue archive's destination file, by name.
CATALOGUE_DEST = {
    a["name"]: a["dest"] for group in _load_yaml("params/downloads.yaml")["groups"].values() for a in group["archives"]
}
# Files under resources/ (ImageNet weights, released checkpoints) by destination → catalogue name.
RESOURCE_ARCHIVES = {dest: name for name, dest in CATALOGUE_DEST.items() if dest.startswith("resources/")}


# Official evaluations of the authors' released checkpoints (params/releases.yaml).
RELEASES = load_releases(ROOT / "params" / "releases.yaml", ROOT / "params" / "downloads.yaml")


@functools.cache  # read once per DAG build; callers must not modify the returned dict
def method_params(method):
    """params/methods/<method>.yaml, with a clear error when missing."""
    path = ROOT / "params" / "methods" / f"{method}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no params file for method {method!r}")
    return _load_yaml(path.relative_to(ROOT))


def method_profile(method, profile=PROFILE):
    """A method's profile (`profiles.<profile>` of its params file), with a clear error when missing."""
    profiles = method_params(method).get("profiles", {})
    if profile not in profiles:
        raise KeyError(f"params/methods/{method}.yaml: no profile {profile!r}")
    return profiles[profile]


def method_digest(method, profile=PROFILE):
    """Digest of what a method's training reads from its params file (its profile, model and data keys)."""
    used = {k: v for k, v in method_params(method).items() if k != "profiles"}
    used["profile"] = method_profile(method, profile)
    return json.dumps(used, sort_keys=True)


# Parse results of earlier DAG builds, keyed by file contents: an unchanged tree is hashed, not parsed.
DIGEST_CACHE = DigestCache(Path(".snakemake/depthrepro/code_digests.json"))


@functools.cache
def digest(verb, *modules):
    """Digest of the import closure of `depthrepro.verbs.<verb>` and of extra `depthrepro.<module>`s."""
    return code_digest(SRC, [f"depthrepro.verbs.{verb}", *(f"depthrepro.{m}" for m in modules)], cache=DIGEST_CACHE)


# Registered method name → its module, read from the decorators (no import of torch at DAG build);
# decorators name methods with string literals for this reason.
REGISTERED = {
    name: path.stem
    for path in sorted((SRC / "depthrepro" / "methods").glob("*.py"))
    for name in re.findall(r'@register_method\("([^"]+)"\)', path.read_text())
}


def method_module(method):
    """`methods.<module>` that a params file's registered `method:` lives in."""
    registered = method_params(method).get("method", method)
    if registered not in REGISTERED:
        raise KeyError(f"params/methods/{method}.yaml: method {registered!r} is not registered "
                       f"(known: {', '.join(sorted(REGISTERED))})")
    return f"methods.{REGISTERED[registered]}"


def method_code(verb):
    """Params function: the digest of a verb plus the method module it builds through the registry."""
    return lambda wc: digest(verb, method_module(wc.method))


LIBS_NUMERIC = library_versions(["numpy", "opencv-python-headless", "pillow"])
LIBS_TORCH = library_versions(["torch", "numpy", "opencv-python-headless", "pillow"])

# Result paths: one place for each.
RAW_ROOT = DS["raw_root"]
RAW_MANIFEST = f"{RAW_ROOT}/manifest.json"
PREP = f"results/prepared/{DATASET}"
RUN = f"{DATASET}/{PROFILE}"
CKPT = f"results/checkpoints/{RUN}/{{method}}/seed{{seed}}"
# Training runs of any profile: a profile may warm-start from a checkpoint another profile keeps.
TRAIN_RUN = f"results/checkpoints/{DATASET}/{{profile}}/{{method}}/seed{{seed}}"
PRED = f"results/predictions/{RUN}/{{method}}/seed{{seed}}/{{weights}}"
METRICS = f"results/metrics/{RUN}/{{method}}/seed{{seed}}/{{weights}}"
# An imported release does not depend on the dataset; its predictions and scores do (not on the profile).
OFFICIAL_CKPT = "results/official/checkpoints/{release}"
OFFICIAL_PRED = f"results/predictions/{DATASET}/official/{{release}}"
OFFICIAL_METRICS = f"results/metrics/{DATASET}/official/{{release}}"


def split_file(split, part, fmt="kitti_raw"):
    """`<splits>/<split>/<part>_files.txt` in the tree of a data format (KITTI raw or a companion)."""
    return f"{format_tree(fmt)['splits']}/{split}/{part}_files.txt"


def format_tree(fmt):
    """{"raw_root", "splits"} of the active dataset's tree in a data format."""
    if fmt == "kitti_raw":
        return {"raw_root": RAW_ROOT, "splits": DS["splits"]}
    trees = DS.get("companions", {})
    if fmt not in trees:
        raise KeyError(f"params/datasets.yaml: dataset {DATASET!r} has no companions.{fmt} tree")
    return trees[fmt]


def method_format(method):
    return method_params(method).get("data", {}).get("format", "kitti_raw")


def method_images(method):
    """Image tree a method trains and predicts on: KITTI raw as JPEGs, the companion trees as they are."""
    fmt = method_format(method)
    return f"{PREP}/jpeg" if fmt == "kitti_raw" else format_tree(fmt)["raw_root"]


def method_images_marker(method):
    """The file whose presence marks the method's image tree complete."""
    fmt = method_format(method)
    return f"{PREP}/jpeg/manifest.json" if fmt == "kitti_raw" else ancient(f"{format_tree(fmt)['raw_root']}/manifest.json")


# Split files the raw-data rule provides (monodepth2's split names and format).
SPLIT_FILES = [split_file("eigen", "test"), split_file("eigen_benchmark", "test"),
               split_file("eigen_zhou", "train"), split_file("eigen_zhou", "val"),
               split_file("eigen_full", "train"), split_file("eigen_full", "val")]
# Files of the companion trees that rules read: each tree's manifest (once: trees may share a folder) and split files.
COMPANION_FILES = [
    *dict.fromkeys(f"{tree['raw_root']}/manifest.json" for tree in DS.get("companions", {}).values()),
    *([split_file("odometry", part, "kitti_odometry_mr") for part in ("train", "test")]
      if "kitti_odometry_mr" in DS.get("companions", {}) else []),
    *([split_file("odom", "train", "kitti_odometry")] if "kitti_odometry" in DS.get("companions", {}) else []),
    *([split_file("nyu", part, "nyuv2") for part in ("train", "val", "test")]
      + [split_file("nyu_h5", "test", "nyuv2")] if "nyuv2" in DS.get("companions", {}) else []),
    *([split_file(sequence, "train", "euroc") for sequence in ("MH_04_difficult", "MH_02_easy")]
      if "euroc" in DS.get("companions", {}) else []),
]


def init_weights(wildcards):
    """The ImageNet weights file a method's training starts from under its profile (none for scratch)."""
    p = method_params(wildcards.method)
    profile = method_profile(wildcards.method, wildcards.profile)
    if profile["weights_init"] != "pretrained":
        return []
    spec = profile.get("imagenet_weights", p["imagenet_weights"])
    files = list(spec.values()) if isinstance(spec, dict) else [spec]
    return [*files, *([p["pose_imagenet_weights"]] if "pose_imagenet_weights" in p else [])]


@functools.cache
def table_rows(table):
    """The reported-numbers CSV rows of `table` (callers must not modify them)."""
    with open(ROOT / TABLES[table]["reported"], newline="") as f:
        return tuple(r for r in csv.DictReader(f) if r["table"] == table)


# Downloads that need a browser, per companion tree: until they are saved where the catalogue says, the
# tree cannot be built and its tables say why (`depthrepro download --name <archive>` prints the instructions).
MANUAL_TREE_ARCHIVES = {"nyuv2": ("sc_depth_nyu", "p2net_nyu_test")}


def tree_missing(fmt):
    """Why the active dataset's tree in a data format cannot be read or built ("" when it can): synthetic worlds
    render every tree; KITTI raw and the odometry trees have download and layout rules; NYUv2 needs its manual
    archives saved first."""
    if DS["source"] == "synthetic" or fmt == "kitti_raw":
        return ""
    tree = DS.get("companions", {}).get(fmt)
    if tree is None:
        return f"dataset {DATASET} has no {fmt} tree (params/datasets.yaml, companions)"
    if (ROOT / tree["raw_root"] / "manifest.json").is_file():
        return ""
    absent = [name for name in MANUAL_TREE_ARCHIVES.get(fmt, ()) if not (ROOT / CATALOGUE_DEST[name]).is_file()]
    if absent:
        return (f"the {fmt} tree needs archive(s) {', '.join(absent)}, downloaded by hand: "
                f"`depthrepro download --name {absent[0]}` says how")
    return ""


def table_data_missing(table):
    """Why the test data of a table's protocol is not available in this run ("" when it is)."""
    protocol = TABLES[table]["protocol"]
    if protocol in POSE_PROTOCOLS:
        return tree_missing("kitti_odometry")
    return tree_missing(GT_SPLIT_FORMAT.get(PROTOCOLS[protocol]["split"], "kitti_raw"))


def table_releases(table):
    """Downloaded releases behind the rows of `table` (the CSV's `official` column), when its protocol scores depth."""
    if TABLES[table]["protocol"] not in PROTOCOLS or table_data_missing(table):
        return []
    named = dict.fromkeys(r.get("official") or "" for r in table_rows(table))
    return [name for name in named if name and RELEASES[name].downloaded(ROOT)]


def table_official_metrics(wildcards):
    """Metrics files of the official evaluations a table shows."""
    protocol = TABLES[wildcards.table]["protocol"]
    return [OFFICIAL_METRICS.format(release=name) + f"/{protocol}.json" for name in table_releases(wildcards.table)]


def table_methods(table):
    """Configured methods that reproduce a row of `table` (per its reported-numbers CSV)."""
    rows = table_rows(table)
    if TABLES[table].get("unscored"):
        return []
    return [m for m in config["methods"] if any(r["method"] == m for r in rows)]


def table_metrics(wildcards):
    """Metrics files a table needs: each of its configured methods and seeds, trained and untrained (a pose
    table: when the dataset has a sequence standing in for one of its protocol's, see pose.smk)."""
    protocol = TABLES[wildcards.table]["protocol"]
    if table_data_missing(wildcards.table) or (protocol in POSE_PROTOCOLS and not pose_sequences(protocol)):
        return []
    return [
        METRICS.format(method=m, seed=s, weights=w) + f"/{protocol}.json"
        for m in table_methods(wildcards.table) for s in config["seeds"] for w in ("init", "final")
    ]
