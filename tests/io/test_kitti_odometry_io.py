"""KITTI odometry formats: KITTI's own calib text, pose and time files, crop geometry, masks and split lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthrepro.io.kitti_odometry import (
    Keyframe,
    OdometryCalib,
    OdomSplitEntry,
    centre_crop_box,
    cropped_intrinsics,
    load_odometry_sequence,
    read_keyframes,
    read_mvobj_mask,
    read_odom_split,
    read_odometry_calib,
    read_poses,
    read_times,
    write_keyframes,
    write_mvobj_mask,
    write_odom_split,
    write_odometry_calib,
    write_poses,
    write_times,
)

KITTI_00_CALIB = "".join(f"{line}\n" for line in (
    "P0: 7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 0.000000000000e+00 "
    "0.000000000000e+00 7.188560000000e+02 1.852157000000e+02 0.000000000000e+00 "
    "0.000000000000e+00 0.000000000000e+00 1.000000000000e+00 0.000000000000e+00",
    "P1: 7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 -3.861448000000e+02 "
    "0.000000000000e+00 7.188560000000e+02 1.852157000000e+02 0.000000000000e+00 "
    "0.000000000000e+00 0.000000000000e+00 1.000000000000e+00 0.000000000000e+00",
    "P2: 7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 4.538225000000e+01 "
    "0.000000000000e+00 7.188560000000e+02 1.852157000000e+02 -1.130887000000e-01 "
    "0.000000000000e+00 0.000000000000e+00 1.000000000000e+00 3.779761000000e-03",
    "P3: 7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 -3.372877000000e+02 "
    "0.000000000000e+00 7.188560000000e+02 1.852157000000e+02 2.369057000000e+00 "
    "0.000000000000e+00 0.000000000000e+00 1.000000000000e+00 4.915215000000e-03",
    "Tr: 4.276802385584e-04 -9.999672484946e-01 -8.084491683471e-03 -1.198459927713e-02 "
    "-7.210626507497e-03 8.081198471645e-03 -9.999413164504e-01 -5.403984729748e-02 "
    "9.999738645903e-01 4.859485810390e-04 -7.206933692422e-03 -2.921968648686e-01",
))
"""KITTI odometry sequence 00's ``calib.txt`` verbatim."""


def test_calib_reads_kitti_text_and_writes_it_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "calib.txt"
    path.write_text(KITTI_00_CALIB)
    calib = read_odometry_calib(path)
    assert calib.P.shape == (4, 3, 4) and calib.Tr.shape == (3, 4)
    assert calib.K(2)[0, 0] == pytest.approx(718.856)
    baseline = calib.T_cam_from_cam0(2)[0, 3] - calib.T_cam_from_cam0(3)[0, 3]
    print(f"\nKITTI 00 colour baseline from P2, P3: {baseline:.4f} m")
    assert baseline == pytest.approx(0.533, abs=0.002)
    copy = tmp_path / "copy.txt"
    write_odometry_calib(copy, calib)
    assert copy.read_text() == KITTI_00_CALIB


def test_calib_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "calib.txt"
    path.write_text("P0: 1 2 3\n")
    with pytest.raises(ValueError, match=r"calib.txt:1"):
        read_odometry_calib(path)
    path.write_text("\n".join(KITTI_00_CALIB.splitlines()[:4]) + "\n")
    with pytest.raises(ValueError, match=r"missing calibration entries \['Tr'\]"):
        read_odometry_calib(path)
    with pytest.raises(ValueError, match="expected P"):
        write_odometry_calib(path, OdometryCalib(P=np.zeros((3, 3, 4)), Tr=np.zeros((3, 4))))


