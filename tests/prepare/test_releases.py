"""params/releases.yaml: every official evaluation names a catalogue archive, a params file and a profile."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from depthrepro.prepare.releases import ReleaseError, load_releases


def test_the_project_file_is_consistent(repo_root: Path) -> None:
    releases = load_releases(repo_root / "params/releases.yaml", repo_root / "params/downloads.yaml")
    assert releases["dualrefine_HR"].profile == "paper_hr"
    assert releases["dualrefine_HR"].root == Path("resources/checkpoints/dualrefine/DualRefine_HR")
    assert releases["epcdepth_model50_d2"].model == {"output_scale": 2}
    assert releases["epcdepth_model50_d2"].root == Path("resources/checkpoints/epcdepth/model50.pth.tar")


def test_every_official_column_names_a_release(repo_root: Path) -> None:
    releases = load_releases(repo_root / "params/releases.yaml", repo_root / "params/downloads.yaml")
    for path in sorted((repo_root / "params/paper").glob("*.csv")):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row["official"]:
                    assert row["official"] in releases, (path, row["row"])
                    assert row["method"], (path, row["row"])


def test_downloaded_means_the_unpacked_folder_or_the_file(repo_root: Path, tmp_path: Path) -> None:
    releases = load_releases(repo_root / "params/releases.yaml", repo_root / "params/downloads.yaml")
    folder, single = releases["manydepth_KITTI_MR"], releases["epcdepth_model18_d0"]
    assert not folder.downloaded(tmp_path) and not single.downloaded(tmp_path)
    (tmp_path / folder.root).mkdir(parents=True)
    assert not folder.downloaded(tmp_path)            # an empty folder is an unfinished unpack
    (tmp_path / folder.root / "encoder.pth").write_bytes(b"x")
    (tmp_path / single.root).parent.mkdir(parents=True)
    (tmp_path / single.root).write_bytes(b"x")
    assert folder.downloaded(tmp_path) and single.downloaded(tmp_path)
    assert "--unpack" in folder.download_hint() and "prints how" in single.download_hint()


@pytest.mark.parametrize("entry, message", [
    ("x: {archive: nope, params: monodepth2, profile: paper}", "archive 'nope' is not in"),
    ("x: {archive: manydepth_KITTI_MR, params: nope, profile: paper}", "no params file"),
    ("x: {archive: manydepth_KITTI_MR, params: manydepth, profile: nope}", "has no profile 'nope'"),
    ("x: {archive: manydepth_KITTI_MR, params: manydepth}", "needs keys"),
    ("x: {archive: manydepth_KITTI_MR, params: manydepth, profile: paper, model: 3}", "must be mappings"),
])
def test_bad_entries_are_named(repo_root: Path, tmp_path: Path, entry: str, message: str) -> None:
    shutil.copytree(repo_root / "params/methods", tmp_path / "methods")
    (tmp_path / "releases.yaml").write_text(entry + "\n")
    with pytest.raises(ReleaseError, match=message) as error:
        load_releases(tmp_path / "releases.yaml", repo_root / "params/downloads.yaml")
    assert "releases.yaml: x" in str(error.value)
