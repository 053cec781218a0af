"""Disparities predicted elsewhere (`.npy`/`.npz`, as the seed repositories save them) are scored like ours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthrepro.cli import main
from depthrepro.evaluate.post_process import batch_post_process_disparity
from depthrepro.evaluate.protocols import load_protocol
from depthrepro.evaluate.score import score_depth

PROTOCOLS = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"
LINES = ["2011_09_26/2011_09_26_drive_0002_sync 69 l", "2011_09_26/2011_09_26_drive_0002_sync 54 l",
         "2011_09_26/2011_09_26_drive_0002_sync 42 l"]


@pytest.fixture
def case(tmp_path: Path) -> dict:
    rng = np.random.default_rng(3)
    gt = [np.where(rng.random((40, 120)) < 0.5, rng.uniform(3, 60, (40, 120)), 0).astype(np.float32)
          for _ in LINES]
    gt_path = tmp_path / "gt.npz"
    np.savez(gt_path, entries=np.array(LINES), **{f"depth_{i:05d}": d for i, d in enumerate(gt)})
    split = tmp_path / "test_files.txt"
    split.write_text("\n".join(LINES) + "\n")
    disp = rng.uniform(0.05, 0.5, (len(LINES), 16, 48)).astype(np.float32)
    return {"gt": gt, "gt_path": gt_path, "split": split, "disp": disp, "tmp": tmp_path}


def _import_and_score(case: dict, source: Path, protocol: str, *flags: str) -> dict:
    pred, out = case["tmp"] / "pred.npz", case["tmp"] / "metrics.json"
    assert main(["import-predictions", "--disparities", str(source), "--split-file", str(case["split"]),
                 "--method", "their_model", "--out", str(pred), *flags]) == 0
    assert main(["score", "--predictions", str(pred), "--gt", str(case["gt_path"]), "--protocol", protocol,
                 "--out", str(out), "--results-dir", str(case["tmp"] / "results")]) == 0
    return json.loads(out.read_text())


def test_stereo_npy_scores_as_the_evaluator_would(case: dict) -> None:
    source = case["tmp"] / "disps.npy"
    np.save(source, case["disp"])
    record = _import_and_score(case, source, "kitti_eigen", "--trained-with-stereo")
    expected = score_depth(case["disp"], case["gt"], load_protocol("kitti_eigen", PROTOCOLS), stereo_trained=True)
    assert record["scaling"] == {"kind": "fixed", "factor": pytest.approx(5.4)}
    assert record["mean"]["abs_rel"] == pytest.approx(expected.mean_dict()["abs_rel"])
    assert record["provenance"]["method"] == "their_model" and record["provenance"]["weights"] == "external"


def test_post_processed_maps_are_not_blended_twice(case: dict) -> None:
    blended = batch_post_process_disparity(case["disp"], case["disp"][:, :, ::-1] * 1.1)
    source = case["tmp"] / "disparities.npz"
    np.savez(source, disparities=blended, other=np.zeros(1))
    record = _import_and_score(case, source, "kitti_eigen_pp", "--key", "disparities", "--post-processed",
                               "--trained-with-stereo", "--stereo-training-baseline", "0.015")
    expected = score_depth(blended, case["gt"], load_protocol("kitti_eigen_pp", PROTOCOLS), stereo_trained=True,
                           stereo_training_baseline=0.015)
    assert record["scaling"]["factor"] == pytest.approx(36.0)
    assert record["mean"]["abs_rel"] == pytest.approx(expected.mean_dict()["abs_rel"])
    with pytest.raises(SystemExit, match="already flip post-processed"):
        _import_and_score(case, source, "kitti_eigen", "--key", "disparities", "--post-processed")


@pytest.mark.parametrize("array, message", [
    (np.ones((2, 16, 48), np.float32), "2 disparity maps for 3 lines"),
    (np.ones((3, 16), np.float32), r"expected disparities of shape \(N, H, W\)"),
    (np.full((3, 16, 48), np.nan, np.float32), "finite and positive"),
])
def test_bad_arrays_are_refused_naming_the_file(case: dict, array: np.ndarray, message: str) -> None:
    source = case["tmp"] / "bad.npy"
    np.save(source, array)
    with pytest.raises(SystemExit, match=message) as error:
        main(["import-predictions", "--disparities", str(source), "--split-file", str(case["split"]),
              "--method", "m", "--out", str(case["tmp"] / "p.npz")])
    assert "bad.npy" in str(error.value)
    assert not (case["tmp"] / "p.npz").exists()
