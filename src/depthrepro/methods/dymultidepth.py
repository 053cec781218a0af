"""Dynamic multi-frame depth (Li et al., CVPR 2023, "Learning to Fuse Monocular and Multi-view Cues for
Multi-frame Depth Estimation in Dynamic Scenes"), trained as the released configs of
ruili3/dynamic-multiframe-depth do.

The network (`nets.dymultidepth.DyMultiDepthModel`) sees keyframe t and frames t−1, t+1 with given
(DVSO) poses and predicts inverse depth with a monocular and a multi-frame branch. Training is fully
supervised with the annotated KITTI depth (`data.kitti_odometry_mr`): every scale of both branches is
upsampled (nearest) to the target size and scored with SILog and the Virtual Normal Loss,

    total = 2·alpha·4 · Σ_s (SILog_multi + SILog_mono) + vnl_weight · Σ_s (VNL_multi + VNL_mono).

With `flip_augmentation` each sample's keyframe and (already computed) cost volume are mirrored with
probability 1/2 inside the network and the predictions mirrored back. The image backbone is frozen by
default (`freeze_backbone`); as in the reference its BatchNorm layers still run in training mode.
The reference trained with DataParallel on 8 GPUs and a batch of 8, so its BatchNorm layers saw one
sample at a time: `replica_batch_size` runs the network on such slices of the batch to reproduce that.

Checkpoints use the official layout: `{"arch": ..., "state_dict": <DyMultiDepthModel keys>}`;
`read_released_checkpoint` opens the authors' files (which also pickle their `ConfigParser`) without
their code.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.io.released import load_released_file
from depthrepro.losses.silog_vnl import sample_triplets, silog_loss, virtual_normal_loss
from depthrepro.methods.config import config_from_dict
from depthrepro.methods.registry import register_method
from depthrepro.nets.dymultidepth import BACKBONES, DyMultiDepthModel
from depthrepro.nets.efficientnet import EfficientNetEncoder, load_efficientnet_imagenet_weights
from depthrepro.nets.resnet import ResnetEncoder, load_imagenet_weights

ARCH = "DyMultiDepthModel"
DATA_PARALLEL_PREFIX = "module."
SEQUENTIAL_MODEL_PREFIX = "0."
FLIP_PROBABILITY = 0.5
SILOG_SCALE_FACTOR = 2 * 4   # the reference weights SILog by 2·alpha·4


@dataclass(frozen=True)
class DyMultiDepthConfig:
    """Model and loss options with the defaults of the released ResNet-18 configuration.

    `inv_depth_min_max`: (largest, smallest) inverse depth of the cost volume and of the prediction
    heads (3.03 m .. 400 m). `eval_mono`: `predict_inverse_depth` returns the monocular branch.
    `replica_batch_size`: run the network on slices of this many samples (BatchNorm statistics per
    slice); None runs the whole batch at once.
    """

    height: int = 256
    width: int = 512
    backbone: str = "resnet18"
    inv_depth_min_max: tuple[float, float] = (0.33, 0.0025)
    num_depth_bins: int = 32
    fusion_mid_dim: int = 32
    freeze_backbone: bool = True
    flip_augmentation: bool = True
    alpha: float = 0.5
    vnl_weight: float = 1.0
    vnl_sample_ratio: float = 0.15
    eval_mono: bool = False
    replica_batch_size: int | None = None

    @property
    def min_depth(self) -> float:
        """Nearest depth the heads can predict (m)."""
        return 1.0 / self.inv_depth_min_max[0]

    @property
    def max_depth(self) -> float:
        """Farthest depth the heads can predict (m)."""
        return 1.0 / self.inv_depth_min_max[1]

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> DyMultiDepthConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        values = dict(cfg)
        if "inv_depth_min_max" in values:
            values["inv_depth_min_max"] = tuple(float(v) for v in values["inv_depth_min_max"])
        return config_from_dict(cls, values, "dymultidepth")

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.height % 32 or self.width % 32:
            raise ValueError(f"dymultidepth config: height and width must be multiples of 32, "
                             f"got {self.height}x{self.width}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"dymultidepth config: backbone must be one of {BACKBONES}, got {self.backbone!r}")
        largest, smallest = self.inv_depth_min_max
        if len(self.inv_depth_min_max) != 2 or not largest > smallest > 0:
            raise ValueError(f"dymultidepth config: inv_depth_min_max must be (largest, smallest) > 0, "
                             f"got {list(self.inv_depth_min_max)}")
        if self.num_depth_bins < 2 or self.fusion_mid_dim < 1:
            raise ValueError(f"dymultidepth config: need num_depth_bins >= 2 and fusion_mid_dim >= 1, got "
                             f"{self.num_depth_bins} and {self.fusion_mid_dim}")
        if self.replica_batch_size is not None and self.replica_batch_size < 1:
            raise ValueError(f"dymultidepth config: replica_batch_size must be >= 1 or null, "
                             f"got {self.replica_batch_size}")
        if not 0 < self.vnl_sample_ratio <= 1:
            raise ValueError(f"dymultidepth config: vnl_sample_ratio must lie in (0, 1], got {self.vnl_sample_ratio}")


def read_released_checkpoint(path: str | Path) -> dict[str, Any]:
    """Open a checkpoint of the official code (`{'arch', 'epoch', 'state_dict', 'optimizer',
    'monitor_best', 'config'}`) without that code and without running pickled code.

    Unknown pickled globals (the `utils.parse_config.ConfigParser`, `pathlib` paths, numpy scalars, ...)
    become inert `depthrepro.io.released.ReleasedObject`s.
    """
    checkpoint = load_released_file(path)
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise KeyError(f"{path}: expected the official checkpoint dict with a 'state_dict' entry")
    return dict(checkpoint)


def official_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model entries of an official checkpoint dict, as the reference loads them: the
    `module.` prefix of DataParallel runs removed, entries of a loss module wrapped with the model in a
    `Sequential` (keys starting with 1-9) dropped and the model's `0.` prefix removed."""
    state = checkpoint["state_dict"]
    if checkpoint.get("arch") == "DataParallel":
        state = {k.removeprefix(DATA_PARALLEL_PREFIX): v for k, v in state.items()}
    return {k.removeprefix(SEQUENTIAL_MODEL_PREFIX): v for k, v in state.items() if k[0] not in "123456789"}


