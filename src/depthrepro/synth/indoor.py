"""Indoor rooms for the NYUv2-like part of the world: walls, floor, ceiling, furniture, and a hand-held camera.

A room spans ``[0, L] x [0, W] x [0, H]`` in its own frame (x along the length, z up, floor at z = 0).
It is built from the street renderer's primitives and materials, which cover indoor surfaces well:

- walls: every room has one deliberately low-texture wall (paint: ``POLE``, 5 % noise; plaster:
  ``FACADE`` without bricks; or brick: ``FACADE`` with mortar, whose lines are edges SIFT rejects) and
  three textured ones: SIFT-rich wallpaper (``FOLIAGE`` noise, hundreds of keypoints per view) or
  wood panelling (``TRUNK``). ``FACADE`` walls get a skirting band from the cornice and no windows
  (the window grid starts above ``floor_h``, set above the ceiling).
- floor (wood or carpet), white low-texture ceiling with a lamp panel, a rug, posters (``SIGN``),
  framed pictures and a door on the walls.
- furniture along the walls, at most ``FURNITURE_DEPTH`` deep: tables and desks with objects,
  cabinets, bookshelves full of books, sofas, stacked boxes, potted plants (spheres).
- free-standing furniture of the same kinds in a strip (``ISLAND_STRIP`` deep) across one end of the
  middle of the room, fronts towards the other end, as furniture stands in the middle of NYUv2 rooms.

The camera is hand-held: it walks slowly (about 0.2-0.4 m/s) inside the rest of the furniture-free
middle of the room, at 1.25-1.6 m, looking down by 12-24 degrees, while panning widely with a shaky
wobble in yaw, pitch and roll (several degrees per frame), which is the motion regime of NYUv2 video
rather than of a car.

Depth structure: rooms of 6.5-9 x 4.5-6.5 m, the free-standing furniture (at least ``ISLAND_CLEARANCE``
from the camera) and the tilt give views from floor and furniture about a metre from the camera to walls
several metres away (the 5th and 95th depth percentiles of a view differ by a factor of about 2). Views
of nearly one depth (a wall a few metres away, little floor) would let a constant depth map score almost
as well as a learnt one under per-image median scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depthrepro.synth.rig import rigid, rotation_rpy
from depthrepro.synth.scene import PARAMS, Boxes, Geometry, Material, Spheres

WALL_THICKNESS = 0.2
FURNITURE_DEPTH = 0.9
"""No furniture reaches further than this from its wall, metres."""
CAMERA_MARGIN = 1.45
"""The camera stays at least this far from every wall, so at least 0.5 m from any furniture."""
ROOM_LENGTH = (6.5, 9.0)
"""Range of a room's length (x), metres."""
ROOM_WIDTH = (4.5, 6.5)
"""Range of a room's width (y), metres; the height is 2.5-3 m."""
ISLAND_STRIP = 1.5
"""Depth (metres, along the room's length) of the strip at one end of the middle of the room that holds
free-standing furniture."""
ISLAND_CLEARANCE = 0.5
"""The camera stays at least this far from the free-standing furniture's strip."""
CAMERA_TILT_DEG = (12.0, 24.0)
"""Range of the camera's mean downward tilt along a walk, degrees (a slower sway of 7 degrees rides on it)."""
LOW_TEXTURE_WALLS: tuple[str, ...] = ("paint", "plaster", "brick")
"""Wall styles on which SIFT finds almost nothing beyond a metre or so (brick: mortar lines are edges)."""

