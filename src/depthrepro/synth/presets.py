"""Named sizes of the synthetic KITTI-raw dataset: which drives, how many frames, what resolution.

``tiny`` is for unit tests: two short drives (one train, one test) at 416x128, LiDAR subsampled to a
0.4 degree azimuth step; it renders in a few seconds. ``default`` is the demo dataset: four drives on
two dates at KITTI's 1242x375, LiDAR at a 0.2 degree step.
"""

from __future__ import annotations

from dataclasses import dataclass

FRAME_RATE_HZ = 10.0
"""KITTI raw is synchronised at about 10 Hz."""


@dataclass(frozen=True)
class DriveSpec:
    """One drive: its KITTI names, length, role in the splits and speed profile.

    The ego vehicle cruises at ``cruise_speed`` m/s (with a gentle periodic variation); when
    ``stop_at`` is set it brakes over ``ramp_frames`` frames, stands still for ``stop_frames`` frames
    starting at ``stop_at``, then accelerates back over ``ramp_frames`` frames.
    """

    date: str
    drive: int
    frames: int
    role: str
    cruise_speed: float
    stop_at: int | None = None
    stop_frames: int = 0
    ramp_frames: int = 8

    def __post_init__(self) -> None:
        if self.role not in ("train", "test"):
            raise ValueError(f"drive {self.folder}: role must be 'train' or 'test', got {self.role!r}")
        if self.stop_at is not None and not (
            self.ramp_frames <= self.stop_at and self.stop_at + self.stop_frames + self.ramp_frames <= self.frames
        ):
            raise ValueError(f"drive {self.folder}: stop and ramps must fit inside {self.frames} frames")

    @property
    def folder(self) -> str:
        """KITTI raw drive folder relative to the dataset root, e.g. ``2000_01_01/2000_01_01_drive_0001_sync``."""
        return f"{self.date}/{self.date}_drive_{self.drive:04d}_sync"


@dataclass(frozen=True)
class Preset:
    """A complete dataset description; every output is a pure function of (preset, seed)."""

    name: str
    width: int
    height: int
    drives: tuple[DriveSpec, ...]
    lidar_azimuth_step_deg: float
    annotated_margin: int
    val_fraction: float
    figure_frames: int

    @property
    def dates(self) -> tuple[str, ...]:
        """Distinct recording dates in drive order; each has its own calibration."""
        return tuple(dict.fromkeys(d.date for d in self.drives))


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        width=416,
        height=128,
        drives=(
            DriveSpec("2000_01_01", 1, frames=10, role="train", cruise_speed=6.0, stop_at=3, stop_frames=3,
                      ramp_frames=2),
            DriveSpec("2000_01_01", 2, frames=8, role="test", cruise_speed=9.0),
        ),
        lidar_azimuth_step_deg=0.4,
        annotated_margin=2,
        val_fraction=0.2,
        figure_frames=2,
    ),
    "default": Preset(
        name="default",
        width=1242,
        height=375,
        drives=(
            DriveSpec("2000_01_01", 1, frames=64, role="train", cruise_speed=10.0, stop_at=26, stop_frames=8,
                      ramp_frames=10),
            DriveSpec("2000_01_01", 2, frames=48, role="test", cruise_speed=9.5),
            DriveSpec("2000_01_02", 1, frames=64, role="train", cruise_speed=11.0),
            DriveSpec("2000_01_02", 2, frames=56, role="train", cruise_speed=8.5, stop_at=18, stop_frames=6,
                      ramp_frames=8),
        ),
        lidar_azimuth_step_deg=0.2,
        annotated_margin=5,
        val_fraction=0.1,
        figure_frames=4,
    ),
}


def get_preset(name: str) -> Preset:
    """Look up a preset by name; the error lists the known names."""
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]
