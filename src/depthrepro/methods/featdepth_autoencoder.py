"""FeatDepth's FeatureNet trained alone (official model `autoencoder`, cfg_kitti_autoencoder.py of
sconlyshootery/FeatDepth, commit 550420b).

A ResNet auto-encoder on the raw image, trained with multi-scale reconstruction of the current frame
plus the discriminative (−dis · first-order) and convergent (+cvt · second-order) regularisers over its
five feature levels; `featdepth` then uses its encoder as the feature extractor of the feature-metric
loss. Also holds the mmcv checkpoint helpers both FeatDepth methods use: checkpoints are
`{"state_dict": ...}` with the official module prefixes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from depthrepro.losses.feature_metric import multi_level_feature_regularisation, multi_scale_reconstruction_loss
from depthrepro.losses.photometric import SSIM
from depthrepro.methods.config import config_from_dict, load_module_state
from depthrepro.methods.registry import register_method
from depthrepro.nets.feature_net import FeatureEncoder, ReconstructionDecoder
from depthrepro.nets.resnet import ImagenetFiles, imagenet_file, load_imagenet_weights

AUTOENCODER_METHOD = "featdepth_autoencoder"
MMCV_PREFIX = "module."
# the second derivatives of the stride-32 FeatureNet features need at least 3 rows and columns
MIN_FEATURE_NET_SIZE = 96


def validate_size(method: str, height: int, width: int, feature_net: bool) -> None:
    """Multiples of 32, and at least `MIN_FEATURE_NET_SIZE` when the FeatureNet is trained."""
    if height % 32 or width % 32:
        raise ValueError(f"{method} config: height and width must be multiples of 32, got {height}x{width}")
    if feature_net and (height < MIN_FEATURE_NET_SIZE or width < MIN_FEATURE_NET_SIZE):
        raise ValueError(f"{method} config: the FeatureNet regularisers need height and width >= "
                         f"{MIN_FEATURE_NET_SIZE}, got {height}x{width}")


def validate_scales(method: str, scales: Sequence[int]) -> None:
    """Scales must include 0 and lie in 0..3."""
    if 0 not in scales or not set(scales) <= {0, 1, 2, 3}:
        raise ValueError(f"{method} config: scales must include 0 and lie in 0..3, got {list(scales)}")


def mmcv_state_dict(state: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The model entries of an mmcv checkpoint (`{"state_dict": ..., "meta": ...}`) or of a bare
    state dict, without DataParallel's `module.` prefixes (mmcv's `load_checkpoint` strips them)."""
    entries = state["state_dict"] if "state_dict" in state else state
    if not isinstance(entries, Mapping) or not all(isinstance(k, str) for k in entries):
        raise KeyError(f"{where}: expected an mmcv checkpoint with a 'state_dict' mapping, got keys "
                       f"{sorted(map(str, state))[:8]}")
    return {k.removeprefix(MMCV_PREFIX): v for k, v in entries.items()}


def with_prefix(entries: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Entries under `<prefix>.`, with the prefix removed."""
    return {k[len(prefix) + 1:]: v for k, v in entries.items() if k.startswith(prefix + ".")}


@dataclass(frozen=True)
class FeatDepthAutoencoderConfig:
    """FeatureNet training options (cfg_kitti_autoencoder.py). `frame_ids`: the frames the data loader
    must provide, the current frame only."""

    num_layers: int = 50
    height: int = 256
    width: int = 800
    frame_ids: tuple[int, ...] = (0,)
    scales: tuple[int, ...] = (0, 1, 2, 3)
    dis: float = 1e-3
    cvt: float = 1e-3

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> FeatDepthAutoencoderConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, AUTOENCODER_METHOD)

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        validate_size(AUTOENCODER_METHOD, self.height, self.width, feature_net=True)
        validate_scales(AUTOENCODER_METHOD, self.scales)
        if self.frame_ids != (0,):
            raise ValueError(f"{AUTOENCODER_METHOD} config: frame_ids must be [0], got {list(self.frame_ids)}")


@register_method("featdepth_autoencoder")
class FeatDepthAutoencoder(nn.Module):
    """The FeatureNet (`Encoder` + `Decoder`) with its stand-alone training loss."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = FeatDepthAutoencoderConfig.from_dict(cfg)
        self.Encoder = FeatureEncoder(self.config.num_layers)
        self.Decoder = ReconstructionDecoder(self.Encoder.num_ch_enc)
        self.ssim = SSIM()

    def forward(self, color: torch.Tensor) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
        """`(B, 3, H, W)` in [0, 1] -> (five encoder features, reconstructions `{s: (B, 3, H/2^s, W/2^s)}`)."""
        features = self.Encoder(color)
        return features, self.Decoder(features)

    def training_step(self, inputs: Mapping[Any, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss on `("color", 0, 0)` `(B, 3, H, W)`, the un-augmented image as in the official loop.

        Reconstruction targets are chained resizes (the official loop re-assigns its target per scale).
        """
        c = self.config
        target = inputs[("color", 0, 0)]
        features, recon = self(target)
        regularisation = multi_level_feature_regularisation(features, target, c.dis, c.cvt)
        reconstruction = multi_scale_reconstruction_loss(recon, target, c.scales, self.ssim, chained=True)
        total = regularisation + reconstruction
        return total, {"loss": total.item(), "loss/reconstruction": reconstruction.item(),
                       "loss/feature_regularisation": regularisation.item()}

    def init_from_imagenet(self, files: ImagenetFiles) -> None:
        """Initialise the encoder from torchvision's ImageNet ResNet file."""
        load_imagenet_weights(self.Encoder, imagenet_file(files, self.config.num_layers))

    def checkpoint_state(self) -> dict[str, dict[str, Any]]:
        """mmcv layout: `{"state_dict": {"Encoder.…", "Decoder.…"}}`."""
        return {"state_dict": dict(self.state_dict())}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Load an mmcv auto-encoder checkpoint (ours or the authors' release), strict keys."""
        load_module_state(self, mmcv_state_dict(state, AUTOENCODER_METHOD), AUTOENCODER_METHOD)
