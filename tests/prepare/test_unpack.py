"""Safe, resumable unpacking and the merge of KITTI annotated depth into the raw tree."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from depthrepro.prepare.unpack import UnsafeArchiveError, marker_path, merge_annotated_depth, unpack_archive

DRIVE = "2011_09_26_drive_0001_sync"


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


def test_zip_unpacks_merges_folders_and_resumes(tmp_path: Path) -> None:
    dest = tmp_path / "kitti_raw"
    calib = _zip(tmp_path / "2011_09_26_calib.zip", {"2011_09_26/calib_cam_to_cam.txt": b"K"})
    drive = _zip(tmp_path / f"{DRIVE}.zip", {f"2011_09_26/{DRIVE}/image_02/data/0000000000.png": b"png"})
    assert unpack_archive(calib, dest) == 1
    assert unpack_archive(drive, dest) == 1
    assert (dest / "2011_09_26" / "calib_cam_to_cam.txt").read_bytes() == b"K"
    assert (dest / "2011_09_26" / DRIVE / "image_02" / "data" / "0000000000.png").read_bytes() == b"png"
    assert marker_path(drive, dest).is_file()
    assert sorted(p.name for p in dest.iterdir()) == [".unpacked", "2011_09_26"], "no staging folder left"
    drive.unlink()
    assert unpack_archive(drive, dest) == 1, "a marked archive is skipped even once deleted"


def test_tar_gz_unpacks(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "nyu_test.tar.gz", {"nyu_test/00001.h5": b"h5"})
    assert unpack_archive(archive, tmp_path / "out") == 1
    assert (tmp_path / "out" / "nyu_test" / "00001.h5").read_bytes() == b"h5"


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_zip_traversal_rejected(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "evil.zip", {"ok.txt": b"fine", name: b"evil"})
    dest = tmp_path / "dest" / "inner"
    with pytest.raises(UnsafeArchiveError, match=r"evil\.zip: member .*escape\.txt"):
        unpack_archive(archive, dest)
    assert not list(tmp_path.rglob("escape.txt"))
    assert not list(dest.iterdir()), "nothing may be written when a member is rejected"


def test_tar_escaping_symlink_rejected(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", {"ok.txt": b"fine"}, links={"link": "../../outside"})
    with pytest.raises(UnsafeArchiveError, match="leaves the archive"):
        unpack_archive(archive, tmp_path / "dest")


def test_tar_absolute_member_rejected(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "abs.tar.gz", {"/etc/escape": b"evil"})
    with pytest.raises(UnsafeArchiveError, match="outside the destination"):
        unpack_archive(archive, tmp_path / "dest")


def _annotated(root: Path, split: str, drive: str, frames: list[int]) -> None:
    for cam in ("image_02", "image_03"):
        folder = root / split / drive / "proj_depth" / "groundtruth" / cam
        folder.mkdir(parents=True)
        for f in frames:
            (folder / f"{f:010d}.png").write_bytes(f"{drive}/{cam}/{f}".encode())


def test_merge_annotated_depth(tmp_path: Path) -> None:
    annotated, raw = tmp_path / "annotated", tmp_path / "kitti_raw"
    _annotated(annotated, "train", DRIVE, [5, 6])
    _annotated(annotated, "val", "2011_09_28_drive_0002_sync", [5])
    _annotated(annotated, "train", "2011_10_03_drive_0047_sync", [5])
    (annotated / "val" / "readme_folder").mkdir()
    for drive in (f"2011_09_26/{DRIVE}", "2011_09_28/2011_09_28_drive_0002_sync"):
        (raw / drive / "image_02" / "data").mkdir(parents=True)

    report = merge_annotated_depth(annotated, raw)

    assert sorted(report.placed) == [DRIVE, "2011_09_28_drive_0002_sync"]
    assert report.files_added == 6
    assert set(report.unplaced) == {"2011_10_03_drive_0047_sync", "readme_folder"}
    assert "absent" in report.unplaced["2011_10_03_drive_0047_sync"]
    placed = raw / "2011_09_26" / DRIVE / "proj_depth" / "groundtruth" / "image_03" / "0000000006.png"
    assert placed.read_bytes() == f"{DRIVE}/image_03/6".encode()
    assert not list(raw.rglob(".*.tmp"))

    again = merge_annotated_depth(annotated, raw)
    assert again.files_added == 0 and sorted(again.placed) == sorted(report.placed)


def test_merge_requires_train_or_val(tmp_path: Path) -> None:
    (tmp_path / "annotated").mkdir()
    with pytest.raises(FileNotFoundError, match="no 'train' or 'val' folder"):
        merge_annotated_depth(tmp_path / "annotated", tmp_path / "raw")
