"""JPEG conversion: monodepth2's settings (q92, 2x2,1x1,1x1) written and read back, resumable (but never with
stale settings), atomic, errors name files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depthrepro.prepare.jpeg import SETTINGS_STAMP, JpegSettings, convert_tree, ijg_tables, read_jpeg_header

DRIVE = "2011_09_26/2011_09_26_drive_0001_sync"

# IJG Annex K luminance table, scaled for quality 92 as libjpeg's jpeg_set_quality does.
ANNEX_K_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
                92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]


def _q92(v: int) -> int:
    return min(max((v * (200 - 2 * 92) + 50) // 100, 1), 255)


def _segments(data: bytes) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    i = 2
    while i < len(data) and data[i] == 0xFF and data[i + 1] != 0xDA:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        out.setdefault(marker, []).append(data[i + 4:i + 2 + length])
        i += 2 + length
    return out


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for cam in ("image_02", "image_03"):
        d = tmp_path / "raw" / DRIVE / cam / "data"
        d.mkdir(parents=True)
        for frame in range(3):
            cv2.imwrite(str(d / f"{frame:010d}.png"), rng.integers(0, 255, (40, 64, 3), dtype=np.uint8))
    (tmp_path / "raw" / "2011_09_26" / "calib_cam_to_cam.txt").write_text("S_02: 64 40\n")
    return tmp_path / "raw"


def test_settings_equal_imagemagick_q92_420(raw: Path, tmp_path: Path) -> None:
    summary = convert_tree(raw, tmp_path / "jpg", JpegSettings())
    assert summary["files"] == 6 and summary["quality"] == 92 and summary["sampling"] == "2x2,1x1,1x1"
    data = (tmp_path / "jpg" / DRIVE / "image_02" / "data" / "0000000000.jpg").read_bytes()
    seg = _segments(data)
    sof = seg[0xC0][0]
    components = [(sof[6 + 3 * k], sof[7 + 3 * k]) for k in range(sof[5])]
    assert [c[1] for c in components] == [0x22, 0x11, 0x11]  # 2x2,1x1,1x1
    luma = seg[0xDB][0][1:65]
    zigzag = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13,
              6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45,
              38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
    assert [luma[zigzag.index(k)] for k in range(64)] == [_q92(v) for v in ANNEX_K_LUMA]
    assert (tmp_path / "jpg" / "2011_09_26" / "calib_cam_to_cam.txt").is_file()


def test_resume_keeps_valid_files_and_redoes_broken_ones(raw: Path, tmp_path: Path) -> None:
    first = convert_tree(raw, tmp_path / "jpg", JpegSettings())
    broken = tmp_path / "jpg" / DRIVE / "image_03" / "data" / "0000000001.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    again = convert_tree(raw, tmp_path / "jpg", JpegSettings(), workers=2)
    assert again["jpeg_tree_sha256"] == first["jpeg_tree_sha256"]
    assert not list((tmp_path / "jpg").rglob("*.tmp"))


def test_errors_name_the_file(raw: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="empty"):
        convert_tree(tmp_path / "empty", tmp_path / "jpg", JpegSettings())
    bad = raw / DRIVE / "image_02" / "data" / "0000000002.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(OSError, match="0000000002.png"):
        convert_tree(raw, tmp_path / "jpg2", JpegSettings())


def test_header_reads_back_the_imagemagick_settings(raw: Path, tmp_path: Path) -> None:
    convert_tree(raw, tmp_path / "jpg", JpegSettings(), progress=False)
    path = tmp_path / "jpg" / DRIVE / "image_03" / "data" / "0000000002.jpg"
    header = read_jpeg_header(path.read_bytes(), path)
    luma, chroma = ijg_tables(92)
    assert list(luma) == [_q92(v) for v in ANNEX_K_LUMA]
    assert header.sampling == "2x2,1x1,1x1" and not header.progressive
    assert [header.tables[t] for t in header.component_tables] == [luma, chroma, chroma]

    image = np.random.default_rng(1).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    ok, other = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75, cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                             cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    assert ok
    header = read_jpeg_header(other.tobytes())
    assert header.sampling == "1x1,1x1,1x1" and header.progressive
    assert header.tables[header.component_tables[0]] == ijg_tables(75)[0] != luma
    with pytest.raises(ValueError, match=r"x\.png: not a JPEG"):
        read_jpeg_header(b"\x89PNG....", "x.png")


def test_other_settings_convert_the_whole_tree_again(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "jpg"
    first = convert_tree(raw, out, JpegSettings(), progress=False)
    files = sorted(out.rglob("*.jpg"))
    before = {p: p.read_bytes() for p in files}
    lower = convert_tree(raw, out, JpegSettings(quality=80), progress=False)
    assert lower["reconverted_for_new_settings"] and lower["quality"] == 80
    assert all(p.read_bytes() != before[p] for p in files)
    assert read_jpeg_header(files[0].read_bytes()).tables[0] == ijg_tables(80)[0]
    assert '"quality": 80' in (out / SETTINGS_STAMP).read_text()

    (out / SETTINGS_STAMP).unlink()  # JPEGs of unknown settings: converted again too
    again = convert_tree(raw, out, JpegSettings(), workers=2, progress=False)
    assert again["reconverted_for_new_settings"] and again["jpeg_tree_sha256"] == first["jpeg_tree_sha256"]
    resumed = convert_tree(raw, out, JpegSettings(), progress=False)
    assert not resumed["reconverted_for_new_settings"] and resumed["jpeg_tree_sha256"] == first["jpeg_tree_sha256"]
