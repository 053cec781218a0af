"""Links, numbered-file listings and the completion manifest shared by the companion-tree layouts."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from depthrepro.prepare import tree_layout
from depthrepro.prepare.tree_layout import (LayoutError, completed_manifest, hard_link, numbered_files,
                                            raise_problems, symlink, write_manifest)


def test_symlink_is_relative_idempotent_and_never_overwrites_data(tmp_path: Path) -> None:
    src = tmp_path / "downloads" / "image_2"
    src.mkdir(parents=True)
    (src / "000000.png").write_bytes(b"png")
    dst = tmp_path / "tree" / "sequences" / "00" / "image_2"
    assert symlink(src, dst) is True
    assert os.readlink(dst) == "../../../downloads/image_2" and (dst / "000000.png").read_bytes() == b"png"
    assert symlink(src, dst) is False, "a correct link is kept"
    assert symlink(src, src) is False, "a tree laid out in place links nothing"
    other = tmp_path / "downloads" / "image_3"
    other.mkdir()
    assert symlink(other, dst) is True and dst.resolve() == other.resolve(), "a link elsewhere is replaced"
    real = tmp_path / "tree" / "calib.txt"
    real.write_text("mine")
    with pytest.raises(LayoutError, match="calib.txt: exists and is not a link"):
        symlink(src / "000000.png", real)
    assert real.read_text() == "mine"


def test_hard_link_falls_back_to_a_symlink_across_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "raw" / "0000000005.png"
    src.parent.mkdir()
    src.write_bytes(b"depth")
    dst = tmp_path / "tree" / "000005.png"
    assert hard_link(src, dst) is True and dst.samefile(src) and not dst.is_symlink()
    assert hard_link(src, dst) is False

    def cross_device(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(tree_layout.os, "link", cross_device)
    far = tmp_path / "tree" / "000006.png"
    assert hard_link(src, far) is True and far.is_symlink() and far.read_bytes() == b"depth"


def test_numbered_files_read_any_padding_and_refuse_two_names_of_one_frame(tmp_path: Path) -> None:
    for name in ("0000003.jpg", "12.jpg", "cam.txt", "notes.jpg"):
        (tmp_path / name).write_text("x")
    assert numbered_files(tmp_path, ".jpg") == {3: tmp_path / "0000003.jpg", 12: tmp_path / "12.jpg"}
    assert numbered_files(tmp_path / "absent", ".jpg") == {}
    (tmp_path / "003.jpg").write_text("x")
    with pytest.raises(LayoutError, match="both name frame 3"):
        numbered_files(tmp_path, ".jpg")


def test_problems_are_listed_then_counted(tmp_path: Path) -> None:
    raise_problems([], "nothing")
    with pytest.raises(LayoutError) as info:
        raise_problems([f"file{i}: missing" for i in range(12)], "tree")
    assert str(info.value).startswith("tree: 12 problem(s)") and "file9: missing" in str(info.value)
    assert "file10" not in str(info.value) and "... and 2 more" in str(info.value)


def test_manifest_marks_completion_for_the_same_inputs_only(tmp_path: Path) -> None:
    assert completed_manifest(tmp_path, {"a": 1}) is None
    write_manifest(tmp_path, {"dataset": "x", "inputs": {"a": 1}})
    assert completed_manifest(tmp_path, {"a": 1}) == {"dataset": "x", "inputs": {"a": 1}}
    assert completed_manifest(tmp_path, {"a": 2}) is None
    assert not [p for p in tmp_path.iterdir() if p.name != "manifest.json"], "no temporary file left"
