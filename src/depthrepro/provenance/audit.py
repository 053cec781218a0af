"""The lineage of a metrics file: predictions → checkpoint → training run → prepared data → raw data.

Each link states the hash recorded when the number was produced and, where the artifact is on disk, the
hash it has now; a mismatch flags a stale or hand-edited artifact.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from depthrepro.io.file_hash import file_sha256
from depthrepro.provenance.repo_state import dvc_hash

RAW_IMAGES = "raw images"
"""What a training run records as its image tree's hash when it reads a tree as downloaded or rendered (the
companion trees): those images are covered by the raw data's hash, not by a prepared JPEG tree's."""


def images_tree_hash(manifest: dict) -> str:
    """The hash a training run records for the image tree whose ``manifest.json`` is ``manifest``."""
    return manifest.get("jpeg_tree_sha256", RAW_IMAGES)


@dataclass(frozen=True)
class Link:
    """One step of the chain; `status` is ok, MISMATCH, MISSING or recorded (nothing on disk to check)."""

    name: str
    path: str
    recorded: str
    actual: str
    status: str
    details: dict = field(default_factory=dict)


def _file_link(name: str, path: str, recorded: str, details: dict | None = None) -> Link:
    p = Path(path)
    if not p.is_file():
        return Link(name, path, recorded, "", "MISSING", details or {})
    actual = file_sha256(p)
    return Link(name, path, recorded, actual, "ok" if actual == recorded else "MISMATCH", details or {})


def audit_metrics(metrics_path: Path, data_dvc: Path = Path("data.dvc")) -> list[Link]:
    """The chain behind one metrics file written by `depthrepro score`."""
    record = json.loads(metrics_path.read_text())
    prov, train = record["provenance"], record["provenance"].get("train", {})
    chain = [Link("metrics", str(metrics_path), "", "", "ok",
                  {"protocol": record["protocol"]["name"], "mean": record["mean"],
                   "score_mlflow_run_id": prov.get("mlflow_run_id"), "score_code_digest": prov.get("code.digest")})]
    if "poses" in prov:  # a pose protocol: one predictions file and one GT file per sequence
        chain += [_file_link(f"poses {s}", path, prov[f"poses.{s}.sha256"]) for s, path in sorted(prov["poses"].items())]
        chain += [_file_link(f"ground-truth poses {s}", path, prov[f"gt.{s}.sha256"])
                  for s, path in sorted(prov["gt_poses"].items())]
    else:
        chain += [_file_link("predictions", prov["predictions"], prov["predictions.sha256"]),
                  _file_link("ground truth", prov["gt"], prov["gt.sha256"])]
    chain.append(_file_link("checkpoint", prov.get("checkpoint", ""), prov["checkpoint.sha256"],
                            {"method": prov["method"], "weights": prov["weights"]}))
    if prov["weights"] == "official":  # an imported release: its record and the authors' files
        record_path = Path(prov.get("checkpoint", "")).with_suffix(".json")
        chain.append(Link("release import record", str(record_path), "", "",
                          "ok" if record_path.is_file() else "MISSING",
                          {k: train.get(k) for k in ("release", "archive", "url", "params_name", "profile",
                                                     "code.digest", "git.commit")}))
        chain += [_file_link("released file", path, sha) for path, sha in sorted(train.get("files", {}).items())]
        return chain + [_raw_data_link(prov, data_dvc)]
    train_json = Path(prov.get("checkpoint", "")).parent / "train.json"
    on_disk = json.loads(train_json.read_text()) if train_json.is_file() else {}
    run_id = train.get("mlflow_run_id", "")
    status = "MISSING" if not on_disk else ("ok" if on_disk.get("mlflow_run_id") == run_id else "MISMATCH")
    chain.append(Link("training run", str(train_json), run_id, on_disk.get("mlflow_run_id", ""), status,
                      {k: train.get(k) for k in ("seed", "code.digest", "git.commit", "git.dirty", "weights_init",
                                                 "profile_params", "model_cfg", "steps")}))
    images = train.get("prepared.images", "")
    manifest = Path(images) / "manifest.json"
    actual = images_tree_hash(json.loads(manifest.read_text())) if manifest.is_file() else ""
    chain.append(Link("prepared images", str(manifest), train.get("prepared.jpeg_sha256", ""), actual,
                      "MISSING" if not actual else
                      ("ok" if actual == train.get("prepared.jpeg_sha256") else "MISMATCH")))
    return chain + [_raw_data_link(prov, data_dvc)]


def _raw_data_link(prov: dict, data_dvc: Path) -> Link:
    try:
        raw_actual = dvc_hash(data_dvc)
    except (FileNotFoundError, ValueError):
        raw_actual = ""
    recorded = prov.get("data.md5", "")
    return Link("raw data", str(data_dvc), recorded, raw_actual,
                "MISSING" if not raw_actual else ("ok" if raw_actual == recorded else "MISMATCH"))


def format_chain(chain: list[Link]) -> str:
    """Human-readable chain, one link per paragraph."""
    lines = []
    for link in chain:
        lines.append(f"[{link.status}] {link.name}: {link.path}")
        if link.recorded or link.actual:
            lines.append(f"    recorded {link.recorded or '-'}")
            if link.actual and link.actual != link.recorded:
                lines.append(f"    on disk  {link.actual}")
        lines += [f"    {k}: {json.dumps(v, default=str)}" for k, v in link.details.items() if v is not None]
    return "\n".join(lines)


def chain_to_json(chain: list[Link]) -> str:
    return json.dumps([asdict(link) for link in chain], indent=1, default=str)


def cell_metrics(results_dir: Path, protocol: str, method: str, weights: str, dataset: str = "*",
                 profile: str = "*") -> list[tuple[Path, dict]]:
    """Metrics files (one per seed) behind a table cell, with their mean metrics, at the fixed result paths."""
    pattern = f"metrics/{dataset}/{profile}/{method}/seed*/{weights}/{protocol}.json"
    return [(p, json.loads(p.read_text())["mean"]) for p in sorted(results_dir.glob(pattern))]
