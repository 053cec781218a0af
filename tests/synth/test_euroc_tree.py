"""Synthetic EuRoC: the ASL layout, data.csv and sensor.yaml agree with the renderer, the loader reads the tree,
and its stereo transform's sign matches the rendered rig (cam1 to the right of cam0)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from depthrepro.data.euroc import EurocDataset, normalised_intrinsics
from depthrepro.geometry.camera import BackprojectDepth, Project3D
from depthrepro.io.euroc import frame_names, image_path, read_frame_csv, read_sensor_yaml
from depthrepro.io.kitti import SplitEntry, read_split_file
from depthrepro.synth.euroc import (
    EUROC_SIZE,
    LOADER_FOCAL,
    STEREO_BASELINE_M,
    build_sequence,
    euroc_K,
    euroc_preset,
    render_euroc,
    timestamp,
)
from depthrepro.synth.world import FORMATS

PRESET = euroc_preset("tiny")
CAMERA = {"fx": LOADER_FOCAL, "fy": LOADER_FOCAL, "width": EUROC_SIZE[0], "height": EUROC_SIZE[1]}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("euroc")
    render_euroc(out, preset="tiny", seed=0, workers=1)
    return out


def test_asl_layout_csv_and_sensor_files(root: Path) -> None:
    assert FORMATS["euroc"] is render_euroc
    assert [s.name for s in PRESET.sequences] == ["MH_04_difficult", "MH_02_easy"]
    K = euroc_K(PRESET.width, PRESET.height)
    np.testing.assert_allclose(K[:2] / [[PRESET.width], [PRESET.height]], normalised_intrinsics(CAMERA, "test"))
    for spec in PRESET.sequences:
        names = [f"{timestamp(f)}.png" for f in range(spec.frames)]
        assert frame_names(root, spec.folder) == names and len(names[0]) == len("1403636579763555584.png")
        for camera, x in (("cam0", 0.0), ("cam1", STEREO_BASELINE_M)):
            assert sorted(p.name for p in (root / spec.folder / camera / "data").iterdir()) == names
            assert read_frame_csv(root / spec.folder / camera / "data.csv") == [(timestamp(f), n)
                                                                                for f, n in enumerate(names)]
            sensor = read_sensor_yaml(root / spec.folder / camera / "sensor.yaml")
            assert sensor.resolution == (PRESET.width, PRESET.height) and sensor.rate_hz == 20.0
            np.testing.assert_allclose(sensor.intrinsics, [K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
            np.testing.assert_allclose(sensor.T_BS[:3, 3], [x, 0.0, 0.0])
            with Image.open(image_path(root, spec.folder, camera, names[0])) as img:
                assert img.mode == "L" and img.size == (PRESET.width, PRESET.height)
        assert read_split_file(root / "splits" / spec.name / "train_files.txt") == [
            SplitEntry(spec.folder, f, "l") for f in range(1, spec.frames - 1)]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["stereo_baseline_m"] == STEREO_BASELINE_M and manifest["image_size"] == [188, 120]
    assert [s["folder"] for s in manifest["sequences"]] == [s.folder for s in PRESET.sequences]
    assert manifest["splits"] == {f"{s.name}/train_files": s.frames - 2 for s in PRESET.sequences}
    assert (root / "figure_sheet.png").stat().st_size > 10_000


def test_loader_stereo_sign_matches_the_rendered_rig(root: Path) -> None:
    """cam1 warped into cam0 with the exact depth and the loader's stereo_T (scaled to metres) matches cam0
    far better than with the opposite sign or without warping."""
    height, width = 96, 160
    spec = PRESET.sequences[1]
    entries = read_split_file(root / "splits" / spec.name / "train_files.txt")
    data = EurocDataset(root, entries, height, width, [0, -1, 1, "s"], normalised_intrinsics(CAMERA, "test"))
    errors = {"correct": [], "opposite": [], "identity": []}
    backproject, project = BackprojectDepth(1, height, width), Project3D(1, height, width)
    for index, entry in enumerate(entries):
        sample = data[index]
        depth = build_sequence("tiny", 0, 1).render(entry.frame, "cam0", size=(width, height)).depth
        depth = torch.from_numpy(depth)[None, None]
        target, source = sample[("color", 0, 0)][None], sample[("color", "s", 0)][None]
        points = backproject(depth, sample[("inv_K", 0)][None])
        for name, sign in (("correct", 1.0), ("opposite", -1.0)):
            T = sample["stereo_T"].clone()[None]
            T[:, 0, 3] *= sign * STEREO_BASELINE_M / 0.1
            warped = F.grid_sample(source, project(points, sample[("K", 0)][None], T), padding_mode="border",
                                   align_corners=True)
            errors[name].append((warped - target)[..., :, 8:-8].abs().mean().item())
        errors["identity"].append((source - target)[..., :, 8:-8].abs().mean().item())
    mean = {name: float(np.mean(values)) for name, values in errors.items()}
    print(f"\nstereo warp errors: {mean}")
    assert mean["correct"] < 0.3 * mean["opposite"] and mean["correct"] < 0.3 * mean["identity"]
