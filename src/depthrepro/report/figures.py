"""PNG figures of the report: depth grids, error maps, training curves and pose trajectories.

Figures are drawn with Matplotlib's object API on the Agg canvas (no display, no global pyplot
state) and returned as PNG bytes, so the page can embed exactly the file that was written. Grid
figures have a pixel size fixed by their layout (``grid_size_px``), not by the text they hold.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from depthrepro.evaluate.gt_transforms import transform_gt
from depthrepro.evaluate.protocols import Protocol, scaling_for
from depthrepro.evaluate.score import aligned_depths, evaluation_mask
from depthrepro.io.atomic import atomic_write_bytes

DPI = 100
PANEL_WIDTH_PX = 320
TITLE_PX = 30
COLORBAR_PX = 70
CURVES_SIZE_PX = (800, 400)
TRAJECTORY_SIZE_PX = (560, 560)

DISPARITY_COLORMAP = "magma"
DISPARITY_PERCENTILES = (0.0, 95.0)
"""Per-image colour range of an inverse-depth map: monodepth2's ``test_simple`` maps the minimum to
the first colour and the 95th percentile (and above) to the last."""

EMPTY_ROW_ASPECT = 0.25
"""Height over width of a row whose panels all hold notes only."""

ERROR_COLORMAP = "viridis"
ERROR_RANGE = (0.0, 0.3)
"""Colour range of relative-error maps; larger errors take the last colour."""
MIN_ERROR_MARKER_PX = 1.5
"""Smallest side of the square drawn at a scored pixel, so that sparse LiDAR GT stays visible."""


@dataclass(frozen=True)
class Panel:
    """One cell of a grid figure: an ``(H, W, 3)`` uint8 picture, an ``(H, W)`` error map with NaN
    where no GT pixel is scored, or neither (``note`` says why)."""

    title: str
    rgb: np.ndarray | None = None
    errors: np.ndarray | None = None
    note: str = ""

    @property
    def aspect(self) -> float | None:
        """Height over width of what the panel shows; None when it only holds a note."""
        shown = self.rgb if self.rgb is not None else self.errors
        return None if shown is None else shown.shape[0] / shown.shape[1]


def inverse_depth_rgb(disp: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 magma rendering of a disparity (inverse depth) map ``(H, W)``.

    Normalised per image between its ``DISPARITY_PERCENTILES`` (values above the upper one take the
    last colour), so the colours do not depend on the map's unknown scale.
    """
    disp = np.asarray(disp, dtype=np.float64)
    if disp.ndim != 2:
        raise ValueError(f"expected a (H, W) disparity map, got shape {disp.shape}")
    low, high = np.percentile(disp, DISPARITY_PERCENTILES)
    scaled = np.clip(Normalize(vmin=low, vmax=high)(disp), 0.0, 1.0) if high > low else np.zeros_like(disp)
    rgba = matplotlib.colormaps[DISPARITY_COLORMAP](scaled)
    return (rgba[..., :3] * 255).astype(np.uint8)


def relative_error_map(disp: np.ndarray, gt_depth: np.ndarray, protocol: Protocol, stereo_trained: bool) -> np.ndarray:
    """``|pred - gt| / gt`` at the pixels ``protocol`` scores, NaN elsewhere; ``(H, W)`` of the prepared GT.

    ``disp`` ``(h, w)`` is a scaled disparity as scored (post-processed when the protocol says so);
    it is resized, scaled and clamped by ``aligned_depths``, so the map's mean is the image's abs_rel.
    """
    gt_map = transform_gt(np.asarray(gt_depth, dtype=np.float32), protocol.gt_transform)
    mask = evaluation_mask(gt_map, protocol)
    gt, pred, _ = aligned_depths(disp, gt_depth, protocol, scaling_for(protocol, stereo_trained))
    errors = np.full(gt_map.shape, np.nan)
    errors[mask] = np.abs(pred - gt) / gt
    return errors


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _row_heights_px(rows: Sequence[Sequence[Panel]]) -> list[int]:
    heights = []
    for row in rows:
        aspects = [panel.aspect for panel in row if panel.aspect is not None]
        heights.append(TITLE_PX + round(PANEL_WIDTH_PX * (max(aspects) if aspects else EMPTY_ROW_ASPECT)))
    return heights


