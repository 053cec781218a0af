"""The audit chain of pose metrics (one file per sequence) and of an imported release's metrics."""

from __future__ import annotations

import json
from pathlib import Path

from depthrepro.io.file_hash import file_sha256
from depthrepro.provenance.audit import audit_metrics


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return file_sha256(path)


def _provenance(tmp: Path, weights: str) -> dict:
    checkpoint = tmp / "ckpt" / "x.pt"
    return {"method": "m", "weights": weights, "checkpoint": str(checkpoint),
            "checkpoint.sha256": _write(checkpoint, "weights"), "data.md5": "", "code.digest": "d"}


def test_pose_metrics_link_every_sequence_and_flag_an_edited_one(tmp_path: Path) -> None:
    prov = _provenance(tmp_path, "final")
    poses, gt = tmp_path / "poses_00.npz", tmp_path / "gt_00.txt"
    prov.update({"poses": {"09": str(poses)}, "gt_poses": {"09": str(gt)},
                 "poses.09.sha256": _write(poses, "p"), "gt.09.sha256": _write(gt, "g"), "train": {}})
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"protocol": {"name": "kitti_odom_segments_featdepth"}, "mean": {},
                                   "provenance": prov}))
    links = {link.name: link for link in audit_metrics(metrics, tmp_path / "absent.dvc")}
    assert links["poses 09"].status == "ok" and links["ground-truth poses 09"].status == "ok"
    poses.write_text("edited")
    links = {link.name: link for link in audit_metrics(metrics, tmp_path / "absent.dvc")}
    assert links["poses 09"].status == "MISMATCH"


def test_official_metrics_link_the_import_record_and_the_released_files(tmp_path: Path) -> None:
    prov = _provenance(tmp_path, "official")
    released = tmp_path / "resources" / "encoder.pth"
    prov.update({"predictions": str(tmp_path / "p.npz"), "predictions.sha256": _write(tmp_path / "p.npz", "p"),
                 "gt": str(tmp_path / "gt.npz"), "gt.sha256": _write(tmp_path / "gt.npz", "g"),
                 "train": {"release": "r", "files": {str(released): _write(released, "authors")}}})
    _write(Path(prov["checkpoint"]).with_suffix(".json"), "{}")
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"protocol": {"name": "kitti_eigen"}, "mean": {}, "provenance": prov}))
    links = {link.name: link for link in audit_metrics(metrics, tmp_path / "absent.dvc")}
    assert links["release import record"].status == "ok" and links["released file"].status == "ok"
    assert "training run" not in links
    released.write_text("another file")
    assert {link.name: link for link in audit_metrics(metrics)}["released file"].status == "MISMATCH"


def test_a_run_on_a_raw_companion_tree_links_its_images_to_the_raw_data(tmp_path: Path) -> None:
    """Trees read as rendered or downloaded (no prepared JPEG hash) are recorded as raw images, and audit agrees."""
    prov = _provenance(tmp_path, "final")
    images = tmp_path / "nyuv2"
    _write(images / "manifest.json", json.dumps({"dataset": "nyuv2"}))
    _write(Path(prov["checkpoint"]).parent / "train.json", json.dumps({"mlflow_run_id": "run"}))
    prov["train"] = {"mlflow_run_id": "run", "prepared.images": str(images), "prepared.jpeg_sha256": "raw images"}
    prov.update({"predictions": str(tmp_path / "p.npz"), "predictions.sha256": _write(tmp_path / "p.npz", "p"),
                 "gt": str(tmp_path / "gt.npz"), "gt.sha256": _write(tmp_path / "gt.npz", "g")})
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"protocol": {"name": "nyu"}, "mean": {}, "provenance": prov}))
    links = {link.name: link for link in audit_metrics(metrics, tmp_path / "absent.dvc")}
    assert links["prepared images"].status == "ok"
    _write(images / "manifest.json", json.dumps({"jpeg_tree_sha256": "abc"}))
    links = {link.name: link for link in audit_metrics(metrics, tmp_path / "absent.dvc")}
    assert links["prepared images"].status == "MISMATCH"
