"""`depthrepro prepare odometry-tree`: lay out the real KITTI odometry tree (MonoRec's layout and the odom split).

Inputs default to where `depthrepro download --unpack` leaves the catalogue's archives.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.prepare.odometry_tree import OdometrySources, prepare_odometry_tree
from depthrepro.prepare.tree_layout import LayoutError
from depthrepro.verbs.tree_sources import downloaded, require_sources, unpacked


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalogue", type=Path, default=Path("params/downloads.yaml"))
    p.add_argument("--out", type=Path, required=True, help="tree root: sequences/, poses*/, splits/, manifest.json")
    p.add_argument("--odometry-root", type=Path,
                   help="KITTI odometry's dataset/ folder (default: data_odometry_color's unpack folder/dataset)")
    p.add_argument("--annotated-root", type=Path, help="KITTI's data_depth_annotated (default: its unpack folder)")
    p.add_argument("--odom-splits", type=Path, help="monodepth2's splits/odom folder (default: the catalogue's)")
    p.add_argument("--monorec-train-config", type=Path)
    p.add_argument("--monorec-eval-config", type=Path)


def run(args: argparse.Namespace) -> int:
    cat = args.catalogue
    given = {
        "odometry root": (args.odometry_root or unpacked(cat, "data_odometry_color") / "dataset",
                          "data_odometry_color"),
        "annotated depth": (args.annotated_root or unpacked(cat, "data_depth_annotated"), "data_depth_annotated"),
        "odom splits": (args.odom_splits or downloaded(cat, "split_odom_train_files").parent, "split_odom_train_files"),
        "MonoRec training config": (args.monorec_train_config or downloaded(cat, "dynamic_multiframe_train_config"),
                                    "dynamic_multiframe_train_config"),
        "MonoRec evaluation config": (args.monorec_eval_config or downloaded(cat, "dynamic_multiframe_eval_config"),
                                      "dynamic_multiframe_eval_config"),
    }
    require_sources(given)
    sources = OdometrySources(*(path for path, _ in given.values()))
    try:
        manifest = prepare_odometry_tree(sources, args.out)
    except LayoutError as err:
        raise SystemExit(str(err)) from err
    print(json.dumps({"out": str(args.out), "sequences": len(manifest.get("sequences", [])),
                      "splits": manifest.get("splits")}, indent=1))
    return 0
