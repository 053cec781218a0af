"""Scene primitives: upright boxes and spheres with materials, and vehicles that move along the road.

Object ids used by the renderer: ``SKY_ID`` (-1) for rays that hit nothing, ``GROUND_ID`` (0) for the
plane z = 0, ``1 .. M`` for boxes and ``M + 1 .. M + S`` for spheres, in the order of ``Geometry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from depthrepro.synth.road import Road

SKY_ID = -1
GROUND_ID = 0
PARAMS = 6
"""Number of per-object material parameters (meaning depends on the material)."""


class Material(IntEnum):
    """Surface kinds; each has its own procedural texture and LiDAR reflectance."""

    ASPHALT = 0
    PAINT = 1
    VERGE = 2
    FACADE = 3
    POLE = 4
    CAR = 5
    CABIN = 6
    SIGN = 7
    TRUNK = 8
    FOLIAGE = 9


@dataclass(frozen=True)
class Boxes:
    """M boxes rotated about the vertical axis: ``center`` (M, 3), ``half`` (M, 3) half extents,
    ``yaw`` (M,), ``material`` (M,) int, ``albedo`` (M, 3) RGB in [0, 1], ``params`` (M, PARAMS)."""

    center: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    material: np.ndarray
    albedo: np.ndarray
    params: np.ndarray

    @property
    def count(self) -> int:
        return int(self.center.shape[0])

    @staticmethod
    def empty() -> Boxes:
        return Boxes(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.int32),
                     np.zeros((0, 3)), np.zeros((0, PARAMS)))

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        return Boxes(
            center=np.concatenate([p.center for p in parts]),
            half=np.concatenate([p.half for p in parts]),
            yaw=np.concatenate([p.yaw for p in parts]),
            material=np.concatenate([p.material for p in parts]).astype(np.int32),
            albedo=np.concatenate([p.albedo for p in parts]),
            params=np.concatenate([p.params for p in parts]),
        )

    def placed(self, x: float, y: float, yaw: float) -> Boxes:
        """These boxes, given in a vehicle frame, moved to world position (x, y) and heading ``yaw``."""
        c, s = np.cos(yaw), np.sin(yaw)
        center = np.stack([
            x + c * self.center[:, 0] - s * self.center[:, 1],
            y + s * self.center[:, 0] + c * self.center[:, 1],
            self.center[:, 2],
        ], axis=1)
        return Boxes(center, self.half, self.yaw + yaw, self.material, self.albedo, self.params)


@dataclass(frozen=True)
class Spheres:
    """S spheres: ``center`` (S, 3), ``radius`` (S,), ``material`` (S,), ``albedo`` (S, 3)."""

    center: np.ndarray
    radius: np.ndarray
    material: np.ndarray
    albedo: np.ndarray

    @property
    def count(self) -> int:
        return int(self.center.shape[0])


@dataclass(frozen=True)
class Mover:
    """A rigid vehicle (boxes in its own frame: x forward, y left, z up) driving along the road at
    lateral offset ``lane`` with constant ``speed``; ``direction`` +1 drives towards growing ``s``."""

    boxes: Boxes
    s0: float
    speed: float
    lane: float
    direction: int

    def placed(self, road: Road, time: float) -> Boxes:
        s = self.s0 + self.direction * self.speed * time
        x, y, heading = road.point(s, self.lane)
        return self.boxes.placed(float(x), float(y), float(heading) + (0.0 if self.direction > 0 else np.pi))


@dataclass(frozen=True)
class Geometry:
    """Everything a ray can hit at one instant: boxes, spheres and which boxes move (``dynamic`` (M,))."""

    boxes: Boxes
    spheres: Spheres
    dynamic: np.ndarray

    def object_is_dynamic(self, object_id: np.ndarray) -> np.ndarray:
        """Boolean mask, same shape as ``object_id``, true on moving objects."""
        lookup = np.concatenate([[False, False], self.dynamic, np.zeros(self.spheres.count, bool)])
        return lookup[np.asarray(object_id) + 1]


@dataclass(frozen=True)
class Scene:
    """A street world: road centreline, static boxes and spheres, moving vehicles and lighting.

    ``sun`` (3,) unit vector towards the sun in the world frame.
    """

    road: Road
    static: Boxes
    spheres: Spheres
    movers: tuple[Mover, ...]
    sun: np.ndarray

    def geometry_at(self, time: float) -> Geometry:
        """Static objects plus every vehicle placed at ``time`` seconds; vehicles come last."""
        moving = [m.placed(self.road, time) for m in self.movers]
        boxes = Boxes.concat([self.static, *moving])
        dynamic = np.zeros(boxes.count, dtype=bool)
        dynamic[self.static.count:] = True
        return Geometry(boxes=boxes, spheres=self.spheres, dynamic=dynamic)
