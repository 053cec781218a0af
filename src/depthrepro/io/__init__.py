"""Dataset file formats (KITTI calibration, Velodyne, OXTS, split lists, depth PNG); numpy only."""