@register_method("dymultidepth")
class DyMultiDepth(nn.Module):
    """Supervised dynamic multi-frame depth with Cross-Cue Fusion.

    Batches (see `data.kitti_odometry_mr`): `keyframe (B, 3, H, W)` in [-0.5, 0.5], `frames
    (B, 2, 3, H, W)` (t−1, t+1), `keyframe_pose`, `poses (B, 2, 4, 4)` camera-to-world,
    `keyframe_intrinsics`, `intrinsics (B, 2, 4, 4)` and, for training, `target (B, 1, H, W)` sparse
    inverse depth. `test_frames` lists the frames a prediction needs: t, then t−1 and t+1.
    """

    # layer3, layer4 and fc of the ResNet (and the frozen backbone) never receive gradients.
    freezes_parameters = True

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = DyMultiDepthConfig.from_dict(cfg)
        self.test_frames: list[int] = [0, -1, 1]
        c = self.config
        self.network = DyMultiDepthModel(c.backbone, c.inv_depth_min_max, c.num_depth_bins, c.fusion_mid_dim,
                                         width=c.width)
        if c.freeze_backbone:
            self.network._feature_extractor.requires_grad_(False)

    def _run(self, batch: Mapping[str, torch.Tensor], flip: torch.Tensor | None) -> dict[str, list[torch.Tensor]]:
        """Network outputs for the batch, in slices of `replica_batch_size` samples when set."""
        size = len(batch["keyframe"])
        step = self.config.replica_batch_size or size
        parts = []
        for start in range(0, size, step):
            part = slice(start, start + step)
            frames, poses, intrinsics = batch["frames"][part], batch["poses"][part], batch["intrinsics"][part]
            parts.append(self.network(
                batch["keyframe"][part], batch["keyframe_pose"][part], batch["keyframe_intrinsics"][part],
                list(frames.unbind(1)), list(poses.unbind(1)), list(intrinsics.unbind(1)),
                None if flip is None else flip[part]))
        return {name: [torch.cat(scale) for scale in zip(*(p[name] for p in parts), strict=True)]
                for name in ("predicted_inverse_depths", "predicted_inverse_depths_mono")}

    def predict_inverse_depth(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Inverse depth `(B, 1, H, W)` in 1/m of the keyframes: the multi-frame branch, or the
        monocular one with `eval_mono`."""
        outputs = self._run(batch, None)
        branch = "predicted_inverse_depths_mono" if self.config.eval_mono else "predicted_inverse_depths"
        return outputs[branch][0]

    def training_step(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch."""
        c = self.config
        keyframe = batch["keyframe"]
        flip = None
        if c.flip_augmentation:
            flip = (torch.rand(len(keyframe)) < FLIP_PROBABILITY).to(keyframe.device)
        outputs = self._run(batch, flip)
        target = batch["target"]
        height, width = target.shape[-2:]
        valid = target != 0
        gt_depth = torch.zeros_like(target)
        gt_depth[valid] = 1.0 / target[valid]
        # The reference builds its virtual-normal points with the first sample's focal lengths.
        fx, fy = batch["keyframe_intrinsics"][0, 0, 0].item(), batch["keyframe_intrinsics"][0, 1, 1].item()
        terms: dict[str, list[torch.Tensor]] = {"silog_multi": [], "vnl_multi": [], "silog_mono": [], "vnl_mono": []}
        for multi, mono in zip(outputs["predicted_inverse_depths"], outputs["predicted_inverse_depths_mono"],
                               strict=True):
            for branch, prediction in (("multi", multi), ("mono", mono)):
                if prediction.shape[-2:] != (height, width):
                    prediction = F.interpolate(prediction, size=(height, width), mode="nearest")
                triplets = sample_triplets(height, width, c.vnl_sample_ratio).to(target.device)
                terms[f"silog_{branch}"].append(silog_loss(prediction, target))
                terms[f"vnl_{branch}"].append(virtual_normal_loss(gt_depth, 1.0 / prediction, fx, fy, triplets))
        sums = {name: torch.stack(values).sum() for name, values in terms.items()}
        total = (SILOG_SCALE_FACTOR * c.alpha * (sums["silog_multi"] + sums["silog_mono"])
                 + c.vnl_weight * (sums["vnl_multi"] + sums["vnl_mono"]))
        logs = {f"loss/{name}": value.item() for name, value in sums.items()}
        logs["loss"] = total.item()
        return total, logs

    def init_from_imagenet(self, path: str | Path) -> None:
        """Initialise the image backbone from its ImageNet file (torchvision ResNet-18 or
        gen-efficientnet `tf_efficientnet_b5_ap`)."""
        extractor = self.network._feature_extractor
        if isinstance(extractor, ResnetEncoder):
            load_imagenet_weights(extractor, path)
        else:
            assert isinstance(extractor, EfficientNetEncoder)
            load_efficientnet_imagenet_weights(extractor, path)

    def checkpoint_state(self) -> dict[str, Any]:
        """`{"arch": "DyMultiDepthModel", "state_dict": ...}`: the official checkpoint's model entries."""
        return {"arch": ARCH, "state_dict": dict(self.network.state_dict())}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Load an official checkpoint dict (the authors' released file read with
        `read_released_checkpoint`, or `checkpoint_state()`); keys must match exactly, except BatchNorm
        `num_batches_tracked` counters missing from older files."""
        if "state_dict" not in state:
            raise KeyError(f"dymultidepth checkpoint: expected a dict with 'state_dict' (and 'arch'), "
                           f"got keys {sorted(state)}")
        loaded = official_state_dict(state)
        own = self.network.state_dict()
        missing = [k for k in own if k not in loaded and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in loaded if k not in own]
        if missing or unexpected:
            raise KeyError(f"dymultidepth checkpoint state_dict ({self.config.backbone}): missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        self.network.load_state_dict({**own, **loaded})
