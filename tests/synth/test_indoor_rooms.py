"""Indoor rooms: free-standing furniture in the middle, a camera that never comes near any box, and test
views with enough depth structure that a constant depth map does not score like a learnt one."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depthrepro.synth import nyuv2
from depthrepro.synth.indoor import CAMERA_MARGIN, ISLAND_CLEARANCE, ISLAND_STRIP

PRESET = nyuv2.nyu_preset("default")
ROOMS = range(len(PRESET.train_rooms) + len(PRESET.test_rooms))


def _box_distance(point: np.ndarray, center: np.ndarray, half: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(M,) Euclidean distance from a 3-D point to each yawed box (0 inside)."""
    d = point - center
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
    return np.linalg.norm(np.maximum(np.abs(local) - half, 0.0), axis=1)


@pytest.mark.parametrize("room", ROOMS)
def test_free_standing_furniture_and_a_clear_walk(room: int) -> None:
    scene = nyuv2.build_scene("default", 0, room)
    length, width, _ = scene.room.size
    boxes = scene.room.geometry.boxes
    x0, x1, y0, y1 = scene.room.free
    assert x1 - x0 > 1.0 and y1 - y0 > 1.0
    # the camera's rectangle leaves the strip and its clearance at one end of the middle
    assert pytest.approx(x1 - x0) == length - 2 * CAMERA_MARGIN - ISLAND_STRIP - ISLAND_CLEARANCE
    middle = ((boxes.center[:, 0] > CAMERA_MARGIN) & (boxes.center[:, 0] < length - CAMERA_MARGIN)
              & (boxes.center[:, 1] > CAMERA_MARGIN) & (boxes.center[:, 1] < width - CAMERA_MARGIN)
              & (boxes.center[:, 2] < 2.2))  # not the ceiling lamp
    assert middle.sum() > 0, "no free-standing furniture"
    nearest = min(_box_distance(pose[:3, 3], boxes.center, boxes.half, boxes.yaw).min() for pose in scene.poses)
    assert nearest > 0.2, f"the camera passes {nearest:.2f} m from a box"


def test_test_views_have_depth_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under per-image median scaling a constant depth map scores abs_rel >= 0.15 on the test views
    (the 5th and 95th depth percentiles of a view differ by a factor of about 2)."""
    small = dataclasses.replace(PRESET, name="default_small", width=160, height=120)
    monkeypatch.setitem(nyuv2.NYU_PRESETS, small.name, small)
    scores, ratios = [], []
    for room, frame in nyuv2.held_out_views(small):
        depth = nyuv2.build_scene(small.name, 0, room).render(frame).depth
        constant = np.full_like(depth, np.median(depth))
        scores.append(np.mean(np.abs(constant - depth) / depth))
        ratios.append(np.percentile(depth, 95) / np.percentile(depth, 5))
    print(f"\nconstant-depth abs_rel {np.mean(scores):.3f}, depth percentile ratio {np.mean(ratios):.2f}")
    assert np.mean(scores) >= 0.15
    assert np.mean(ratios) >= 1.8
