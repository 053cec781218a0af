"""The street's centreline: a gently curving planar curve parameterised by arc length ``s``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROAD_STEP = 0.25
"""Arc-length sampling of the centreline, metres."""


@dataclass(frozen=True)
class Road:
    """Centreline samples in the world frame (x east, y north, z up; the road lies on z = 0).

    ``s`` (N,) arc length, ``x`` / ``y`` (N,) positions, ``heading`` (N,) direction of travel in
    radians, counter-clockwise from east. Lateral offsets ``d`` are positive to the left.
    """

    s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray

    def frame(self, s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centreline position and heading at arc length ``s`` (any shape), linearly interpolated."""
        s = np.asarray(s, dtype=np.float64)
        return np.interp(s, self.s, self.x), np.interp(s, self.s, self.y), np.interp(s, self.s, self.heading)

    def point(self, s: np.ndarray | float, d: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World (x, y) at arc length ``s`` and lateral offset ``d``, plus the heading there."""
        x, y, heading = self.frame(s)
        return x - np.sin(heading) * d, y + np.cos(heading) * d, heading

    @property
    def s_range(self) -> tuple[float, float]:
        """First and last sampled arc length."""
        return float(self.s[0]), float(self.s[-1])


def curvy_road(rng: np.random.Generator, s_min: float, s_max: float, s_busy: tuple[float, float]) -> Road:
    """A centreline with a few Gaussian curvature bumps (radius >= ~120 m) inside ``s_busy``.

    The start heading is random; position (0, 0) is at ``s = 0``.
    """
    s = np.arange(s_min, s_max + ROAD_STEP, ROAD_STEP)
    curvature = np.zeros_like(s)
    n_bumps = int(rng.integers(2, 4))
    centres = rng.uniform(s_busy[0], s_busy[1], size=n_bumps)
    for centre in centres:
        amplitude = rng.choice([-1.0, 1.0]) / rng.uniform(120.0, 320.0)
        width = rng.uniform(12.0, 30.0)
        curvature += amplitude * np.exp(-0.5 * ((s - centre) / width) ** 2)
    heading = np.concatenate([[0.0], np.cumsum(0.5 * (curvature[1:] + curvature[:-1]) * ROAD_STEP)])
    dx = np.cos(heading)
    dy = np.sin(heading)
    x = np.concatenate([[0.0], np.cumsum(0.5 * (dx[1:] + dx[:-1]) * ROAD_STEP)])
    y = np.concatenate([[0.0], np.cumsum(0.5 * (dy[1:] + dy[:-1]) * ROAD_STEP)])
    origin = int(np.argmin(np.abs(s)))
    heading0 = rng.uniform(-np.pi, np.pi)
    x, y, heading = x - x[origin], y - y[origin], heading - heading[origin]
    c, si = np.cos(heading0), np.sin(heading0)
    return Road(s=s, x=c * x - si * y, y=si * x + c * y, heading=heading + heading0)
