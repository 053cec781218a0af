"""`depthrepro prepare nyu-tree`: lay out the real NYUv2 tree (SC-Depth's layout for GasMono, P2Net's h5 test files).

Inputs default to where `depthrepro download --unpack` leaves the catalogue's archives.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depthrepro.prepare.nyu_tree import NyuSources, prepare_nyu_tree
from depthrepro.prepare.tree_layout import LayoutError
from depthrepro.verbs.tree_sources import downloaded, require_sources, unpacked


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalogue", type=Path, default=Path("params/downloads.yaml"))
    p.add_argument("--out", type=Path, required=True,
                   help="tree root: Training/, Testing/, nyu_test, splits/, manifest.json")
    p.add_argument("--sc-depth-root", type=Path, help="the unpacked SC-Depth NYU bundle (default: its unpack folder)")
    p.add_argument("--p2net-root", type=Path, help="the unpacked nyu_test.tar.gz (default: its unpack folder)")
    p.add_argument("--gasmono-splits", type=Path, help="folder of GasMono's {train,val,test}_files.txt")
    p.add_argument("--h5-list", type=Path, help="EPCDepth's nyu_test.txt")


def run(args: argparse.Namespace) -> int:
    cat = args.catalogue
    given = {
        "SC-Depth NYU bundle": (args.sc_depth_root or unpacked(cat, "sc_depth_nyu"), "sc_depth_nyu"),
        "P2Net h5 test files": (args.p2net_root or unpacked(cat, "p2net_nyu_test"), "p2net_nyu_test"),
        "GasMono splits": (args.gasmono_splits or downloaded(cat, "gasmono_split_train_files").parent,
                           "gasmono_split_train_files"),
        "EPCDepth h5 list": (args.h5_list or downloaded(cat, "epcdepth_nyu_test_list"), "epcdepth_nyu_test_list"),
    }
    require_sources(given)
    sources = NyuSources(*(path for path, _ in given.values()))
    try:
        manifest = prepare_nyu_tree(sources, args.out)
    except LayoutError as err:
        raise SystemExit(str(err)) from err
    print(json.dumps({"out": str(args.out), "scenes": len(manifest.get("scenes", [])),
                      "splits": manifest.get("splits")}, indent=1))
    return 0
