"""The street generator: road markings, kerbs and pavements, facades, poles, trees, parked and moving cars.

Cross-section (lateral offset ``d`` from the centreline, positive left): two 3.5 m lanes, a 2.2 m
parking strip on each side, a 0.12 m kerb at |d| = 5.7 m, then pavement and grass verges on which
buildings stand at random setbacks.
"""

from __future__ import annotations

import colorsys

import numpy as np

from depthrepro.synth.road import Road
from depthrepro.synth.scene import PARAMS, Boxes, Material, Mover, Scene, Spheres
from depthrepro.synth.trajectory import EGO_LANE_OFFSET

LANE_WIDTH = 3.5
PARKING_WIDTH = 2.2
KERB_OFFSET = LANE_WIDTH + PARKING_WIDTH
KERB_HEIGHT = 0.12
VERGE_WIDTH = 40.0
SEGMENT_LENGTH = 4.0


class _BoxList:
    """Accumulates boxes one by one, then freezes them into ``Boxes``."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, center: tuple[float, float, float], half: tuple[float, float, float], yaw: float,
            material: Material, albedo: tuple[float, float, float], params: tuple[float, ...] = ()) -> None:
        padded = tuple(params) + (0.0,) * (PARAMS - len(params))
        self.rows.append((center, half, yaw, int(material), albedo, padded))

    def freeze(self) -> Boxes:
        if not self.rows:
            return Boxes.empty()
        center, half, yaw, material, albedo, params = zip(*self.rows)
        return Boxes(np.array(center, float), np.array(half, float), np.array(yaw, float),
                     np.array(material, np.int32), np.array(albedo, float), np.array(params, float))


def _at(road: Road, s: float, d: float) -> tuple[float, float, float]:
    x, y, heading = road.point(s, d)
    return float(x), float(y), float(heading)


def _road_surface(boxes: _BoxList, road: Road, rng: np.random.Generator, sidewalk: dict[int, float]) -> None:
    """Kerbed verges and edge lines per straight segment, dashed centre line."""
    s_min, s_max = road.s_range
    starts = np.arange(s_min, s_max - SEGMENT_LENGTH, SEGMENT_LENGTH)
    for s0 in starts:
        s_mid = s0 + SEGMENT_LENGTH / 2
        _, _, h0 = road.frame(s0)
        _, _, h1 = road.frame(s0 + SEGMENT_LENGTH)
        bend = abs(float(h1 - h0))
        for side in (1, -1):
            d_mid = side * (KERB_OFFSET + VERGE_WIDTH / 2)
            x, y, heading = _at(road, s_mid, d_mid)
            half_len = SEGMENT_LENGTH / 2 + 0.1 + 0.5 * bend * (KERB_OFFSET + VERGE_WIDTH)
            boxes.add((x, y, KERB_HEIGHT / 2), (half_len, VERGE_WIDTH / 2, KERB_HEIGHT / 2), heading,
                      Material.VERGE, (0.58, 0.57, 0.55), (sidewalk[side], side))
            x, y, heading = _at(road, s_mid, side * LANE_WIDTH)
            boxes.add((x, y, 0.005), (SEGMENT_LENGTH / 2 + 0.02, 0.06, 0.005), heading,
                      Material.PAINT, (0.85, 0.85, 0.82))
    first_dash = s_min + rng.uniform(0.0, 9.0)
    for s_dash in np.arange(first_dash, s_max - 3.0, 9.0):
        x, y, heading = _at(road, s_dash + 1.5, 0.0)
        boxes.add((x, y, 0.005), (1.5, 0.06, 0.005), heading, Material.PAINT, (0.86, 0.86, 0.83))


def _facade_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    hue = rng.choice([0.03, 0.07, 0.10, 0.13, 0.55, 0.0]) + rng.uniform(-0.02, 0.02)
    saturation = rng.uniform(0.08, 0.45)
    value = rng.uniform(0.45, 0.85)
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (r, g, b)


def _buildings(boxes: _BoxList, road: Road, rng: np.random.Generator, sidewalk: dict[int, float]) -> None:
    """Blocks of buildings along both sides; facade params: spacing, floor height, window w/h, brick, sill."""
    s_min, s_max = road.s_range
    for side in (1, -1):
        s = s_min + rng.uniform(0.0, 6.0)
        while s < s_max - 8.0:
            length = rng.uniform(8.0, 24.0)
            if s + length > s_max:
                break
            setback = rng.uniform(0.0, 5.0) if rng.random() < 0.6 else 0.0
            depth = rng.uniform(8.0, 16.0)
            height = rng.uniform(5.5, 22.0)
            front = KERB_OFFSET + sidewalk[side] + setback
            x, y, heading = _at(road, s + length / 2, side * (front + depth / 2))
            params = (
                rng.uniform(2.4, 3.8),
                rng.uniform(2.9, 3.5),
                rng.uniform(0.9, 1.5),
                rng.uniform(1.2, 1.7),
                float(rng.random() < 0.4),
                rng.uniform(0.8, 1.0),
            )
            boxes.add((x, y, height / 2), (length / 2, depth / 2, height / 2), heading, Material.FACADE,
                      _facade_colour(rng), params)
            gap = rng.uniform(0.0, 3.0) if rng.random() < 0.8 else rng.uniform(8.0, 16.0)
            s += length + gap


def _street_furniture(boxes: _BoxList, road: Road, rng: np.random.Generator, sidewalk: dict[int, float]) -> Spheres:
    """Lamp posts (some carrying a sign) along the kerb and trees on the pavement; returns tree crowns."""
    s_min, s_max = road.s_range
    crowns_center, crowns_radius, crowns_albedo = [], [], []
    side = 1
    s = s_min + rng.uniform(5.0, 20.0)
    while s < s_max - 5.0:
        d = side * (KERB_OFFSET + 0.5)
        x, y, heading = _at(road, s, d)
        height = rng.uniform(6.0, 8.0)
        boxes.add((x, y, height / 2), (0.09, 0.09, height / 2), heading, Material.POLE, (0.55, 0.56, 0.58))
        ax, ay, _ = _at(road, s, d - side * 0.8)
        boxes.add((ax, ay, height - 0.1), (0.12, 0.8, 0.07), heading, Material.POLE, (0.35, 0.36, 0.38))
        if rng.random() < 0.4:
            colour = [(0.75, 0.12, 0.10), (0.10, 0.25, 0.70), (0.85, 0.85, 0.85)][int(rng.integers(3))]
            boxes.add((x, y, 2.5), (0.03, 0.35, 0.35), heading, Material.SIGN, colour)
        side = -side
        s += rng.uniform(12.0, 22.0)
    for tree_side in (1, -1):
        s = s_min + rng.uniform(0.0, 15.0)
        while s < s_max - 5.0:
            if rng.random() < 0.6:
                d = tree_side * (KERB_OFFSET + max(sidewalk[tree_side] - 0.9, 1.2))
                x, y, _ = _at(road, s, d)
                crown_height = rng.uniform(3.5, 5.0)
                radius = rng.uniform(1.3, 2.3)
                boxes.add((x, y, crown_height / 2), (0.15, 0.15, crown_height / 2), rng.uniform(0, np.pi),
                          Material.TRUNK, (0.32, 0.24, 0.17))
                crowns_center.append((x, y, crown_height + 0.6 * radius))
                crowns_radius.append(radius)
                crowns_albedo.append((rng.uniform(0.12, 0.22), rng.uniform(0.26, 0.38), rng.uniform(0.08, 0.14)))
            s += rng.uniform(9.0, 20.0)
    return Spheres(
        center=np.array(crowns_center, float).reshape(-1, 3),
        radius=np.array(crowns_radius, float),
        material=np.full(len(crowns_radius), int(Material.FOLIAGE), np.int32),
        albedo=np.array(crowns_albedo, float).reshape(-1, 3),
    )


CAR_COLOURS = ((0.85, 0.85, 0.86), (0.08, 0.08, 0.09), (0.55, 0.57, 0.60), (0.60, 0.08, 0.07),
               (0.10, 0.18, 0.45), (0.25, 0.30, 0.28), (0.70, 0.62, 0.45))


def car_boxes(rng: np.random.Generator) -> Boxes:
    """A car in its own frame (x forward): body and a shorter glass cabin set towards the rear."""
    cars = _BoxList()
    length = rng.uniform(3.9, 4.9)
    width = rng.uniform(1.70, 1.90)
    colour = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
    body_top = rng.uniform(0.85, 1.0)
    cabin_top = body_top + rng.uniform(0.45, 0.6)
    cars.add((0.0, 0.0, (0.1 + body_top) / 2), (length / 2, width / 2, (body_top - 0.1) / 2), 0.0,
             Material.CAR, colour, (length,))
    cabin_length = length * rng.uniform(0.45, 0.6)
    cars.add((-0.08 * length, 0.0, (body_top + cabin_top) / 2),
             (cabin_length / 2, width / 2 - 0.08, (cabin_top - body_top) / 2), 0.0, Material.CABIN, colour)
    return cars.freeze()


def _parked_cars(road: Road, rng: np.random.Generator) -> Boxes:
    s_min, s_max = road.s_range
    parts = []
    for side in (1, -1):
        s = s_min + rng.uniform(0.0, 6.0)
        while s < s_max - 6.0:
            if rng.random() < 0.65:
                x, y, heading = _at(road, s, side * (LANE_WIDTH + PARKING_WIDTH / 2 + rng.uniform(-0.15, 0.15)))
                flip = np.pi if (side > 0) == (rng.random() < 0.8) else 0.0
                parts.append(car_boxes(rng).placed(x, y, heading + flip + rng.uniform(-0.03, 0.03)))
            s += rng.uniform(5.5, 9.0)
    return Boxes.concat(parts) if parts else Boxes.empty()


def _moving_cars(rng: np.random.Generator, ego_end: float, duration: float, cruise: float,
                 s_range: tuple[float, float]) -> tuple[Mover, ...]:
    """Cars ahead in the ego lane (faster than the ego) and oncoming cars in the other lane."""
    movers = []
    s = rng.uniform(14.0, 24.0)
    for _ in range(int(rng.integers(1, 3))):
        speed = cruise + rng.uniform(1.5, 3.0)
        if s + speed * duration < s_range[1] - 10.0:
            movers.append(Mover(car_boxes(rng), s0=float(s), speed=float(speed), lane=EGO_LANE_OFFSET, direction=1))
        s += rng.uniform(25.0, 45.0)
    oncoming_speed = rng.uniform(8.0, 12.0)
    s = rng.uniform(25.0, 45.0)
    while s < ego_end + 90.0:
        speed = oncoming_speed + rng.uniform(-0.8, 0.8)
        if s - speed * duration > s_range[0] + 10.0:
            movers.append(Mover(car_boxes(rng), s0=float(s), speed=float(speed), lane=-EGO_LANE_OFFSET,
                                direction=-1))
        s += rng.uniform(30.0, 60.0)
    return tuple(movers)


def street_scene(road: Road, rng: np.random.Generator, ego_end: float, duration: float, cruise: float) -> Scene:
    """Populate ``road`` with a complete street; the ego drives s in [0, ego_end] for ``duration`` s."""
    sidewalk = {1: float(rng.uniform(2.5, 4.0)), -1: float(rng.uniform(2.5, 4.0))}
    fixed = _BoxList()
    _road_surface(fixed, road, rng, sidewalk)
    _buildings(fixed, road, rng, sidewalk)
    crowns = _street_furniture(fixed, road, rng, sidewalk)
    static = Boxes.concat([fixed.freeze(), _parked_cars(road, rng)])
    movers = _moving_cars(rng, ego_end, duration, cruise, road.s_range)
    elevation = np.deg2rad(rng.uniform(35.0, 55.0))
    azimuth = rng.uniform(-np.pi, np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return Scene(road=road, static=static, spheres=crowns, movers=movers, sun=sun)
