"""A profile that warm-starts from an epoch another profile keeps (monodepth2's 1024x320 recipe), in the DAG.

The copied project gets a smoke-sized pair of profiles: `smoke` keeps its weights after epoch 1 and
`smoke_hr` continues them at a larger size, as `paper_hr` continues `paper` after 10 epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from tiny_world import EVALUATED_CONFIG, all_tables, copy_run

from depthrepro.io.file_hash import file_sha256

pytestmark = pytest.mark.e2e

SOURCE = "results/checkpoints/synthetic_kitti_tiny/smoke/monodepth2/seed0"
WARM = "results/checkpoints/synthetic_kitti_tiny/smoke_hr/monodepth2/seed0"


@pytest.fixture(scope="module")
def warm_run(evaluated_tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_run(evaluated_tiny_run, tmp_path_factory.mktemp("warm_start"))
    path = work / "params/methods/monodepth2.yaml"
    params = yaml.safe_load(path.read_text())
    smoke = params["profiles"]["smoke"]
    params["profiles"]["smoke_hr"] = {**smoke, "height": smoke["height"] + 32, "width": smoke["width"] + 96,
                                      "num_epochs": 1, "learning_rate": 1.0e-5,
                                      "warm_start": {"profile": "smoke", "epoch": 1}}
    smoke["keep_epochs"] = [1]
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    (work / "tiny.yaml").write_text(EVALUATED_CONFIG.replace("profile: smoke", "profile: smoke_hr"))
    all_tables(work)
    return work


def test_the_warm_started_run_starts_from_the_kept_epoch(warm_run: Path) -> None:
    kept = warm_run / SOURCE / "epochs/epoch1.pt"
    source = torch.load(kept, map_location="cpu", weights_only=False)
    assert source["epoch"] == 1 and source["optimizer"]["state"]  # weights and Adam moments
    record = json.loads((warm_run / WARM / "train.json").read_text())
    assert record["warm_start.sha256"] == file_sha256(kept)
    assert record["warm_start.from"] == "smoke profile, epoch 1"
    assert record["weights_init"] == "warm start (smoke profile, epoch 1)"
    init = torch.load(warm_run / WARM / "init.pt", map_location="cpu", weights_only=False)["state"]
    for net, weights in source["state"].items():  # monodepth2's files also record the training size
        for key, value in weights.items():
            assert not torch.is_tensor(value) or torch.equal(init[net][key], value), f"{net}.{key}"
    assert not list((warm_run / WARM / "epochs").glob("*.pt"))  # smoke_hr keeps none


def test_tables_label_the_warm_start(warm_run: Path) -> None:
    text = (warm_run / "results/tables/dualrefine_kitti.md").read_text()
    assert "warm start (init.pt)" in text and "fine-tuned (final.pt)" in text
    assert "a warm start from the weights another run kept (smoke profile, epoch 1" in text
