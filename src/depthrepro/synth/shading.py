"""Surface colour: procedural albedo per material, Lambertian sun plus ambient light, haze and sky."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from depthrepro.synth.scene import Material
from depthrepro.synth.surface import Surface
from depthrepro.synth.textures import TextureBank, cell_hash, pulse_train

AMBIENT = 0.55
DIRECT = 0.55
HAZE_DISTANCE = 1200.0
HORIZON = np.array([0.80, 0.84, 0.88], np.float32)
ZENITH = np.array([0.36, 0.54, 0.84], np.float32)
CLOUD = np.array([0.95, 0.95, 0.96], np.float32)

LIDAR_REFLECTANCE: dict[Material, float] = {
    Material.ASPHALT: 0.22, Material.PAINT: 0.75, Material.VERGE: 0.30, Material.FACADE: 0.35,
    Material.POLE: 0.50, Material.CAR: 0.45, Material.CABIN: 0.08, Material.SIGN: 0.95,
    Material.TRUNK: 0.25, Material.FOLIAGE: 0.30,
}


def _rgb(values: tuple[float, float, float]) -> np.ndarray:
    return np.array(values, np.float32)[None, :]


def surface_albedo(surface: Surface, footprint: np.ndarray, bank: TextureBank) -> np.ndarray:
    """(N, 3) float32 albedo of each hit, given its footprint (N,) in metres."""
    n = surface.point.shape[0]
    fine = bank.fine.sample(surface.noise_u, surface.noise_v, footprint)
    coarse = bank.coarse.sample(surface.noise_u, surface.noise_v, footprint)
    out = np.zeros((n, 3), np.float32)
    material = surface.material
    for kind, paint in _PAINTERS.items():
        sel = np.nonzero(material == kind)[0]
        if sel.size:
            out[sel] = paint(surface, sel, footprint[sel], fine[sel], coarse[sel])
    return np.clip(out, 0.0, 1.0)


def _base(surface: Surface, sel: np.ndarray) -> np.ndarray:
    return surface.albedo[sel].astype(np.float32)


def _asphalt(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    return _base(s, sel) * (1.0 + 0.16 * fine + 0.07 * coarse)[:, None]


def _paint(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    wear = np.clip(coarse - 0.8, 0.0, None)
    return _base(s, sel) * (1.0 + 0.06 * fine - 0.25 * wear)[:, None]


def _verge(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Top: kerb stones, paving tiles up to the pavement width, then grass. Sides: concrete."""
    sidewalk, side = s.params[sel, 0], s.params[sel, 1]
    half_width = 0.5 * s.extent[sel, 1]
    from_kerb = half_width + side * s.local[sel, 1]
    concrete = _rgb((0.60, 0.60, 0.58)) * (1.0 + 0.08 * fine)[:, None]
    joints_u = pulse_train(s.u[sel], 0.45, 0.015, f)
    joints_v = pulse_train(from_kerb, 0.30, 0.015, f)
    joint = 1.0 - (1.0 - joints_u) * (1.0 - joints_v)
    tile = cell_hash(np.floor(s.u[sel] / 0.45), np.floor(from_kerb / 0.30), s.object_id[sel])
    paving = _base(s, sel) * (1.0 + 0.10 * fine + 0.06 * coarse + 0.12 * (tile - 0.5))[:, None]
    paving *= (1.0 - 0.45 * joint)[:, None]
    grass = _rgb((0.22, 0.33, 0.12)) * (1.0 + 0.35 * fine + 0.2 * coarse)[:, None]
    top = np.where((from_kerb < 0.3)[:, None], concrete * 1.05,
                   np.where((from_kerb < sidewalk)[:, None], paving, grass))
    return np.where((s.axis[sel] == 2)[:, None], top, concrete)


