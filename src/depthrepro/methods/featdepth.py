"""FeatDepth (Shu et al., "Feature-metric Loss for Self-supervised Learning of Depth and Egomotion",
ECCV 2020), model `mono_fm` (and `mono_fm_joint`) as coded in sconlyshootery/FeatDepth (commit 550420b).

Networks: a ResNet-50 depth network with a CRP decoder whose finest disparity is at H/2, a ResNet-18
pose network fed at a fixed 192×640, and the FeatureNet: its encoder frozen (`extractor: frozen`,
weights from a trained `featdepth_autoencoder`) or trained along with its decoder (`extractor: joint`).

Losses, per scale s and divided by the number of scales:
- robust-L1 photometric minimum reprojection at full resolution (disp_s up-sampled), auto-masked only
  when `automask` (the official configs: monocular training only);
- the feature-metric loss: FeatureNet level-0 features of the source frames warped into the target
  with the finest disparity at H/2 and halved intrinsics, robust L1, per-pixel minimum, × 1e-3;
  identical at every scale in the official loop, so it is computed once with its summed weight;
- first- plus second-order edge-aware smoothness of disp_s (mean-normalised when `disp_norm`),
  × 1e-3 / 2^s;
- joint only: the FeatureNet's reconstruction and feature-regularisation terms.
All terms are summed, as mmcv's batch processor sums the official loss dict.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.geometry.camera import WarperCache, disp_to_depth
from depthrepro.geometry.pose import transformation_from_parameters
from depthrepro.losses.feature_metric import (
    disparity_smoothness,
    min_feature_metric_loss,
    multi_level_feature_regularisation,
    multi_scale_reconstruction_loss,
    robust_reprojection_loss,
)
from depthrepro.losses.photometric import SSIM
from depthrepro.methods.config import config_from_dict, load_module_state
from depthrepro.methods.featdepth_autoencoder import (
    AUTOENCODER_METHOD,
    mmcv_state_dict,
    validate_scales,
    validate_size,
    with_prefix,
)
from depthrepro.methods.registry import register_method
from depthrepro.nets.feature_net import FeatureEncoder, ReconstructionDecoder
from depthrepro.nets.featdepth_depth import CRPDepthDecoder
from depthrepro.nets.featdepth_pose import SinglePoseDecoder
from depthrepro.nets.resnet import ImagenetFiles, ResnetEncoder, imagenet_file, load_imagenet_weights

FrameId = int | str
STEREO = "s"
AUTOMASK_NOISE = 1e-5
DISP_NORM_EPS = 1e-7
EXTRACTOR_MODES = ("frozen", "joint")
METHOD = "featdepth"


@dataclass(frozen=True)
class FeatDepthConfig:
    """Model and loss options of `mono_fm` (cfg_kitti_fm.py defaults: MS, 320×1024).

    `frame_ids`: `(0, -1, 1, "s")` for MS, `(0, -1, 1)` for M. The official configs set `automask`
    and `disp_norm` to True exactly when "s" is absent. `stereo_baseline`: magnitude of the stereo
    x-translation used in training (0.015 on KITTI, so metric depth = prediction × 0.54 / 0.015 = 36;
    0.1 on EuRoC); the batch's `stereo_T` supplies only its sign. `pose_input_size`: the pose network
    always sees the frames bilinearly resized to this size. `extractor`: `frozen` (pre-trained
    FeatureNet encoder, loaded through `init_from_dependency("extractor", ...)`) or `joint`.
    `dis`/`cvt`: the FeatureNet regulariser weights, used by `joint` only. `warp_align_corners`:
    the `grid_sample` convention of the warps; the official call leaves it to the PyTorch default
    (False since 1.3, True before), and the authors' PyTorch version is unknown.
    """

    depth_num_layers: int = 50
    pose_num_layers: int = 18
    height: int = 320
    width: int = 1024
    frame_ids: tuple[FrameId, ...] = (0, -1, 1, STEREO)
    scales: tuple[int, ...] = (0, 1, 2, 3)
    min_depth: float = 0.1
    max_depth: float = 100.0
    automask: bool = False
    disp_norm: bool = False
    perception_weight: float = 1e-3
    smoothness_weight: float = 1e-3
    stereo_baseline: float = 0.015
    pose_input_size: tuple[int, int] = (192, 640)
    extractor: str = "frozen"
    dis: float = 1e-3
    cvt: float = 1e-3
    warp_align_corners: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "pose_input_size", tuple(self.pose_input_size))

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> FeatDepthConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, METHOD)

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.extractor not in EXTRACTOR_MODES:
            raise ValueError(f"{METHOD} config: extractor must be one of {EXTRACTOR_MODES}, got {self.extractor!r}")
        validate_size(METHOD, self.height, self.width, feature_net=self.extractor == "joint")
        validate_scales(METHOD, self.scales)
        ids = self.frame_ids
        if len(ids) < 2 or ids[0] != 0 or len(set(ids)) != len(ids):
            raise ValueError(f"{METHOD} config: frame_ids must be distinct, start with 0 and list at least "
                             f"one source frame, got {list(ids)}")
        for f in ids[1:]:
            if not (f == STEREO or (isinstance(f, int) and not isinstance(f, bool) and f != 0)):
                raise ValueError(f"{METHOD} config: source frame ids must be non-zero ints or 's', "
                                 f"got {f!r} in {list(ids)}")
        size = self.pose_input_size
        if len(size) != 2 or any(not isinstance(v, int) or v <= 0 or v % 32 for v in size):
            raise ValueError(f"{METHOD} config: pose_input_size must be [height, width], positive multiples "
                             f"of 32, got {list(size)}")
        if self.stereo_baseline <= 0:
            raise ValueError(f"{METHOD} config: stereo_baseline must be positive, got {self.stereo_baseline}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"{METHOD} config: need 0 < min_depth < max_depth, got "
                             f"{self.min_depth} and {self.max_depth}")


@register_method("featdepth")
class FeatDepth(nn.Module):
    """Depth (`DepthEncoder` + `DepthDecoder`), pose (`PoseEncoder` + `PoseDecoder`) and FeatureNet
    (`extractor`, or `Encoder` + `Decoder` when joint) with the official loss.

    Built from a config dict (see `FeatDepthConfig`). The FeatureNet follows the model's train/eval
    mode, as officially: in training its BatchNorm layers use batch statistics even when frozen.
    """

    # The frozen extractor never receives gradients, nor do the encoders' ImageNet `fc` layers.
    freezes_parameters = True

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = FeatDepthConfig.from_dict(cfg)
        c = self.config
        self.source_frames: list[FrameId] = list(c.frame_ids[1:])
        self.temporal_frames: list[int] = [f for f in self.source_frames if isinstance(f, int)]
        self.joint = c.extractor == "joint"

        self.DepthEncoder = ResnetEncoder(c.depth_num_layers)
        self.DepthDecoder = CRPDepthDecoder(self.DepthEncoder.num_ch_enc)
        self.PoseEncoder = ResnetEncoder(c.pose_num_layers, num_input_images=2)
        self.PoseDecoder = SinglePoseDecoder(self.PoseEncoder.num_ch_enc)
        if self.joint:
            self.Encoder = FeatureEncoder(c.depth_num_layers)
            self.Decoder = ReconstructionDecoder(self.Encoder.num_ch_enc)
        else:
            self.extractor = FeatureEncoder(c.depth_num_layers)
            self.extractor.requires_grad_(False)
        # A frozen extractor must hold trained FeatureNet weights before training starts.
        self.extractor_loaded = self.joint
        self.ssim = SSIM()
        self._warpers = WarperCache()

    @property
    def feature_encoder(self) -> FeatureEncoder:
        """The FeatureNet encoder whose level-0 features the feature-metric loss compares."""
        return self.Encoder if self.joint else self.extractor

    def forward(self, color: torch.Tensor) -> dict[tuple[str, int, int], torch.Tensor]:
        """Depth network: `(B, 3, H, W)` in [0, 1] -> `{("disp", 0, s): (B, 1, H/2^(s+1), W/2^(s+1))}`."""
        return self.DepthDecoder(self.DepthEncoder(color))

    def predict_disparity(self, color: torch.Tensor) -> torch.Tensor:
        """Sigmoid disparity `(B, 1, H, W)`: the H/2 output bilinearly up-sampled to the input size."""
        disp = self(color)[("disp", 0, 0)]
        return F.interpolate(disp, color.shape[-2:], mode="bilinear", align_corners=False)

    def predict_poses(self, inputs: Mapping[Any, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Transforms `(B, 4, 4)` from frame 0 to each temporal source frame.

        Frames `("color_aug", f, 0)` are resized to `pose_input_size` and paired in temporal order;
        the pose of a pair (f, 0) with f < 0 is inverted.
        """
        size = list(self.config.pose_input_size)
        frames = {f: F.interpolate(inputs[("color_aug", f, 0)], size, mode="bilinear", align_corners=False)
                  for f in [0, *self.temporal_frames]}
        poses: dict[int, torch.Tensor] = {}
        for f in self.temporal_frames:
            pair = [frames[f], frames[0]] if f < 0 else [frames[0], frames[f]]
            axisangle, translation = self.PoseDecoder(self.PoseEncoder(torch.cat(pair, 1)))
            poses[f] = transformation_from_parameters(axisangle[:, 0], translation[:, 0], invert=f < 0)
        return poses

    def predict_relative_pose(self, frame_a: torch.Tensor, frame_b: torch.Tensor,
                              K: torch.Tensor | None = None) -> torch.Tensor:
        """Transform `(B, 4, 4)` mapping points of camera a into camera b, from frames `(B, 3, H, W)` in
        [0, 1] with a before b, as `scripts/draw_odometry.py` runs the pose network on (t, t+1): both
        frames bilinearly resized to `pose_input_size`, no inversion. `K` is not used."""
        size = list(self.config.pose_input_size)
        pair = [F.interpolate(f, size, mode="bilinear", align_corners=False) for f in (frame_a, frame_b)]
        axisangle, translation = self.PoseDecoder(self.PoseEncoder(torch.cat(pair, 1)))
        return transformation_from_parameters(axisangle[:, 0], translation[:, 0])

    def stereo_transform(self, stereo_T: torch.Tensor) -> torch.Tensor:
        """The batch's stereo transform `(B, 4, 4)` with its x-translation set to ±`stereo_baseline`."""
        sign = torch.sign(stereo_T[:, 0, 3])
        if (sign == 0).any():
            raise ValueError(f"{METHOD}: stereo_T has a zero x-translation; its sign gives the stereo side")
        transform = stereo_T.clone()
        transform[:, 0, 3] = sign * self.config.stereo_baseline
        return transform

    def _warp(self, source: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, inv_K: torch.Tensor,
              T: torch.Tensor) -> torch.Tensor:
        """`source` sampled where the target pixels (depth `(B, 1, h, w)`) project into it under `T`."""
        batch, _, height, width = depth.shape
        backproject, project = self._warpers.get(batch, height, width, depth.device)
        grid = project(backproject(depth, inv_K), K, T)
        return F.grid_sample(source, grid, padding_mode="border", align_corners=self.config.warp_align_corners)

    def photometric_loss(self, inputs: Mapping[Any, torch.Tensor], disp: torch.Tensor,
                         transforms: Mapping[FrameId, torch.Tensor]) -> torch.Tensor:
        """Mean per-pixel minimum robust reprojection error at full resolution (one scale's `disp`).

        With `automask` the unwarped sources compete too (plus 1e-5 Gaussian noise).
        """
        c = self.config
        full = F.interpolate(disp, [c.height, c.width], mode="bilinear", align_corners=False)
        depth = disp_to_depth(full, c.min_depth, c.max_depth)[1]
        target = inputs[("color", 0, 0)]
        errors = []
        if c.automask:
            for f in self.source_frames:
                identity = robust_reprojection_loss(inputs[("color", f, 0)], target, self.ssim)
                errors.append(identity + torch.randn(identity.shape, device=identity.device) * AUTOMASK_NOISE)
        for f in self.source_frames:
            warped = self._warp(inputs[("color", f, 0)], depth, inputs[("K", 0)], inputs[("inv_K", 0)],
                                transforms[f])
            errors.append(robust_reprojection_loss(warped, target, self.ssim))
        return torch.cat(errors, 1).min(1)[0].mean()

    def feature_metric_loss(self, inputs: Mapping[Any, torch.Tensor], disp: torch.Tensor,
                            target_feature: torch.Tensor, transforms: Mapping[FrameId, torch.Tensor]
                            ) -> torch.Tensor:
        """Mean per-pixel minimum over sources of the robust error of the level-0 FeatureNet features.

        Depth comes from the finest disparity at H/2 × W/2 with the intrinsics halved, matching the
        stride-2 feature maps. A frozen extractor passes gradients only through the sampling grid.
        """
        c = self.config
        half = F.interpolate(disp, [c.height // 2, c.width // 2], mode="bilinear", align_corners=False)
        depth = disp_to_depth(half, c.min_depth, c.max_depth)[1]
        K = inputs[("K", 0)].clone()
        K[:, :2, :] /= 2
        inv_K = torch.linalg.pinv(K)
        with torch.set_grad_enabled(self.joint and torch.is_grad_enabled()):
            sources = {f: self.feature_encoder(inputs[("color", f, 0)])[0] for f in self.source_frames}
        warped = [self._warp(sources[f], depth, K, inv_K, transforms[f]) for f in self.source_frames]
        return min_feature_metric_loss(target_feature, warped)

    def smoothness_loss(self, inputs: Mapping[Any, torch.Tensor], disp: torch.Tensor) -> torch.Tensor:
        """First- plus second-order smoothness of `disp` at its own size (mean-normalised if `disp_norm`)."""
        if self.config.disp_norm:
            disp = disp / (disp.mean(2, True).mean(3, True) + DISP_NORM_EPS)
        return disparity_smoothness(disp, inputs[("color", 0, 0)])

    def target_features(self, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Level-0 FeatureNet features of the target `(B, 64, H/2, W/2)`, and for `joint` the
        FeatureNet's own loss terms (reconstruction from the full image, regularisation)."""
        if not self.joint:
            if not self.extractor_loaded:
                raise RuntimeError(f"{METHOD} (extractor: frozen): no FeatureNet weights loaded; call "
                                   f"init_from_dependency('extractor', <{AUTOENCODER_METHOD} checkpoint>) first")
            with torch.no_grad():
                return self.extractor(target)[0], {}
        c = self.config
        features = self.Encoder(target)
        reconstruction = multi_scale_reconstruction_loss(self.Decoder(features), target, c.scales, self.ssim,
                                                         chained=False)
        regularisation = multi_level_feature_regularisation(features, target, c.dis, c.cvt)
        return features[0], {"reconstruction": reconstruction, "feature_regularisation": regularisation}

    def training_step(self, inputs: Mapping[Any, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch.

        `inputs`: `("color", f, 0)`, `("color_aug", f, 0)` `(B, 3, H, W)` for every frame id f,
        `("K", 0)`, `("inv_K", 0)` `(B, 4, 4)` at H×W, and `"stereo_T"` `(B, 4, 4)` when "s" is a frame.
        """
        c = self.config
        disps = self(inputs[("color_aug", 0, 0)])
        transforms: dict[FrameId, torch.Tensor] = dict(self.predict_poses(inputs))
        if STEREO in self.source_frames:
            transforms[STEREO] = self.stereo_transform(inputs["stereo_T"])
        target_feature, feature_net_terms = self.target_features(inputs[("color", 0, 0)])

        photometric = torch.zeros((), device=target_feature.device)
        smoothness = torch.zeros((), device=target_feature.device)
        for s in c.scales:
            disp = disps[("disp", 0, s)]
            photometric = photometric + self.photometric_loss(inputs, disp, transforms) / len(c.scales)
            smoothness = smoothness + (c.smoothness_weight * self.smoothness_loss(inputs, disp)
                                       / 2 ** s / len(c.scales))
        feature_metric = c.perception_weight * self.feature_metric_loss(
            inputs, disps[("disp", 0, 0)], target_feature, transforms)

        terms = {"photometric": photometric, "feature_metric": feature_metric, "smoothness": smoothness,
                 **feature_net_terms}
        total = torch.stack(list(terms.values())).sum()
        logs = {f"loss/{name}": value.item() for name, value in terms.items()}
        logs["loss"] = total.item()
        return total, logs

    def init_from_imagenet(self, files: ImagenetFiles) -> None:
        """Initialise the ResNet encoders from torchvision ImageNet files (`resnet<N>: path`).

        Depth encoder and (joint) FeatureNet encoder: ResNet-`depth_num_layers`; pose encoder:
        ResNet-`pose_num_layers` with its first conv tiled over the two frames and halved. A frozen
        extractor gets its weights from the trained FeatureNet instead.
        """
        c = self.config
        load_imagenet_weights(self.DepthEncoder, imagenet_file(files, c.depth_num_layers))
        load_imagenet_weights(self.PoseEncoder, imagenet_file(files, c.pose_num_layers))
        if self.joint:
            load_imagenet_weights(self.Encoder, imagenet_file(files, c.depth_num_layers))

    def init_from_dependency(self, name: str, checkpoint: Mapping[str, Any]) -> None:
        """Initialise from another run's checkpoint before training.

        `extractor`: a `featdepth_autoencoder` checkpoint (ours: `{"method", "state": {"state_dict"}}`,
        or the authors' mmcv file) -> its `Encoder.` entries into the frozen extractor, or its
        `Encoder.` and `Decoder.` entries into the joint FeatureNet. `initial`: a `featdepth`
        checkpoint -> the whole model (online refinement continues from it).
        """
        expected = {"extractor": AUTOENCODER_METHOD, "initial": METHOD}
        if name not in expected:
            raise KeyError(f"{METHOD}: unknown dependency {name!r}; expected one of {sorted(expected)}")
        method = checkpoint.get("method", expected[name])
        if method != expected[name]:
            raise ValueError(f"{METHOD}: dependency {name!r} must be a {expected[name]} checkpoint, "
                             f"got {method!r}")
        state = checkpoint.get("state", checkpoint)
        if name == "initial":
            self.load_checkpoint_state(state)
            return
        entries = mmcv_state_dict(state, f"{AUTOENCODER_METHOD} checkpoint")
        load_module_state(self.feature_encoder, with_prefix(entries, "Encoder"), f"{AUTOENCODER_METHOD} Encoder")
        if self.joint:
            load_module_state(self.Decoder, with_prefix(entries, "Decoder"), f"{AUTOENCODER_METHOD} Decoder")
        self.extractor_loaded = True

    def checkpoint_state(self) -> dict[str, dict[str, Any]]:
        """mmcv layout: `{"state_dict": {"DepthEncoder.…", "DepthDecoder.…", "PoseEncoder.…",
        "PoseDecoder.…", "extractor.…"}}` (joint: `Encoder.…`, `Decoder.…` instead of `extractor.…`)."""
        return {"state_dict": dict(self.state_dict())}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Load an mmcv checkpoint of this model (ours or the authors' release), strict keys."""
        load_module_state(self, mmcv_state_dict(state, METHOD), METHOD)
        self.extractor_loaded = True
