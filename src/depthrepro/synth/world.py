"""The whole synthetic world: KITTI raw, KITTI odometry, NYUv2 and EuRoC trees rendered from one (preset, seed).

Layout under ``root``::

    kitti_raw/        see ``depthrepro.synth.kitti_raw``
    kitti_odometry/   see ``depthrepro.synth.kitti_odometry``
    nyuv2/            see ``depthrepro.synth.nyuv2``
    euroc/            see ``depthrepro.synth.euroc``
    manifest.json     preset, seed and each format's folder and summary

Every format folder has its own ``manifest.json`` and ``figure_sheet.png``. All bytes depend only on
(preset, seed); the top manifest leaves out timings and absolute paths for that reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from depthrepro.io.atomic import atomic_write_text
from depthrepro.synth.euroc import render_euroc
from depthrepro.synth.kitti_odometry import render_kitti_odometry
from depthrepro.synth.kitti_raw import render_kitti_raw
from depthrepro.synth.nyuv2 import render_nyuv2

FORMATS: dict[str, Callable[..., dict]] = {
    "kitti_raw": render_kitti_raw,
    "kitti_odometry": render_kitti_odometry,
    "nyuv2": render_nyuv2,
    "euroc": render_euroc,
}
"""Format folder name to its renderer ``(root, preset, seed, workers) -> summary``."""


def render_world(root: Path, preset: str = "default", seed: int = 0, workers: int | None = None) -> dict:
    """Render every format of ``FORMATS`` under ``root`` (``root/<format>``) and write ``root/manifest.json``.

    Returns ``{"root", "preset", "seed", "formats": {name: summary}, "seconds"}`` where each summary is
    the format renderer's (with its own ``seconds``). ``workers`` as in ``render_kitti_raw``.
    """
    start = time.perf_counter()
    root = Path(root)
    summaries = {name: render(root / name, preset=preset, seed=seed, workers=workers)
                 for name, render in FORMATS.items()}
    manifest = {
        "world": "synthetic",
        "preset": preset,
        "seed": seed,
        "formats": {
            name: {key: value for key, value in summary.items() if key not in ("root", "seconds", "preset", "seed")}
            | {"folder": name}
            for name, summary in summaries.items()
        },
    }
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {"root": str(root), "preset": preset, "seed": seed, "formats": summaries,
            "seconds": round(time.perf_counter() - start, 1)}