_R_BODY_FROM_CAM = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Camera axes (x right, y down, z forward) in a body frame with x forward, y left, z up."""
_NO_WINDOWS = (3.0, 50.0, 1.0, 1.0)
"""``FACADE`` spacing, floor height, window width/height: a floor height above any ceiling disables windows."""


def _box(center: tuple[float, float, float], half: tuple[float, float, float], material: Material,
         albedo: tuple[float, float, float], yaw: float = 0.0, params: tuple[float, ...] = ()) -> Boxes:
    """A single box as ``Boxes``; ``params`` are padded with zeros to ``PARAMS``."""
    padded = tuple(params) + (0.0,) * (PARAMS - len(params))
    return Boxes(np.array([center], float), np.array([half], float), np.array([yaw], float),
                 np.array([int(material)], np.int32), np.array([albedo], float), np.array([padded], float))


def _hsv(rng: np.random.Generator, hue: tuple[float, float], saturation: tuple[float, float],
         value: tuple[float, float]) -> tuple[float, float, float]:
    """A random colour from hue/saturation/value ranges (hue in [0, 1), wraps)."""
    h = rng.uniform(*hue) % 1.0
    s, v = rng.uniform(*saturation), rng.uniform(*value)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    rgb = v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _wood(rng: np.random.Generator) -> tuple[float, float, float]:
    return _hsv(rng, (0.05, 0.10), (0.35, 0.65), (0.30, 0.75))


@dataclass(frozen=True)
class Piece:
    """A furniture item in its own frame (x along the wall, y away from it, z up; footprint centred on
    x = 0 and starting at y = 0): boxes, sphere centres (S, 3), radii (S,), albedos (S, 3), width."""

    boxes: Boxes
    sphere_center: np.ndarray
    sphere_radius: np.ndarray
    sphere_albedo: np.ndarray
    width: float


SphereSpec = tuple[tuple[float, float, float], float, tuple[float, float, float]]
"""A sphere as (centre, radius, albedo)."""


def _piece(parts: list[Boxes], width: float, spheres: Sequence[SphereSpec] = ()) -> Piece:
    return Piece(Boxes.concat(parts), np.array([s[0] for s in spheres], float).reshape(-1, 3),
                 np.array([s[1] for s in spheres], float), np.array([s[2] for s in spheres], float).reshape(-1, 3),
                 width)


def _table_objects(rng: np.random.Generator, width: float, depth: float, top: float) -> list[Boxes]:
    """Books, boxes and a screen lying on a table top at height ``top``."""
    parts = []
    x = -width / 2 + rng.uniform(0.05, 0.2)
    while x < width / 2 - 0.25:
        w, d, h = rng.uniform(0.12, 0.35), rng.uniform(0.12, min(0.4, depth - 0.1)), rng.uniform(0.03, 0.3)
        kind = rng.random()
        if kind < 0.25 and x + 0.5 < width / 2:
            w, h = rng.uniform(0.4, 0.55), rng.uniform(0.28, 0.38)
            parts.append(_box((x + w / 2, 0.15, top + 0.01 + h / 2), (w / 2, 0.02, h / 2), Material.CABIN,
                              (0.12, 0.12, 0.13)))
        else:
            material = Material.TRUNK if kind < 0.6 else Material.FOLIAGE
            parts.append(_box((x + w / 2, rng.uniform(0.08, depth - 0.08 - d / 2), top + h / 2),
                              (w / 2, d / 2, h / 2), material, _hsv(rng, (0.0, 1.0), (0.2, 0.8), (0.3, 0.9)),
                              yaw=rng.uniform(-0.3, 0.3)))
        x += w + rng.uniform(0.05, 0.3)
    return parts


def _table(rng: np.random.Generator) -> Piece:
    width, depth, height = rng.uniform(0.9, 1.7), rng.uniform(0.6, 0.85), rng.uniform(0.72, 0.77)
    wood, leg = _wood(rng), _hsv(rng, (0.0, 1.0), (0.0, 0.2), (0.15, 0.7))
    parts = [_box((0.0, depth / 2, height - 0.02), (width / 2, depth / 2, 0.02), Material.TRUNK, wood)]
    for sx in (-1, 1):
        for sy in (0, 1):
            parts.append(_box((sx * (width / 2 - 0.06), 0.06 + sy * (depth - 0.12), (height - 0.04) / 2),
                              (0.025, 0.025, (height - 0.04) / 2), Material.POLE, leg))
    parts += _table_objects(rng, width, depth, height)
    if rng.random() < 0.7:
        seat = rng.uniform(0.44, 0.48)
        cx = rng.uniform(-width / 4, width / 4)
        colour = _hsv(rng, (0.0, 1.0), (0.1, 0.7), (0.2, 0.8))
        parts.append(_box((cx, depth + 0.05, seat), (0.22, 0.22, 0.025), Material.TRUNK, colour))
        parts.append(_box((cx, depth + 0.25, seat + 0.25), (0.22, 0.02, 0.25), Material.TRUNK, colour))
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(_box((cx + sx * 0.19, depth + 0.05 + sy * 0.19, seat / 2), (0.018, 0.018, seat / 2),
                                  Material.POLE, leg))
    return _piece(parts, width)


def _cabinet(rng: np.random.Generator) -> Piece:
    width, depth, height = rng.uniform(0.6, 1.5), rng.uniform(0.4, 0.6), rng.uniform(0.7, 2.0)
    colour = _wood(rng) if rng.random() < 0.6 else _hsv(rng, (0.0, 1.0), (0.0, 0.3), (0.5, 0.95))
    parts = [_box((0.0, depth / 2, height / 2), (width / 2, depth / 2, height / 2), Material.TRUNK, colour)]
    rows = max(1, int(height / 0.4))
    handle = _hsv(rng, (0.0, 1.0), (0.0, 0.1), (0.1, 0.9))
    for row in range(rows):
        z = (row + 0.5) * height / rows
        parts.append(_box((0.0, depth + 0.005, z - 0.5 * height / rows + 0.01), (width / 2 - 0.01, 0.006, 0.006),
                          Material.POLE, (0.1, 0.1, 0.1)))
        parts.append(_box((0.0, depth + 0.015, z + 0.1 * height / rows), (0.08, 0.015, 0.012), Material.POLE, handle))
    if width > 0.9:
        parts.append(_box((0.0, depth + 0.005, height / 2), (0.006, 0.006, height / 2 - 0.02), Material.POLE,
                          (0.1, 0.1, 0.1)))
    return _piece(parts, width)


def _bookshelf(rng: np.random.Generator) -> Piece:
    width, depth, height = rng.uniform(0.7, 1.4), rng.uniform(0.28, 0.38), rng.uniform(1.5, 2.1)
    wood = _wood(rng)
    parts = [_box((sx * (width / 2 - 0.01), depth / 2, height / 2), (0.01, depth / 2, height / 2), Material.TRUNK, wood)
             for sx in (-1, 1)]
    parts.append(_box((0.0, 0.005, height / 2), (width / 2, 0.005, height / 2), Material.TRUNK, wood))
    shelves = int(rng.integers(4, 6))
    gap = height / shelves
    for shelf in range(shelves + 1):
        z = min(shelf * gap, height - 0.01)
        parts.append(_box((0.0, depth / 2, z + 0.01), (width / 2, depth / 2, 0.01), Material.TRUNK, wood))
        if shelf == shelves:
            continue
        x = -width / 2 + 0.02
        while x < width / 2 - 0.06:
            thick = rng.uniform(0.02, 0.06)
            tall = rng.uniform(0.55, 0.9) * (gap - 0.03)
            if rng.random() < 0.12:
                x += rng.uniform(0.05, 0.15)
                continue
            x_end = min(x + thick, width / 2 - 0.02)
            parts.append(_box(((x + x_end) / 2, rng.uniform(0.14, 0.2), z + 0.02 + tall / 2),
                              ((x_end - x) / 2, rng.uniform(0.08, 0.12), tall / 2), Material.TRUNK,
                              _hsv(rng, (0.0, 1.0), (0.3, 0.9), (0.2, 0.9))))
            x = x_end + 0.003
    return _piece(parts, width)


def _sofa(rng: np.random.Generator) -> Piece:
    width, depth = rng.uniform(1.5, 2.3), rng.uniform(0.8, FURNITURE_DEPTH)
    fabric = _hsv(rng, (0.0, 1.0), (0.15, 0.6), (0.25, 0.75))
    parts = [
        _box((0.0, depth / 2, 0.21), (width / 2, depth / 2, 0.21), Material.FOLIAGE, fabric),
        _box((0.0, 0.12, 0.62), (width / 2, 0.12, 0.22), Material.FOLIAGE, fabric),
    ]
    for sx in (-1, 1):
        parts.append(_box((sx * (width / 2 - 0.1), depth / 2, 0.32), (0.1, depth / 2, 0.32), Material.FOLIAGE, fabric))
    for _ in range(int(rng.integers(1, 4))):
        parts.append(_box((rng.uniform(-width / 2 + 0.4, width / 2 - 0.4), 0.33, 0.6), (0.2, 0.07, 0.18),
                          Material.FOLIAGE, _hsv(rng, (0.0, 1.0), (0.3, 0.9), (0.4, 0.95)), yaw=rng.uniform(-0.4, 0.4)))
    return _piece(parts, width)


def _boxes_stack(rng: np.random.Generator) -> Piece:
    parts = []
    width = rng.uniform(0.5, 0.9)
    z = 0.0
    for _ in range(int(rng.integers(1, 4))):
        w, d, h = rng.uniform(0.3, width), rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.5)
        parts.append(_box((rng.uniform(-0.05, 0.05), d / 2 + 0.02, z + h / 2), (w / 2, d / 2, h / 2), Material.TRUNK,
                          _hsv(rng, (0.07, 0.11), (0.4, 0.6), (0.45, 0.7)), yaw=rng.uniform(-0.25, 0.25)))
        z += h
    return _piece(parts, width)


def _plant(rng: np.random.Generator) -> Piece:
    pot_h, pot_r, crown = rng.uniform(0.25, 0.5), rng.uniform(0.12, 0.2), rng.uniform(0.25, 0.45)
    pot = _box((0.0, 0.3, pot_h / 2), (pot_r, pot_r, pot_h / 2), Material.TRUNK,
               _hsv(rng, (0.02, 0.08), (0.5, 0.75), (0.4, 0.7)))
    green = _hsv(rng, (0.22, 0.36), (0.5, 0.8), (0.25, 0.5))
    return _piece([pot], 0.6, [((0.0, 0.3, pot_h + crown * 0.8), crown, green)])


_FURNITURE = {"table": _table, "cabinet": _cabinet, "bookshelf": _bookshelf, "sofa": _sofa,
              "boxes": _boxes_stack, "plant": _plant}
_ROOM_FURNITURE: dict[str, tuple[str, ...]] = {
    "living_room": ("sofa", "bookshelf", "cabinet", "plant", "table"),
    "office": ("table", "table", "cabinet", "bookshelf", "boxes"),
    "bedroom": ("cabinet", "cabinet", "table", "plant", "boxes"),
    "study": ("bookshelf", "bookshelf", "table", "plant"),
    "dining_room": ("table", "table", "cabinet", "plant"),
    "kitchen": ("cabinet", "cabinet", "cabinet", "table", "boxes"),
}
"""Furniture each kind of room draws from (repeats make an item more likely)."""
ROOM_KINDS: tuple[str, ...] = tuple(_ROOM_FURNITURE)


@dataclass(frozen=True)
class Room:
    """One room: ``size`` (L, W, H) metres; ``walls`` the styles of walls y=0, x=L, y=W, x=0; static
    ``geometry``; ``light`` (3,) unit vector towards the main light; ``free`` (x0, x1, y0, y1), the
    furniture-free rectangle where the camera may be."""

    kind: str
    size: tuple[float, float, float]
    walls: tuple[str, ...]
    geometry: Geometry
    light: np.ndarray
    free: tuple[float, float, float, float]


def _walls(length: float, width: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """For walls y=0, x=L, y=W, x=0: origin (2,) of their floor line, unit tangent (2,), length.

    The inward normal is the tangent turned 90 degrees counter-clockwise.
    """
    return [(np.array([0.0, 0.0]), np.array([1.0, 0.0]), length),
            (np.array([length, 0.0]), np.array([0.0, 1.0]), width),
            (np.array([length, width]), np.array([-1.0, 0.0]), length),
            (np.array([0.0, width]), np.array([0.0, -1.0]), width)]


def _wall_surface(rng: np.random.Generator, style: str) -> tuple[Material, tuple[float, float, float], tuple]:
    """Material, colour and params of a wall style."""
    if style == "brick":
        colour = _hsv(rng, (0.02, 0.07), (0.35, 0.6), (0.45, 0.7)) if rng.random() < 0.6 else \
            _hsv(rng, (0.0, 1.0), (0.0, 0.08), (0.75, 0.9))
        return Material.FACADE, colour, (*_NO_WINDOWS, 1.0, 0.9)
    if style == "plaster":
        return Material.FACADE, _hsv(rng, (0.0, 1.0), (0.05, 0.3), (0.6, 0.9)), (*_NO_WINDOWS, 0.0, 0.9)
    if style == "wallpaper":
        return Material.FOLIAGE, _hsv(rng, (0.0, 1.0), (0.1, 0.45), (0.55, 0.85)), ()
    if style == "panelling":
        return Material.TRUNK, _wood(rng), ()
    return Material.POLE, _hsv(rng, (0.0, 1.0), (0.02, 0.15), (0.7, 0.92)), ()


def _wall_decor(rng: np.random.Generator, origin: np.ndarray, tangent: np.ndarray, wall_length: float,
                height: float, low_texture: bool) -> list[Boxes]:
    """Posters, framed pictures and possibly a door on one wall (a low-texture wall keeps at most one)."""
    normal = np.array([-tangent[1], tangent[0]])
    yaw_out = float(np.arctan2(normal[1], normal[0]))
    parts = []
    count = int(rng.integers(0, 2)) if low_texture else int(rng.integers(2, 5))
    slots = np.sort(rng.uniform(0.6, wall_length - 0.6, size=count))
    for index, a in enumerate(slots):
        if index and a - slots[index - 1] < 1.0:
            continue
        w, h = rng.uniform(0.4, 1.0), rng.uniform(0.4, 0.9)
        z = rng.uniform(1.3, min(2.0, height - 0.3 - h / 2))
        x, y = origin + a * tangent + 0.02 * normal
        if rng.random() < 0.5:
            parts.append(_box((x, y, z), (0.015, w / 2, h / 2), Material.SIGN,
                              _hsv(rng, (0.0, 1.0), (0.5, 0.9), (0.4, 0.9)), yaw=yaw_out))
        else:
            frame = _wood(rng)
            parts.append(_box((x, y, z), (0.015, w / 2, h / 2), Material.TRUNK, frame, yaw=yaw_out))
            px, py = origin + a * tangent + 0.036 * normal
            parts.append(_box((px, py, z), (0.002, w / 2 - 0.05, h / 2 - 0.05), Material.FOLIAGE,
                              _hsv(rng, (0.0, 1.0), (0.3, 0.9), (0.3, 0.9)), yaw=yaw_out))
    if rng.random() < 0.3:
        a = rng.uniform(0.7, wall_length - 0.7)
        x, y = origin + a * tangent + 0.02 * normal
        parts.append(_box((x, y, 1.0), (0.02, 0.45, 1.0), Material.TRUNK, _wood(rng), yaw=yaw_out))
    return parts


def _floor_surface(rng: np.random.Generator) -> tuple[Material, tuple[float, float, float]]:
    """Wooden floor or carpet: material and colour."""
    if rng.random() < 0.5:
        return Material.TRUNK, _wood(rng)
    return Material.FOLIAGE, _hsv(rng, (0.0, 1.0), (0.05, 0.4), (0.25, 0.6))


def _place(piece: Piece, x: float, y: float, yaw: float, parts: list[Boxes], spheres: list[SphereSpec]) -> None:
    """Add ``piece`` with its frame's origin at room point (x, y), turned by ``yaw``, to ``parts`` and ``spheres``."""
    parts.append(piece.boxes.placed(x, y, yaw))
    c, s = np.cos(yaw), np.sin(yaw)
    for centre, radius, albedo in zip(piece.sphere_center, piece.sphere_radius, piece.sphere_albedo):
        spheres.append(((x + c * centre[0] - s * centre[1], y + s * centre[0] + c * centre[1], centre[2]),
                        float(radius), tuple(albedo)))


