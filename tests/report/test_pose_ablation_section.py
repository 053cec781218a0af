"""The report's pose-ablation section: the plain verdict, every sequence's errors and the provenance,
from `depthrepro pose-ablation` records given to `depthrepro report --pose-ablation`."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from depthrepro.cli import main
from depthrepro.io.nyuv2 import NyuSplitEntry
from depthrepro.report.page import report_page
from depthrepro.verbs.pose_ablation import ALIGNMENT, POSE_SETS, compare

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params"


def _poses(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.stack([np.eye(4)] * count)
    for i, (a, t) in enumerate(zip(rng.uniform(-0.05, 0.05, count), rng.uniform(-0.05, 0.05, (count, 3)))):
        out[i, :2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
        out[i, :3, 3] = t
    return out


def _record(refined_better: bool) -> dict:
    """A pose-ablation record of two sequences: one pose set exact up to scale, the other perturbed."""
    entries = [NyuSplitEntry(scene, frame) for scene in ("office_0001", "study_0002") for frame in (1, 2, 3)]
    camera = {scene: _poses(5, seed) for seed, scene in enumerate(("office_0001", "study_0002"))}
    exact = np.stack([np.stack([np.linalg.inv(camera[e.scene][e.frame + f]) @ camera[e.scene][e.frame]
                                for f in (-1, 1)]) for e in entries])
    exact[..., :3, 3] *= 3.0
    noisy = exact.copy()
    noisy[..., :3, 3] += 0.02
    noisy[..., 0, 1] += 0.01
    colmap, refined = (noisy, exact) if refined_better else (exact, noisy)
    result = compare({"colmap": colmap, "aligned": colmap, "refined": refined}, entries, camera)
    provenance = {"stage": "pose_ablation", "method": "gasmono", "weights": "final", "code.digest": "c0de" * 4,
                  "git.commit": "a1" * 20, "git.dirty": "false", "data.md5": "d" * 32 + ".dir",
                  "checkpoint.sha256": "e" * 64, "mlflow_run_id": "ablation-run", "train": {"seed": "0"}}
    return {"alignment": ALIGNMENT, "pose_sets": POSE_SETS,
            "error_names": ["rotation_deg", "translation", "direction_deg"],
            "error_units": {"rotation_deg": "degrees", "translation": "metres",
                            "direction_deg": "degrees"},
            "split_file": "results/prepared/x/colmap/splits/nyu/train_files.txt", "frames": len(entries), **result,
            "provenance": provenance}


def _section(page: str) -> str:
    return html.unescape(page.split('<h2 id="pose-ablation">', 1)[1].split("<h2 ", 1)[0])


@pytest.mark.parametrize("refined_better", [False, True])
def test_section_states_the_verdict_and_every_sequence(refined_better: bool) -> None:
    record = _record(refined_better)
    page = report_page("r", True, [], [], [], [], [(Path("poses.json"), record)])
    assert '<a href="#pose-ablation">' in page and "<script" not in page
    section = _section(page)
    verdict = "are closer" if refined_better else "are not closer"
    text = re.sub(r"<[^>]+>", "", section)
    assert f"GasMono's refined poses {verdict} to the ground-truth poses than the raw COLMAP poses" in text
    assert f"<strong>{verdict}</strong>" in section
    assert ("(not lower)" in text) is not refined_better
    rows = re.findall(r"<tr><td>([\w ]+)</td><td>(colmap|aligned|refined)</td><td>(\d+)</td>", section)
    assert [(s, p) for s, p, _ in rows] == [(s, p) for s in ("office_0001", "study_0002", "all sequences")
                                            for p in ("colmap", "aligned", "refined")]
    assert {n for *_, n in rows} == {"6", "12"}
    colmap = record["overall"]["colmap"]["translation"]
    assert f"{colmap['mean']:.4g} / {colmap['median']:.4g}" in section
    assert "least-squares scale" in section and "ablation-run" in section and "e" * 16 in section


def test_report_verb_embeds_the_records_and_names_a_missing_one(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the table verb reads data.dvc from the working directory
    table = tmp_path / "tables" / "gasmono_nyu.md"
    assert main(["table", "--table", "gasmono_nyu", "--dataset", "synthetic_kitti", "--profile", "smoke",
                 "--out", str(table), "--formats", "html"]) == 0
    record = tmp_path / "poses.json"
    record.write_text(json.dumps(_record(False)))
    page = tmp_path / "report.html"
    common = ["report", "--dataset", "synthetic_kitti", "--profile", "smoke", "--out", str(page),
              "--figures-dir", str(tmp_path / "figures"), "--results-dir", str(tmp_path / "results"),
              "--params-dir", str(PARAMS), "--tables", str(table.with_suffix(".html"))]
    assert main([*common, "--pose-ablation", str(record)]) == 0
    section = _section(page.read_text())
    assert "are not closer" in section and str(record) in section
    assert main(common) == 0
    assert "No pose-ablation record was given" in _section(page.read_text())
    with pytest.raises(SystemExit, match=r"missing\.json: pose-ablation record not found"):
        main([*common, "--pose-ablation", str(tmp_path / "missing.json")])