def test_poses_round_trip_exactly_and_read_kitti_lines(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    poses = np.tile(np.eye(4), (5, 1, 1))
    for pose in poses[1:]:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        pose[:3, :3] = q * np.sign(np.linalg.det(q))
        pose[:3, 3] = rng.normal(scale=50.0, size=3)
    path = tmp_path / "00.txt"
    write_poses(path, poses)
    back = read_poses(path)
    print(f"\npose round trip max error {np.abs(back - poses).max():.1e}")
    np.testing.assert_allclose(back, poses, rtol=1e-11, atol=1e-12)
    kitti_line = "1.000000e+00 9.043680e-12 2.326809e-11 5.551115e-17 9.043683e-12 1.000000e+00 2.392370e-10 " \
                 "3.330669e-16 2.326810e-11 2.392370e-10 9.999999e-01 -4.440892e-16\n"
    path.write_text(kitti_line)
    np.testing.assert_allclose(read_poses(path)[0], np.eye(4), atol=1e-6)
    path.write_text(kitti_line + "1 2 3\n")
    with pytest.raises(ValueError, match=r"00.txt:2"):
        read_poses(path)


def test_times_use_kitti_formatting(tmp_path: Path) -> None:
    path = tmp_path / "times.txt"
    write_times(path, np.array([0.0, 0.1036788, 12.5]))
    assert path.read_text() == "0.000000e+00\n1.036788e-01\n1.250000e+01\n"
    np.testing.assert_allclose(read_times(path), [0.0, 0.1036788, 12.5])


def test_crop_box_and_intrinsics_follow_the_loader() -> None:
    assert centre_crop_box(1241, 376) == (244, 0, 997, 376)
    assert centre_crop_box(1226, 370) == (243, 0, 983, 370)
    assert centre_crop_box(400, 400) == (0, 100, 400, 300)
    K = np.array([[718.856, 0.0, 607.1928], [0.0, 718.856, 185.2157], [0.0, 0.0, 1.0]])
    cropped = cropped_intrinsics(K, 1241, 376)
    # the loader's normalised values times the target size: fx / 512 / (376 / 256), (cx - 244.5) / 752, cy / 376
    expected_fx = 718.856 / 512 / (376 / 256) * 512
    np.testing.assert_allclose(cropped[0], [expected_fx, 0.0, (607.1928 - 244.5) / 752 * 512])
    np.testing.assert_allclose(cropped[1], [0.0, 718.856 / 256 / (376 / 256) * 256, 185.2157 / 376 * 256])


def test_mask_is_float32_zero_one(tmp_path: Path) -> None:
    mask = np.zeros((256, 512), bool)
    mask[100:120, 30:90] = True
    path = tmp_path / "000000.npy"
    write_mvobj_mask(path, mask)
    raw = np.load(path)
    assert raw.dtype == np.float32 and raw.sum() == 20 * 60
    np.testing.assert_array_equal(read_mvobj_mask(path), mask.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(256, 512\)"):
        write_mvobj_mask(path, np.zeros((128, 512)))


def test_split_lists_round_trip_in_their_formats(tmp_path: Path) -> None:
    odom = [OdomSplitEntry(8, 1430, "r"), OdomSplitEntry(0, 12, "l")]
    path = tmp_path / "train_files.txt"
    write_odom_split(path, odom)
    assert path.read_text() == "8 1430 r\n0 12 l\n"
    assert read_odom_split(path) == odom
    keyframes = [Keyframe(0, 5), Keyframe(7, 1090)]
    write_keyframes(path, keyframes)
    assert path.read_text() == "00 5\n07 1090\n"
    assert read_keyframes(path) == keyframes
    path.write_text("8 1430 x\n")
    with pytest.raises(ValueError, match=r"train_files.txt:1"):
        read_odom_split(path)


def test_sequence_loader_checks_lengths(tmp_path: Path) -> None:
    sequence = tmp_path / "sequences" / "03"
    (sequence / "image_2").mkdir(parents=True)
    for frame in range(3):
        (sequence / "image_2" / f"{frame:06d}.png").write_bytes(b"")
    (sequence / "calib.txt").write_text(KITTI_00_CALIB)
    write_times(sequence / "times.txt", np.arange(3) * 0.1)
    write_poses(tmp_path / "poses" / "03.txt", np.tile(np.eye(4), (3, 1, 1)))
    loaded = load_odometry_sequence(tmp_path, 3)
    assert loaded.frames == 3 and loaded.dvso_poses is None and loaded.annotated == ()
    write_poses(tmp_path / "poses_dvso" / "03.txt", np.tile(np.eye(4), (2, 1, 1)))
    with pytest.raises(ValueError, match=r"poses_dvso/03.txt: 2 entries, but image_2 holds 3 frames"):
        load_odometry_sequence(tmp_path, 3)
