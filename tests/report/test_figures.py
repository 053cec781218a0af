"""Report figures from small synthetic arrays: colours, per-image normalisation, error maps against the
scorer, layout sizes, atomic files, training curves and pose trajectories."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthrepro.evaluate.protocols import load_protocol
from depthrepro.evaluate.score import score_depth
from depthrepro.report.figures import (
    COLORBAR_PX,
    CURVES_SIZE_PX,
    PANEL_WIDTH_PX,
    TITLE_PX,
    Panel,
    curves_png,
    grid_png,
    grid_size_px,
    inverse_depth_rgb,
    relative_error_map,
    write_png,
)
from depthrepro.report.result_figures import (
    figure_indices,
    recorded_abs_rel,
    training_curve_figure,
)

PROTOCOLS = Path(__file__).resolve().parents[2] / "params" / "protocols.yaml"
MAGMA_FIRST = (0, 0, 3)
"""magma(0.0) = (0.001462, 0.000466, 0.013866), times 255 and truncated."""
MAGMA_LAST = (251, 252, 191)
"""magma(1.0) = (0.987053, 0.991438, 0.749504), times 255 and truncated."""


def _size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_inverse_depth_colours_run_from_the_minimum_to_the_95th_percentile() -> None:
    disp = np.arange(20, dtype=np.float32).reshape(4, 5)  # 95th percentile: 18.05
    rgb = inverse_depth_rgb(disp)
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == MAGMA_FIRST
    assert tuple(rgb[3, 4]) == MAGMA_LAST  # 19 is above the 95th percentile: clipped to the last colour
    assert tuple(rgb[3, 2]) != MAGMA_LAST  # 17 is below it (0.94 of the range)
    middle = inverse_depth_rgb(np.array([[0.0, 1.0, 2.0]]))  # min 0, 95th percentile 1.9: 1.0 sits at 0.526
    assert tuple(middle[0, 1]) != MAGMA_FIRST and tuple(middle[0, 1]) != MAGMA_LAST
    assert middle[0, 1].sum() > 3 * 60  # magma's middle is a bright red-purple, far from both ends' darkness


def test_inverse_depth_colours_do_not_depend_on_scale_or_offset() -> None:
    disp = np.random.default_rng(0).uniform(0.01, 1.0, (6, 8))
    assert np.array_equal(inverse_depth_rgb(disp), inverse_depth_rgb(disp * 37.0))
    assert np.array_equal(inverse_depth_rgb(disp), inverse_depth_rgb(disp + 5.0))
    assert (inverse_depth_rgb(np.full((3, 3), 0.7)) == MAGMA_FIRST).all()


def test_relative_error_map_is_the_scaled_error_at_scored_pixels_and_matches_the_score() -> None:
    protocol = load_protocol("kitti_eigen", PROTOCOLS)  # median scaling, Garg crop
    gt = np.zeros((20, 40), np.float32)
    gt[12:15, 18:21] = 10.0
    depth = np.full((20, 40), 5.0, np.float32)
    depth[13, 19] = 6.0  # median pred 5 -> ratio 2: pred 10 (error 0) and 12 (error 0.2)
    errors = relative_error_map(1.0 / depth, gt, protocol, stereo_trained=False)
    assert errors.shape == gt.shape
    assert np.isfinite(errors).sum() == 9 and np.isnan(errors[gt == 0]).all()
    assert errors[13, 19] == pytest.approx(0.2, rel=1e-6)
    assert np.nansum(errors) == pytest.approx(0.2, rel=1e-6)
    scored = score_depth(np.stack([1.0 / depth]), [gt], protocol, stereo_trained=False)
    assert np.nanmean(errors) == pytest.approx(scored.mean_dict()["abs_rel"], rel=1e-6)


def test_relative_error_map_leaves_out_pixels_outside_the_crop() -> None:
    protocol = load_protocol("kitti_eigen", PROTOCOLS)
    gt = np.full((20, 40), 10.0, np.float32)  # the Garg crop keeps rows 8..18 and columns 1..37
    errors = relative_error_map(np.full((20, 40), 0.5, np.float32), gt, protocol, stereo_trained=False)
    assert np.isnan(errors[:8]).all() and np.isnan(errors[19]).all()
    assert np.isnan(errors[:, 0]).all() and np.isnan(errors[:, 38:]).all()
    assert np.allclose(errors[8:19, 1:38], 0.0)


def test_grid_size_and_panel_placement() -> None:
    red = np.zeros((10, 40, 3), np.uint8)
    red[..., 0] = 255
    grey = np.full((20, 40, 3), 128, np.uint8)
    rows = [[Panel("a", rgb=grey[:10]), Panel("red", rgb=red), Panel("note", note="nothing")],
            [Panel("b", rgb=grey), Panel("c", rgb=grey), Panel("d", rgb=grey)]]
    expected = (3 * PANEL_WIDTH_PX, (TITLE_PX + PANEL_WIDTH_PX // 4) + (TITLE_PX + PANEL_WIDTH_PX // 2))
    assert grid_size_px(rows) == expected == (960, 300)
    png = grid_png(rows)
    assert _size(png) == expected
    pixels = _pixels(png)
    centre_of_red = pixels[TITLE_PX + PANEL_WIDTH_PX // 8, PANEL_WIDTH_PX + PANEL_WIDTH_PX // 2]
    assert centre_of_red[0] > 200 and centre_of_red[1] < 50 and centre_of_red[2] < 50
    assert tuple(pixels[expected[1] - PANEL_WIDTH_PX // 4, PANEL_WIDTH_PX // 2]) == (128, 128, 128)
    with pytest.raises(ValueError, match="same number of panels"):
        grid_size_px([[Panel("a", rgb=grey)], []])


def test_error_grid_has_a_colour_bar_band_and_draws_errors_on_black() -> None:
    errors = np.full((20, 80), np.nan)
    errors[10:, :] = 0.0
    png = grid_png([[Panel("e", errors=errors), Panel("empty", note="no GT pixel")]], colorbar=True)
    assert _size(png) == (2 * PANEL_WIDTH_PX, TITLE_PX + 80 + COLORBAR_PX)
    pixels = _pixels(png)
    assert (pixels[TITLE_PX + 10, PANEL_WIDTH_PX // 2] < 10).all()  # no GT in the top half: background
    low = pixels[TITLE_PX + 60, PANEL_WIDTH_PX // 2]  # error 0: viridis' first colour (68, 1, 84)
    assert abs(int(low[0]) - 68) < 12 and abs(int(low[2]) - 84) < 12 and low[1] < 20


def test_curves_and_figure_file_sizes(tmp_path: Path) -> None:
    png = curves_png({"monodepth2 seed 0": (np.arange(5), np.linspace(0.3, 0.1, 5))}, "loss")
    assert _size(png) == CURVES_SIZE_PX
    path = tmp_path / "figures" / "curve.png"
    assert write_png(path, png) == png
    assert path.read_bytes() == png and [p.name for p in path.parent.iterdir()] == ["curve.png"]
    with pytest.raises(ValueError, match="no curves"):
        curves_png({}, "loss")


def test_figure_indices_are_evenly_spaced_and_fixed() -> None:
    assert figure_indices(697, 3) == [0, 348, 696]
    assert figure_indices(2, 3) == [0, 1]
    assert figure_indices(1, 3) == [0]
    with pytest.raises(ValueError):
        figure_indices(0, 3)


def test_recorded_abs_rel_skips_the_images_a_protocol_left_out() -> None:
    record = {"per_image": {"abs_rel": [0.1, 0.3, 0.4]}, "dropped_images": [1]}
    assert [recorded_abs_rel(record, i) for i in range(4)] == [0.1, None, 0.3, 0.4]
    assert recorded_abs_rel({"per_image": {"rmse": [1.0]}}, 0) is None


def test_training_curves_without_an_mlflow_store_give_a_note(tmp_path: Path) -> None:
    figure = training_curve_figure([{"method": "monodepth2", "seed": 0, "mlflow_run_id": "a" * 32}], tmp_path)
    assert figure.png is None and "mlflow.db not found" in figure.notes[0]
    assert not (tmp_path / "mlflow.db").exists()