def grid_size_px(rows: Sequence[Sequence[Panel]], colorbar: bool = False) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``grid_png(rows, colorbar)``.

    Each column is ``PANEL_WIDTH_PX`` wide; each row is ``TITLE_PX`` plus the height of its tallest
    panel at that width (``EMPTY_ROW_ASPECT`` of it when no panel shows an image); an error colour
    bar adds ``COLORBAR_PX``.
    """
    if not rows or any(len(row) != len(rows[0]) for row in rows) or not rows[0]:
        raise ValueError("a grid needs at least one row and the same number of panels in every row")
    return len(rows[0]) * PANEL_WIDTH_PX, sum(_row_heights_px(rows)) + (COLORBAR_PX if colorbar else 0)


def _draw_panel(figure: Figure, panel: Panel, box: tuple[float, float, float, float]) -> None:
    axes = figure.add_axes(box)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(panel.title, fontsize=8, pad=3)
    if panel.rgb is not None:
        axes.imshow(panel.rgb, interpolation="bilinear", aspect="equal")
    elif panel.errors is not None:
        height, width = panel.errors.shape
        rows, cols = np.nonzero(np.isfinite(panel.errors))
        axes.set_facecolor("black")
        side_px = max(PANEL_WIDTH_PX / width, MIN_ERROR_MARKER_PX)  # one GT pixel, or a visible dot
        axes.scatter(cols + 0.5, rows + 0.5, c=panel.errors[rows, cols], s=(side_px * 72 / DPI) ** 2, marker="s",
                     linewidths=0, cmap=ERROR_COLORMAP, vmin=ERROR_RANGE[0], vmax=ERROR_RANGE[1])
        axes.set_xlim(0, width)
        axes.set_ylim(height, 0)
        axes.set_aspect("equal")
    else:
        axes.text(0.5, 0.5, panel.note, ha="center", va="center", fontsize=8, wrap=True, transform=axes.transAxes)


def grid_png(rows: Sequence[Sequence[Panel]], colorbar: bool = False) -> bytes:
    """PNG of panels in rows (each with the same number of panels) of size ``grid_size_px``.

    ``colorbar`` adds a horizontal scale of the error colours under the grid.
    """
    width, height = grid_size_px(rows, colorbar)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = height
    for row, row_height in zip(rows, _row_heights_px(rows), strict=True):
        top -= row_height
        for column, panel in enumerate(row):
            box = (column * PANEL_WIDTH_PX / width, top / height, PANEL_WIDTH_PX / width,
                   (row_height - TITLE_PX) / height)
            _draw_panel(figure, panel, box)
    if colorbar:
        axes = figure.add_axes((0.2, 0.35 * COLORBAR_PX / height, 0.6, 0.18 * COLORBAR_PX / height))
        mappable = ScalarMappable(Normalize(*ERROR_RANGE), ERROR_COLORMAP)
        bar = figure.colorbar(mappable, cax=axes, orientation="horizontal", extend="max")
        axes.set_title("|pred − gt| / gt", fontsize=8, pad=3)
        bar.ax.tick_params(labelsize=7)
    return _png(figure)


def curves_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], ylabel: str) -> bytes:
    """PNG (``CURVES_SIZE_PX``) of one line per label: ``(steps (K,), values (K,))``."""
    if not curves:
        raise ValueError("no curves to draw")
    width, height = CURVES_SIZE_PX
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    for label, (steps, values) in curves.items():
        axes.plot(steps, values, label=label, linewidth=1.2, marker="." if len(steps) < 30 else None)
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def trajectories_png(trajectories: Mapping[str, np.ndarray], reference: np.ndarray | None) -> bytes:
    """PNG (``TRAJECTORY_SIZE_PX``) of camera positions ``(N, 3)`` seen from above (x right, z forward).

    ``reference`` (the ground truth, same frame as the predictions) is drawn dashed in black.
    """
    if not trajectories:
        raise ValueError("no trajectories to draw")
    width, height = TRAJECTORY_SIZE_PX
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    if reference is not None:
        axes.plot(reference[:, 0], reference[:, 2], "k--", linewidth=1.2, label="ground truth")
    for label, positions in trajectories.items():
        axes.plot(positions[:, 0], positions[:, 2], linewidth=1.2, label=label)
    axes.set_xlabel("x (m)")
    axes.set_ylabel("z (m)")
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def write_png(path: Path, png: bytes) -> bytes:
    """Write ``png`` atomically to ``path``; returns it, so a caller embeds what is on disk."""
    atomic_write_bytes(path, png)
    return png