def _facade(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Plaster or brick walls with cornices, a plinth and a grid of framed windows; dark roofs."""
    spacing, floor_h, win_w, win_h, brick, sill = (s.params[sel, i] for i in range(6))
    u, v = s.u[sel], s.v[sel]
    width, height = s.extent[sel, 0], s.extent[sel, 1]
    wall = _base(s, sel) * (1.0 + 0.08 * fine + 0.10 * coarse)[:, None]
    course = np.floor(v / 0.077)
    mortar = np.maximum(pulse_train(v, 0.077, 0.012, f),
                        pulse_train(u + 0.12 * np.mod(course, 2.0), 0.24, 0.012, f))
    mortar *= brick
    wall = wall * (1.0 - 0.3 * mortar)[:, None] + (0.3 * 0.78 * mortar)[:, None]
    cornice = pulse_train(v, floor_h, 0.18, f)
    wall *= (1.0 + 0.12 * cornice)[:, None]
    wall *= np.where(v < 0.5, 0.7, 1.0)[:, None]
    on_grid = (v > floor_h) & (v < height - 0.8) & (u > 0.6) & (u < width - 0.6)
    ux = u - 0.5 * (spacing - win_w)
    vy = v - sill
    glass = pulse_train(ux, spacing, win_w, f) * pulse_train(vy, floor_h, win_h, f) * on_grid
    frame = pulse_train(ux + 0.08, spacing, win_w + 0.16, f) * pulse_train(vy + 0.08, floor_h, win_h + 0.16, f)
    frame = np.clip(frame * on_grid - glass, 0.0, 1.0)
    lit = cell_hash(np.floor(ux / spacing), np.floor(vy / floor_h), s.object_id[sel])
    pane = _rgb((0.10, 0.12, 0.15)) + (0.28 * lit ** 2)[:, None] * _rgb((0.9, 0.85, 0.7))
    pane = pane * (1.0 + 0.15 * coarse)[:, None]
    vertical = (1.0 - glass - frame)[:, None] * wall + frame[:, None] * _rgb((0.85, 0.85, 0.82)) \
        + glass[:, None] * pane
    roof = _rgb((0.22, 0.20, 0.19)) * (1.0 + 0.2 * fine + 0.1 * coarse)[:, None]
    return np.where((s.axis[sel] == 2)[:, None], roof, vertical)


Painter = Callable[[Surface, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(surface, selected hit indices (n,), footprints (n,), fine noise (n,), coarse noise (n,)) -> albedo (n, 3)."""


def _plain(amount_fine: float, amount_coarse: float) -> Painter:
    """A painter that modulates the object colour with the two noise textures."""
    def paint(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
        return _base(s, sel) * (1.0 + amount_fine * fine + amount_coarse * coarse)[:, None]
    return paint


def _car(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Car body: paint, dark sills and wheels on the sides, lights and number plate front and back."""
    body = _base(s, sel) * (1.0 + 0.03 * fine)[:, None]
    u, v = s.u[sel], s.v[sel]
    length = s.params[sel, 0]
    side = s.axis[sel] == 1
    wheel_r = 0.34
    dist = np.minimum(np.hypot(u - 0.75, v - 0.2), np.hypot(u - (length - 0.75), v - 0.2))
    wheel = np.clip((wheel_r - dist) / np.maximum(f, 1e-3) + 0.5, 0.0, 1.0) * side
    sill = np.clip((0.22 - v) / np.maximum(f, 1e-3) + 0.5, 0.0, 1.0)
    dark = np.maximum(wheel, sill)
    ends = s.axis[sel] == 0
    lights = pulse_train(u - 0.1, np.maximum(s.extent[sel, 0] - 0.5, 0.3), 0.3, f) * \
        pulse_train(v - 0.45, 10.0, 0.15, f) * ends
    plate = (np.abs(u - 0.5 * s.extent[sel, 0]) < 0.26) * pulse_train(v - 0.25, 10.0, 0.12, f) * ends
    out = body * (1.0 - dark)[:, None] + dark[:, None] * _rgb((0.05, 0.05, 0.05))
    out = out * (1.0 - lights)[:, None] + lights[:, None] * _rgb((0.85, 0.55, 0.3))
    return out * (1.0 - plate)[:, None] + plate[:, None] * _rgb((0.9, 0.9, 0.85))


def _cabin(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Glass all round with body-coloured pillars and roof."""
    body = _base(s, sel)
    u, width = s.u[sel], s.extent[sel, 0]
    pillar = np.clip(np.maximum(0.12 - u, u - (width - 0.12)) / np.maximum(f, 1e-3) + 0.5, 0.0, 1.0)
    glass = _rgb((0.07, 0.08, 0.10)) * (1.0 + 0.4 * coarse + 0.1 * fine)[:, None]
    side = pillar[:, None] * body + (1.0 - pillar)[:, None] * glass
    return np.where((s.axis[sel] == 2)[:, None], body, side)


def _sign(s: Surface, sel: np.ndarray, f: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Round-cornered plate: coloured rim, white centre with a dark bar; grey edges."""
    u, v = s.u[sel], s.v[sel]
    r = np.hypot(u - 0.5 * s.extent[sel, 0], v - 0.5 * s.extent[sel, 1])
    rim = np.clip((r - 0.22) / np.maximum(f, 1e-3) + 0.5, 0.0, 1.0)
    bar = pulse_train(v - 0.5 * s.extent[sel, 1] + 0.04, 10.0, 0.08, f) * (np.abs(u - 0.5 * s.extent[sel, 0]) < 0.15)
    face = rim[:, None] * _base(s, sel) + (1.0 - rim)[:, None] * _rgb((0.9, 0.9, 0.9))
    face = face * (1.0 - bar)[:, None] + bar[:, None] * _rgb((0.1, 0.1, 0.1))
    return np.where((s.axis[sel] == 0)[:, None], face, _rgb((0.5, 0.5, 0.5)))


_PAINTERS: dict[Material, Painter] = {
    Material.ASPHALT: _asphalt,
    Material.PAINT: _paint,
    Material.VERGE: _verge,
    Material.FACADE: _facade,
    Material.POLE: _plain(0.05, 0.05),
    Material.CAR: _car,
    Material.CABIN: _cabin,
    Material.SIGN: _sign,
    Material.TRUNK: _plain(0.25, 0.1),
    Material.FOLIAGE: _plain(0.45, 0.25),
}


def lit_colour(albedo: np.ndarray, normal: np.ndarray, sun: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """(N, 3) radiance: albedo times (ambient + direct sun), blended towards the horizon with distance."""
    direct = np.maximum(normal @ sun.astype(np.float32), 0.0)
    keep = np.exp(distance * np.float32(-1.0 / HAZE_DISTANCE))
    colour = albedo * (keep * (AMBIENT + DIRECT * direct))[:, None]
    colour += (1.0 - keep)[:, None] * HORIZON[None, :]
    return colour


def sky_colour(dirs: np.ndarray, bank: TextureBank) -> np.ndarray:
    """(N, 3) colour of rays (N, 3) that escape: a vertical gradient with clouds at infinity."""
    norm = np.linalg.norm(dirs, axis=1)
    sin_elevation = np.clip(dirs[:, 2] / norm, -1.0, 1.0)
    blend = np.clip(sin_elevation / 0.5, 0.0, 1.0) ** 0.7
    colour = HORIZON[None, :] * (1.0 - blend[:, None]) + ZENITH[None, :] * blend[:, None]
    up = np.maximum(dirs[:, 2], 1e-3)
    cu, cv = 60.0 * dirs[:, 0] / up, 60.0 * dirs[:, 1] / up
    noise = bank.coarse.sample(cu, cv, np.full(dirs.shape[0], 1.5))
    cloud = np.clip(0.9 * (noise - 0.2), 0.0, 1.0) * np.clip(sin_elevation / 0.12, 0.0, 1.0)
    return (colour * (1.0 - cloud[:, None]) + CLOUD[None, :] * cloud[:, None]).astype(np.float32)