def _islands(rng: np.random.Generator, pieces: list[str], length: float, width: float, parts: list[Boxes],
             spheres: list[SphereSpec]) -> tuple[float, float, float, float]:
    """Free-standing furniture in a strip across one end of the middle of the room, fronts towards the
    other end; returns the camera's free rectangle: the middle without the strip and its clearance."""
    x0, x1, y0, y1 = CAMERA_MARGIN, length - CAMERA_MARGIN, CAMERA_MARGIN, width - CAMERA_MARGIN
    facing = 1.0 if rng.random() < 0.5 else -1.0
    yaw = -facing * np.pi / 2  # the piece's +y (its front) along facing * x
    back = (x0 if facing > 0 else x1) + 0.05 * facing
    start, step = (y1, -1.0) if facing > 0 else (y0, 1.0)
    a = rng.uniform(0.0, 0.4)
    while True:
        piece = _FURNITURE[pieces[int(rng.integers(len(pieces)))]](rng)
        if a + piece.width > y1 - y0:
            break
        _place(piece, back, start + step * (a + piece.width / 2), yaw, parts, spheres)
        a += piece.width + rng.uniform(0.2, 0.8)
    reserved = ISLAND_STRIP + ISLAND_CLEARANCE
    return (x0 + reserved, x1, y0, y1) if facing > 0 else (x0, x1 - reserved, y0, y1)


