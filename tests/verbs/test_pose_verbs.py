"""`depthrepro predict-poses` and `depthrepro score-poses` on the tiny rendered odometry world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from depthrepro.cli import main
from depthrepro.evaluate.pose_ate import gt_relative_poses
from depthrepro.io.kitti_odometry import poses_path, write_poses
from depthrepro.methods.registry import build_method
from depthrepro.synth.kitti_odometry import render_kitti_odometry
from depthrepro.verbs import predict_poses

REPO_ROOT = Path(__file__).resolve().parents[2]
CFG = {"height": 64, "width": 192, "frame_ids": [0, -1, 1]}
DATASETS = {"tiny": {"intrinsics": [[0.58, 0.0, 0.5], [0.0, 1.92, 0.5]],
                     "companions": {"kitti_odometry": {"raw_root": "x", "splits": "x", "pose_sequences": {"09": "00"}}}}}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odometry")
    render_kitti_odometry(root, preset="tiny", seed=0, workers=1)
    return root


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the files the verbs read there: data.dvc and the params."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.dvc").write_text("outs:\n- md5: 0123456789abcdef.dir\n  path: data\n")
    (tmp_path / "datasets.yaml").write_text(yaml.safe_dump(DATASETS))
    torch.manual_seed(0)
    model = build_method("monodepth2", CFG)
    torch.save({"method": "monodepth2", "params_name": "monodepth2", "model_cfg": CFG, "trained_with_stereo": False,
                "data": {"format": "kitti_raw"}, "stage": "final", "state": model.checkpoint_state()},
               tmp_path / "final.pt")
    return tmp_path


def predict(world: Path, out: Path, split: str = "test_files_00") -> int:
    return main(["predict-poses", "--checkpoint", "final.pt", "--images", str(world), "--split-file",
                 str(world / "splits" / "odom" / f"{split}.txt"), "--dataset", "tiny", "--datasets-file",
                 "datasets.yaml", "--out", str(out), "--batch-size", "5"])


def score(gt_root: Path, out: Path, protocol: str, *poses: str) -> dict:
    args = [item for p in poses for item in ("--poses", p)]
    main(["score-poses", *args, "--gt-root", str(gt_root), "--protocol", protocol, "--protocols-file",
          str(REPO_ROOT / "params" / "protocols.yaml"), "--dataset", "tiny", "--datasets-file", "datasets.yaml",
          "--out", str(out), "--results-dir", "results"])
    return json.loads(out.read_text())


def test_predict_poses_writes_rigid_motions_with_the_checkpoint_identity(world: Path, workdir: Path) -> None:
    assert predict(world, workdir / "poses.npz") == 0
    with np.load(workdir / "poses.npz") as archive:
        poses = archive["relative_poses"]
        assert poses.shape == (13, 4, 4) and poses.dtype == np.float64  # 14 frames, 13 pairs
        np.testing.assert_allclose(poses[:, :3, :3] @ poses[:, :3, :3].transpose(0, 2, 1),
                                   np.broadcast_to(np.eye(3), (13, 3, 3)), atol=1e-5)
        assert str(archive["sequence"]) == "00" and str(archive["checkpoint_stage"]) == "final"
        assert str(archive["method"]) == "monodepth2" and len(str(archive["checkpoint_sha256"])) == 64
        assert archive["image_paths"][0].endswith("sequences/00/image_2/000000.png")


def test_predict_poses_refuses_lists_that_do_not_chain(world: Path, workdir: Path) -> None:
    gappy = workdir / "gappy.txt"
    gappy.write_text("0 0 l\n0 1 l\n0 3 l\n")
    with pytest.raises(SystemExit, match="gappy.txt:3: frame 3 breaks the run"):
        main(["predict-poses", "--checkpoint", "final.pt", "--images", str(world), "--split-file", str(gappy),
              "--dataset", "tiny", "--datasets-file", "datasets.yaml", "--out", "x.npz"])
    mixed = workdir / "mixed.txt"
    mixed.write_text("0 0 l\n1 1 l\n")
    with pytest.raises(SystemExit, match=r"holds one sequence, got \[0, 1\]"):
        predict_poses.sequence_of(mixed)


def test_score_poses_reports_short_and_absent_sequences_as_missing(world: Path, workdir: Path) -> None:
    predict(world, workdir / "poses.npz")
    record = score(world, workdir / "metrics.json", "kitti_odom_segments_featdepth", f"09={workdir / 'poses.npz'}")
    assert record["protocol"]["name"] == "kitti_odom_segments_featdepth" and record["protocol"]["kind"] == "pose"
    assert record["mean"] == {"seq09_t_err": None, "seq09_r_err": None, "seq10_t_err": None, "seq10_r_err": None}
    assert "shortest segment (100 m)" in record["missing"]["seq09_t_err"]
    assert "no sequence standing in for sequence 10" in record["missing"]["seq10_t_err"]
    assert record["sequences"]["09"]["dataset_sequence"] == "00" and record["num_images"] == 14
    prov = record["provenance"]
    assert prov["method"] == "monodepth2" and prov["weights"] == "final" and prov["protocol"] == record["protocol"]["name"]
    assert prov["poses"] == {"09": str(workdir / "poses.npz")} and prov["gt_poses"]["09"].endswith("poses/00.txt")
    assert prov["data.md5"] == "0123456789abcdef.dir" and len(prov["poses.09.sha256"]) == 64
    assert prov["mlflow_run_id"] and (workdir / "results" / "mlflow.db").is_file()


def test_score_poses_direction_and_scale_on_a_long_constructed_drive(world: Path, workdir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """GT motions predicted through `predict-poses` (an oracle pose network, called on the pairs in order)
    score zero on a 300 m drive after scale alignment; the same motions inverted do not."""
    frames = 14
    heading = np.cumsum(np.full(frames, 0.02))
    gt = np.tile(np.eye(4), (frames, 1, 1))
    for k in range(1, frames):
        c, s = np.cos(heading[k]), np.sin(heading[k])
        gt[k, :3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        gt[k, :3, 3] = gt[k - 1, :3, 3] + gt[k - 1, :3, :3] @ [0.0, 0.0, 25.0]  # 25 m per frame: 325 m
    write_poses(poses_path(workdir / "long", 0), gt)
    motions = [m.copy() for m in gt_relative_poses(gt)]
    for m in motions:
        m[:3, 3] *= 0.1  # the network's unknown scale

    class Oracle(torch.nn.Module):
        def load_checkpoint_state(self, state: dict) -> None:
            pass

        def predict_relative_pose(self, a: torch.Tensor, b: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
            batch = [motions.pop(0) for _ in range(len(a))]
            return torch.from_numpy(np.stack(batch))

    real_load = predict_poses.load_trained
    monkeypatch.setattr(predict_poses, "load_trained", lambda path: (real_load(path)[0], Oracle()))
    predict(world, workdir / "oracle.npz")
    record = score(workdir / "long", workdir / "m.json", "kitti_odom_segments_featdepth", f"10={workdir / 'oracle.npz'}")
    assert record["mean"]["seq10_t_err"] == pytest.approx(0.0, abs=1e-6)
    assert record["mean"]["seq10_r_err"] == pytest.approx(0.0, abs=1e-3)
    assert record["scaling"]["factor"]["10"] == pytest.approx(10.0)
    with np.load(workdir / "oracle.npz") as archive:
        inverted = {k: archive[k] for k in archive.files}
    inverted["relative_poses"] = np.linalg.inv(inverted["relative_poses"])
    np.savez(workdir / "inverted.npz", **inverted)
    record = score(workdir / "long", workdir / "i.json", "kitti_odom_segments_featdepth", f"10={workdir / 'inverted.npz'}")
    assert record["mean"]["seq10_t_err"] > 50.0


def test_score_poses_checks_its_inputs(world: Path, workdir: Path) -> None:
    predict(world, workdir / "poses.npz")
    with pytest.raises(SystemExit, match="scores sequences"):
        score(world, workdir / "m.json", "kitti_odom_segments_featdepth", f"11={workdir / 'poses.npz'}")
    with pytest.raises(SystemExit, match="poses/00.txt: ground-truth poses of sequence 00 not found"):
        score(workdir, workdir / "m.json", "kitti_odom_segments_featdepth", f"09={workdir / 'poses.npz'}")
