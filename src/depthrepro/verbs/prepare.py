"""`depthrepro prepare <step>`: the data-preparation steps, each a verb module of its own.

Only the step that runs is imported, so each Snakemake rule's code digest still covers exactly the
modules its step runs (this table plus that module's import closure). ``--report`` is a step too: it
measures the prepared data against the acceptance numbers.
"""

from __future__ import annotations

STEPS: dict[str, tuple[str, str]] = {
    "jpeg": ("prepare_jpeg", "Convert a KITTI-format PNG tree to JPEG as monodepth2 does"),
    "gt": ("export_gt", "Export the ground-truth depths of a test split"),
    "depth-hints": ("depth_hints", "Precompute depth hints (12 SGBM matchers, photometric selection) for a split"),
    "colmap-poses": ("colmap_poses", "COLMAP coarse relative poses of the NYUv2 training scenes (GasMono's cpose)"),
    "odometry-tree": ("odometry_tree", "Lay out the KITTI odometry tree (MonoRec's layout, the odom split) from the downloads"),
    "nyu-tree": ("nyu_tree", "Lay out the NYUv2 tree (SC-Depth's layout, P2Net's h5 test files) from the downloads"),
    "--report": ("prepare_report", "Measure the prepared data of a dataset against the acceptance numbers"),
}
"""step -> (module under ``depthrepro.verbs``, description)."""