def build_room(rng: np.random.Generator, kind: str) -> Room:
    """A furnished room of ``kind`` (one of ``ROOM_KINDS``), fully determined by ``rng``."""
    if kind not in ROOM_KINDS:
        raise ValueError(f"unknown room kind {kind!r}; expected one of {sorted(ROOM_KINDS)}")
    length, width = rng.uniform(*ROOM_LENGTH), rng.uniform(*ROOM_WIDTH)
    height = rng.uniform(2.5, 3.0)
    t = WALL_THICKNESS
    parts = [
        _box((length / 2, width / 2, -0.048), (length / 2 + t, width / 2 + t, 0.05), *_floor_surface(rng)),
        _box((length / 2, width / 2, height + t / 2), (length / 2 + t, width / 2 + t, t / 2), Material.POLE,
             (0.9, 0.9, 0.88)),
        _box((length / 2, width / 2, height - 0.03), (0.3, 0.3, 0.03), Material.POLE, (1.0, 1.0, 0.97)),
    ]
    if rng.random() < 0.8:
        rug = (rng.uniform(1.2, length - 2.0) / 2, rng.uniform(1.0, width - 2.0) / 2, 0.006)
        parts.append(_box((length / 2 + rng.uniform(-0.3, 0.3), width / 2 + rng.uniform(-0.3, 0.3), 0.008), rug,
                          Material.FOLIAGE, _hsv(rng, (0.0, 1.0), (0.3, 0.8), (0.3, 0.8)), yaw=rng.uniform(-0.2, 0.2)))
    styles = [str(rng.choice(LOW_TEXTURE_WALLS)), "wallpaper", "wallpaper", str(rng.choice(["wallpaper", "panelling"]))]
    styles = [styles[i] for i in rng.permutation(4)]
    walls = _walls(length, width)
    centres = [(length / 2, -t / 2), (length + t / 2, width / 2), (length / 2, width + t / 2), (-t / 2, width / 2)]
    halves = [(length / 2 + t, t / 2), (t / 2, width / 2 + t)] * 2
    spheres: list[SphereSpec] = []
    pieces = list(_ROOM_FURNITURE[kind])
    for (origin, tangent, wall_length), centre, half, style in zip(walls, centres, halves, styles):
        material, colour, params = _wall_surface(rng, style)
        parts.append(_box((centre[0], centre[1], height / 2), (half[0], half[1], height / 2), material, colour,
                          params=params))
        parts += _wall_decor(rng, origin, tangent, wall_length, height, style in LOW_TEXTURE_WALLS)
        normal = np.array([-tangent[1], tangent[0]])
        yaw = float(np.arctan2(tangent[1], tangent[0]))
        a = FURNITURE_DEPTH + 0.05 + rng.uniform(0.0, 0.4)
        while True:
            name = pieces[int(rng.integers(len(pieces)))]
            piece = _FURNITURE[name](rng)
            if a + piece.width > wall_length - FURNITURE_DEPTH - 0.05:
                break
            x, y = origin + (a + piece.width / 2) * tangent + 0.01 * normal
            _place(piece, float(x), float(y), yaw, parts, spheres)
            a += piece.width + rng.uniform(0.1, 0.8)
    free = _islands(rng, pieces, length, width, parts, spheres)
    boxes = Boxes.concat(parts)
    sphere_set = Spheres(center=np.array([c for c, _, _ in spheres], float).reshape(-1, 3),
                         radius=np.array([r for _, r, _ in spheres], float),
                         material=np.full(len(spheres), int(Material.FOLIAGE), np.int32),
                         albedo=np.array([a for _, _, a in spheres], float).reshape(-1, 3))
    geometry = Geometry(boxes=boxes, spheres=sphere_set, dynamic=np.zeros(boxes.count, dtype=bool))
    elevation, azimuth = np.deg2rad(rng.uniform(40.0, 70.0)), rng.uniform(-np.pi, np.pi)
    light = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return Room(kind=kind, size=(float(length), float(width), float(height)), walls=tuple(styles), geometry=geometry,
                light=light, free=free)


