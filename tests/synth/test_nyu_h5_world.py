"""The synthetic NYUv2 test views in P2Net's h5 layout, and their ground-truth export (kind ``nyu_h5``).

The tiny preset renders at 320x240; its h5 files must still hold NYUv2's 640x480, the size the
nyuv2_epcdepth protocol's window is defined on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthrepro.io.nyu_h5 import IMAGE_SIZE, read_h5_list, read_nyu_h5
from depthrepro.io.nyuv2 import read_gt_depths
from depthrepro.prepare.gt_export import export_gt_depths, load_gt_depths
from depthrepro.synth.nyuv2 import NYU_SIZE, build_scene, held_out_views, nyu_preset, render_nyuv2


@pytest.fixture(scope="module")
def nyu_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world") / "nyuv2"
    render_nyuv2(root, preset="tiny", seed=0, workers=1)
    return root


def test_h5_files_hold_the_test_views_at_nyus_full_size(nyu_root: Path) -> None:
    views = held_out_views(nyu_preset("tiny"))
    lines = read_h5_list(nyu_root / "splits" / "nyu_h5" / "test_files.txt")
    assert lines == [f"nyu_test/{i:05d}.h5" for i in range(1, len(views) + 1)]
    small = read_gt_depths(nyu_root / "splits" / "nyu" / "gt_depths.npz")
    for line, (room, frame), depth_small in zip(lines, views, small, strict=True):
        image = read_nyu_h5(nyu_root / line)
        assert image.rgb.shape == (*IMAGE_SIZE, 3) and image.depth.shape == IMAGE_SIZE
        full = build_scene("tiny", 0, room).render(frame, NYU_SIZE)
        np.testing.assert_array_equal(image.rgb, full.rgb)
        np.testing.assert_array_equal(image.depth, full.depth)
        # the same view as Testing/ (rendered at 320x240): per-pixel depth agrees up to the sampling
        relative = np.abs(image.depth[1::2, 1::2] - depth_small) / depth_small
        assert np.median(relative) < 0.02, np.median(relative)
    manifest = json.loads((nyu_root / "manifest.json").read_text())
    assert manifest["h5_test"] == {"list": "splits/nyu_h5/test_files.txt", "image_size": [640, 480],
                                   "files": len(views)}


def test_nyu_h5_export_is_the_h5_depth(nyu_root: Path, tmp_path: Path) -> None:
    split = nyu_root / "splits" / "nyu_h5" / "test_files.txt"
    out = tmp_path / "nyu_h5.npz"
    lines = read_h5_list(split)
    assert export_gt_depths(nyu_root, split, out, "nyu_h5") == len(lines)
    with np.load(out, allow_pickle=False) as archive:
        assert archive["entries"].tolist() == lines and str(archive["kind"]) == "nyu_h5"
    for line, depth in zip(lines, load_gt_depths(out), strict=True):
        np.testing.assert_array_equal(depth, read_nyu_h5(nyu_root / line).depth)


def test_nyu_h5_export_names_the_missing_files(nyu_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "test_files.txt"
    split.write_text("nyu_test/00001.h5\nnyu_test/00077.h5\n")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 nyu_h5 GT files are missing \(P2Net's .*00077\.h5"):
        export_gt_depths(nyu_root, split, tmp_path / "gt.npz", "nyu_h5")
