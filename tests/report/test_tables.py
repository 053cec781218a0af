"""Table rendering: reported and reproduced rows side by side, Δ, seeds aggregated, reasons for gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from depthrepro.report.markdown import render_markdown
from depthrepro.report.tables import group_scores, load_reported

COLUMNS = ["abs_rel", "a1"]
CSV = """table,row,method,resolution,abs_rel,a1,source
t1,Monodepth2,monodepth2,192x640,0.115,0.877,paper Tab. 1
t1,Manydepth,manydepth,192x640,0.098,0.900,paper Tab. 1
t2,Other,other,1x1,1,1,elsewhere
"""


def _record(stage: str, seed: int, abs_rel: float) -> dict:
    return {"mean": {"abs_rel": abs_rel, "a1": 0.5}, "num_images": 3,
            "scaling": {"kind": "median", "factor": 1.0},
            "provenance": {"method": "monodepth2", "weights": stage, "checkpoint.sha256": "ab" * 32,
                           "git.commit": "c" * 40, "git.dirty": "false", "code.digest": "d" * 16,
                           "mlflow_run_id": "e" * 32,
                           "train": {"seed": seed, "model_cfg": {"height": 96, "width": 320},
                                     "mlflow_run_id": "f" * 32, "code.digest": "1" * 16, "weights_init": "scratch"}}}


CONTEXT = {"protocol": {"name": "kitti_eigen", "description": "Eigen", "gt_source": "velodyne", "crop": "garg",
                        "min_depth": 0.001, "max_depth": 80.0, "scaling": {"monocular": "median", "stereo": "fixed"},
                        "stereo_scale": 5.4, "post_process": False, "split": "eigen", "expected_images": 697,
                        "mask": "range_and_crop", "clamp": [0.001, 80.0], "source": "monodepth2"},
           "dataset": "synthetic_kitti", "profile": "smoke", "data_md5": "0" * 32 + ".dir", "synthetic": True,
           "configured_methods": ["monodepth2"], "implemented_methods": ["monodepth2"],
           "official": {}}


@pytest.fixture()
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "paper.csv"
    path.write_text(CSV)
    return path


def test_rows_seeds_delta_and_reasons(csv_path: Path) -> None:
    reported = load_reported(csv_path, "t1", COLUMNS)
    scores = group_scores([_record("final", 0, 0.20), _record("final", 1, 0.30), _record("init", 0, 0.5),
                           _record("init", 1, 0.6)])
    text = render_markdown("T", COLUMNS, reported, scores, CONTEXT)
    assert "| Monodepth2 | 192x640 | Reported | 0.115 | 0.877 | |" in text
    assert "| Monodepth2 | 96x320 | Reproduced (smoke, synthetic_kitti) | 0.250 ± 0.071 | 0.500 ± 0.000 | 2 |" in text
    assert "| Monodepth2 | | Δ Reproduced − Reported | +0.135 | -0.377 | |" in text
    assert "- n: how many runs (training seeds, or scorings of a release) a row of ours averages" in text
    assert "not reproduced: manydepth is not implemented yet" in text
    assert "the trained network beats the untrained one (abs_rel 0.250 vs 0.550)" in text
    assert "Not comparable to the paper" in text and "Other" not in text


def test_footer_names_where_each_run_trained(csv_path: Path) -> None:
    """On a CPU the torch thread count changes the float reductions, so a run's line says it."""
    one, two, old = _record("final", 0, 0.2), _record("final", 1, 0.3), _record("init", 0, 0.5)
    one["provenance"]["train"].update({"device": "cpu", "world_size": "1", "torch.threads": "2"})
    two["provenance"]["train"].update({"device": "cuda:0", "world_size": "2", "torch.threads": "4"})
    text = render_markdown("T", COLUMNS, load_reported(csv_path, "t1", COLUMNS), group_scores([one, two, old]),
                           CONTEXT)
    assert "weights init `scratch`; trained on `cpu` with 2 torch thread(s); git" in text
    assert "weights init `scratch`; trained on `cuda:0` by 2 processes, 4 torch thread(s) each; git" in text
    assert "monodepth2 init seed 0: 3 test images, scaling median ×1.0; checkpoint sha256 `abababababab`, " \
           "weights init `scratch`; git" in text  # a record from before the device was kept


def test_a_run_that_continues_another_is_compared_with_its_starting_weights(csv_path: Path) -> None:
    """Online refinement starts from a trained run (`depends_on: {initial: ...}`): its init.pt is not untrained."""
    records = [_record("final", 0, 0.20), _record("init", 0, 0.19)]
    for record in records:
        record["provenance"]["train"]["dependency.initial.sha256"] = "9" * 64
    text = render_markdown("T", COLUMNS, load_reported(csv_path, "t1", COLUMNS), group_scores(records), CONTEXT)
    assert "| monodepth2 | before refinement (init.pt) |" in text and "untrained (init.pt)" not in text
    assert ("the refined network does NOT beat its starting weights, the trained model it continues "
            "(abs_rel 0.200 vs 0.190)") in text
    assert "weights init the trained weights of another run (`initial`, sha256 `999999999999`)" in text


def test_real_data_tables_do_not_carry_the_synthetic_warning(csv_path: Path) -> None:
    text = render_markdown("T", COLUMNS, load_reported(csv_path, "t1", COLUMNS), {}, {**CONTEXT, "synthetic": False})
    assert "Not comparable" not in text


def test_bad_csv_rows_name_file_and_line(tmp_path: Path, csv_path: Path) -> None:
    with pytest.raises(ValueError, match="no rows for table 'nope'"):
        load_reported(csv_path, "nope", COLUMNS)
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("0.098", "zero"))
    with pytest.raises(ValueError, match=r"bad\.csv:3"):
        load_reported(bad, "t1", COLUMNS)