def _wobble(rng: np.random.Generator, times: np.ndarray, amplitude: float, periods: tuple[float, float],
            count: int = 2) -> np.ndarray:
    """(F,) sum of ``count`` sines with random periods in ``periods`` (s) and phases, peak ``amplitude``."""
    out = np.zeros_like(times)
    for _ in range(count):
        period, phase = rng.uniform(*periods), rng.uniform(0.0, 2.0 * np.pi)
        out += np.sin(2.0 * np.pi * times / period + phase)
    return amplitude * out / count


def handheld_poses(room: Room, frames: int, frame_rate: float, rng: np.random.Generator) -> np.ndarray:
    """(F, 4, 4) camera-to-room poses of a hand-held walk through ``room.free`` at ``frame_rate`` Hz.

    Position: slow sinusoids inside the free rectangle plus a gait bob. Orientation: a wide pan
    (40-70 degrees amplitude) around a random heading, a downward tilt in ``CAMERA_TILT_DEG`` and roll, each
    with a faster shake.
    """
    times = np.arange(frames) / frame_rate
    x0, x1, y0, y1 = room.free
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    reach = np.array([(x1 - x0) / 2, (y1 - y0) / 2])
    position = np.zeros((frames, 3))
    for axis in range(2):
        amplitude = reach[axis] * rng.uniform(0.5, 1.0)
        period = max(rng.uniform(14.0, 26.0), 2.0 * np.pi * amplitude / 0.4)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        position[:, axis] = centre[axis] + amplitude * np.sin(2.0 * np.pi * times / period + phase)
    position[:, 2] = rng.uniform(1.25, 1.6) + _wobble(rng, times, 0.02, (0.9, 1.3))
    heading = rng.uniform(-np.pi, np.pi)
    sweep, sweep_period = np.deg2rad(rng.uniform(40.0, 70.0)), rng.uniform(6.0, 10.0)
    yaw = heading + sweep * np.sin(2.0 * np.pi * times / sweep_period + rng.uniform(0.0, 2.0 * np.pi))
    yaw += _wobble(rng, times, np.deg2rad(2.5), (0.7, 1.6))
    pitch = np.deg2rad(rng.uniform(*CAMERA_TILT_DEG)) + _wobble(rng, times, np.deg2rad(7.0), (5.0, 9.0), 1)
    pitch += _wobble(rng, times, np.deg2rad(2.0), (0.6, 1.4))
    roll = _wobble(rng, times, np.deg2rad(4.0), (4.0, 8.0), 1) + _wobble(rng, times, np.deg2rad(1.5), (0.5, 1.2))
    return np.stack([rigid(rotation_rpy(r, p, y) @ _R_BODY_FROM_CAM, pos)
                     for r, p, y, pos in zip(roll, pitch, yaw, position)])
