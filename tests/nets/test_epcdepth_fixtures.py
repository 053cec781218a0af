"""EPCDepth ResNet encoder + full-scale RSU decoder against the official outputs in the fixtures."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from depthrepro.nets.resnet import ResnetEncoder
from depthrepro.nets.rsu_decoder import RSUDecoder

from fixturekit import assert_keys_match_manifest, assert_matches, case_params, fill

FOLDERS = {"epcdepth_resnet18": 18, "epcdepth_resnet50": 50}
CASES = [pytest.param(folder, *param.values, id=param.id, marks=param.marks)
         for folder in FOLDERS for param in case_params(folder)]


def build(num_layers: int) -> tuple[ResnetEncoder, RSUDecoder]:
    encoder = ResnetEncoder(num_layers)
    decoder = RSUDecoder(encoder.num_ch_enc, num_output_channels=1, use_encoder_disp=True)
    return encoder, decoder


@pytest.mark.parametrize("folder", FOLDERS)
def test_state_dict_keys_match_official(folder: str) -> None:
    encoder, decoder = build(FOLDERS[folder])
    assert_keys_match_manifest(encoder, folder, "encoder")
    assert_keys_match_manifest(decoder, folder, "depth_decoder")


@pytest.mark.parametrize(("folder", "path"), CASES)
def test_full_scale_network_matches_official(folder: str, path: Path) -> None:
    torch.set_num_threads(1)
    case = torch.load(path, weights_only=True)
    meta = case["meta"]
    color = case["inputs"]["color"]
    assert color.shape == (meta["batch"], 3, meta["height"], meta["width"])

    encoder, decoder = build(FOLDERS[folder])
    fill(encoder)
    fill(decoder)
    with torch.no_grad():
        features = encoder(color)
        disps = decoder(features)
    assert len(disps) == 10
    mine: dict[Any, torch.Tensor] = {("disp", i): d for i, d in enumerate(disps)}
    for i, feature in enumerate(features):
        mine[("aux_feat_chanmean", i)] = feature.mean(dim=(2, 3))

    for key in [*meta["compared_outputs"], *meta["debug_outputs"]]:
        assert_matches(mine[key], case["outputs"][key], f"{folder}/{path.name} {key}")
