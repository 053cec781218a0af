"""EuRoC's ASL files: sensor.yaml as EuRoC writes it, data.csv, frame numbering and split lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthrepro.io.euroc import (
    CameraSensor,
    frame_names,
    image_path,
    neighbour_split,
    read_frame_csv,
    read_sensor_yaml,
    write_frame_csv,
    write_sensor_yaml,
)
from depthrepro.io.kitti import SplitEntry

# The layout and keys of EuRoC's cam0/sensor.yaml (MH sequences), with EuRoC's calibration values.
EUROC_SENSOR_YAML = """\
# General sensor definitions.
sensor_type: camera
comment: VI-Sensor cam0 (MT9M034)

# Sensor extrinsics wrt. the body-frame.
T_BS:
  cols: 4
  rows: 4
  data: [0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975,
         0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768,
        -0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949,
         0.0, 0.0, 0.0, 1.0]

# Camera specific definitions.
rate_hz: 20
resolution: [752, 480]
camera_model: pinhole
intrinsics: [458.654, 457.296, 367.215, 248.375] #fu, fv, cu, cv
distortion_model: radial-tangential
distortion_coefficients: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]
"""


def test_reads_euroc_sensor_yaml_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "sensor.yaml"
    path.write_text(EUROC_SENSOR_YAML)
    sensor = read_sensor_yaml(path)
    assert sensor.resolution == (752, 480) and sensor.rate_hz == 20.0
    assert sensor.intrinsics == (458.654, 457.296, 367.215, 248.375)
    assert sensor.distortion[0] == -0.28340811 and sensor.comment == "VI-Sensor cam0 (MT9M034)"
    assert sensor.T_BS.shape == (4, 4) and sensor.T_BS[1, 3] == -0.064676986768
    written = tmp_path / "written.yaml"
    write_sensor_yaml(written, sensor)
    again = read_sensor_yaml(written)
    assert again.resolution == sensor.resolution and again.intrinsics == sensor.intrinsics
    assert again.distortion == sensor.distortion and again.comment == sensor.comment
    np.testing.assert_array_equal(again.T_BS, sensor.T_BS)


def test_sensor_yaml_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "sensor.yaml"
    with pytest.raises(FileNotFoundError, match="sensor.yaml: camera sensor file not found"):
        read_sensor_yaml(path)
    path.write_text(EUROC_SENSOR_YAML.replace("resolution: [752, 480]", "resolution: [752]"))
    with pytest.raises(ValueError, match=r"sensor.yaml: resolution must be a list of 2 numbers"):
        read_sensor_yaml(path)
    path.write_text(EUROC_SENSOR_YAML.replace("rate_hz: 20\n", ""))
    with pytest.raises(ValueError, match=r"sensor.yaml: missing keys \['rate_hz'\]"):
        read_sensor_yaml(path)
    with pytest.raises(ValueError, match="T_BS must be"):
        write_sensor_yaml(path, CameraSensor(20.0, (4, 3), (1.0, 1.0, 2.0, 1.5), (0.0,) * 4, np.eye(3)))


def test_frame_csv_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    write_frame_csv(path, [1403636579763555584, 1403636579813555456])
    assert path.read_text().splitlines()[0] == "#timestamp [ns],filename"
    assert read_frame_csv(path) == [(1403636579763555584, "1403636579763555584.png"),
                                    (1403636579813555456, "1403636579813555456.png")]
    path.write_text("#timestamp [ns],filename\n1403636579763555584;x.png\n")
    with pytest.raises(ValueError, match=r"data.csv:2: expected '<timestamp_ns>,<filename>'"):
        read_frame_csv(path)


def test_frames_are_numbered_by_sorted_cam0_names(tmp_path: Path) -> None:
    folder = "MH_02_easy/mav0"
    with pytest.raises(FileNotFoundError, match=r"MH_02_easy/mav0/cam0/data: camera folder not found"):
        frame_names(tmp_path, folder)
    data = tmp_path / folder / "cam0" / "data"
    data.mkdir(parents=True)
    with pytest.raises(ValueError, match="cam0/data: no PNG frames"):
        frame_names(tmp_path, folder)
    for stamp in (1403636579813555456, 1403636579763555584, 1403636579863555584):
        (data / f"{stamp}.png").write_bytes(b"")
    assert frame_names(tmp_path, folder) == ["1403636579763555584.png", "1403636579813555456.png",
                                             "1403636579863555584.png"]
    assert neighbour_split(tmp_path, folder) == [SplitEntry(folder, 1, "l")]
    assert image_path(tmp_path, folder, "cam1", "1.png") == tmp_path / "MH_02_easy/mav0/cam1/data/1.png"
