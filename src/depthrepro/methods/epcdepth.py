"""EPCDepth (Peng et al., ICCV 2021): stereo-trained single-image depth with a full-scale RSU decoder.

Training follows the official `model.py`: data grafting on the batch, ten disparities up-sampled to
the input size, for each a stereo reprojection term with auto-masking and a depth-hint proxy term
(log-L1 where the hint warps best), averaged over the ten; plus SPP self-distillation towards the
per-pixel lowest-error disparity of the output's group (decoder outputs 0–4, encoder outputs 5–9).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depthrepro.data.grafting import graft_batch
from depthrepro.geometry.camera import WarperCache, disp_to_depth
from depthrepro.losses.depth_hint import depth_hint_loss, hint_error, masked_mean, select_pixels
from depthrepro.losses.photometric import SSIM, reprojection_loss
from depthrepro.losses.self_distillation import log_l1, lowest_error_label
from depthrepro.losses.smoothness import get_smooth_loss
from depthrepro.methods.config import config_from_dict, load_module_state
from depthrepro.methods.registry import register_method
from depthrepro.nets.resnet import RESNET_SPECS, ResnetEncoder, load_imagenet_weights
from depthrepro.nets.rsu_decoder import PADDING_MODES, RSUDecoder

FrameId = int | str
STEREO = "s"
AUTOMASK_NOISE = 1e-5
NUM_DECODER_OUTPUTS = 5      # outputs 0-4 come from the decoder, 5-9 from the encoder features
OUTPUT_SCALES = (0, 1, 2, -1)
MEAN_OF_OUTPUTS = 3          # output_scale -1 averages outputs 0..2
CHECKPOINT_MODULES = ("encoder", "depth_decoder")
# Training records stored next to the weights in the official `checkpoint_epoch<N>.pth.tar` files.
CHECKPOINT_RECORDS = ("epoch", "abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3",
                      "optimizer", "lr_scheduler")


@dataclass(frozen=True)
class EPCDepthConfig:
    """Model and loss options, with the official defaults of `main.py` (flags as the README's run).

    `output_scale`: the output `predict_disparity` returns (0 = d0, 2 = d2; -1 = mean of 0–2).
    `warp_align_corners`: `grid_sample` convention of the stereo warp; the official call leaves it
    unset, which meant True in the PyTorch 1.1 the code targets (its grid is normalised by W−1).
    `decoder_padding`: padding of the RSU decoder's convolutions; the code asks for "reflect"
    (PyTorch < 1.5 silently padded with zeros instead).
    """

    num_layers: int = 18
    height: int = 320
    width: int = 1024
    frame_ids: tuple[FrameId, ...] = (0, STEREO)
    min_depth: float = 0.1
    max_depth: float = 100.0
    use_depth_hint: bool = True
    use_spp_distillation: bool = True
    use_data_graft: bool = True
    disable_automasking: bool = False
    disparity_smoothness: float = 0.0
    spp_loss: float = 1.0
    output_scale: int = 0
    warp_align_corners: bool = True
    decoder_padding: str = "reflect"

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> EPCDepthConfig:
        """Validated config from a plain dict; unknown keys raise KeyError."""
        return config_from_dict(cls, cfg, "epcdepth")

    def validate(self) -> None:
        """Raise ValueError naming the offending key."""
        if self.num_layers not in RESNET_SPECS:
            raise ValueError(f"epcdepth config: num_layers must be one of {sorted(RESNET_SPECS)}, "
                             f"got {self.num_layers}")
        if self.height % 32 or self.width % 32:
            raise ValueError(f"epcdepth config: height and width must be multiples of 32, "
                             f"got {self.height}x{self.width}")
        if self.decoder_padding not in PADDING_MODES:
            raise ValueError(f"epcdepth config: decoder_padding must be one of {PADDING_MODES}, "
                             f"got {self.decoder_padding!r}")
        smallest = RSUDecoder.min_input_size(use_encoder_disp=True)
        if self.decoder_padding == "reflect" and min(self.height, self.width) < smallest:
            raise ValueError(f"epcdepth config: height and width must be at least {smallest} with "
                             f"decoder_padding 'reflect' (the RSU blocks pad by 2 at 1/64 scale), "
                             f"got {self.height}x{self.width}")
        if tuple(self.frame_ids) != (0, STEREO):
            raise ValueError(f"epcdepth config: frame_ids must be [0, 's'] (stereo pairs only), "
                             f"got {list(self.frame_ids)}")
        if self.output_scale not in OUTPUT_SCALES:
            raise ValueError(f"epcdepth config: output_scale must be one of {OUTPUT_SCALES}, "
                             f"got {self.output_scale}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"epcdepth config: need 0 < min_depth < max_depth, "
                             f"got {self.min_depth}, {self.max_depth}")
        if self.disparity_smoothness < 0 or self.spp_loss < 0:
            raise ValueError(f"epcdepth config: disparity_smoothness and spp_loss must be >= 0, "
                             f"got {self.disparity_smoothness}, {self.spp_loss}")


@register_method("epcdepth")
class EPCDepth(nn.Module):
    """ResNet `encoder` + full-scale `depth_decoder` (ten sigmoid disparities) and the EPCDepth loss.

    Built from a config dict (see `EPCDepthConfig`).
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = EPCDepthConfig.from_dict(cfg)
        c = self.config
        self.encoder = ResnetEncoder(c.num_layers)
        self.depth_decoder = RSUDecoder(self.encoder.num_ch_enc, num_output_channels=1,
                                        use_encoder_disp=True, padding_mode=c.decoder_padding)
        self.ssim = SSIM()
        self._warpers = WarperCache()

    def forward(self, color: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3, H, W)` in [0, 1] -> ten disparities (decoder H … H/16, encoder H/32 … H/2)."""
        return self.depth_decoder(self.encoder(color))

    def predict_disparity(self, color: torch.Tensor) -> torch.Tensor:
        """Sigmoid disparity of output `output_scale`, bilinearly up-sampled to the input size."""
        size = color.shape[-2:]
        disps = self(color)
        picked = disps[:MEAN_OF_OUTPUTS] if self.config.output_scale == -1 else [
            disps[self.config.output_scale]]
        full = [F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in picked]
        return torch.stack(full).mean(0)

    def warp(self, source: torch.Tensor, depth: torch.Tensor, inputs: Mapping[Any, torch.Tensor]
             ) -> torch.Tensor:
        """`source` `(B, 3, H, W)` sampled into the target view through `depth` and `stereo_T`."""
        backproject, project = self._warpers.get(depth.shape[0], self.config.height, self.config.width, depth.device)
        points = backproject(depth, inputs[("inv_K", 0)])
        grid = project(points, inputs[("K", 0)], inputs["stereo_T"])
        return F.grid_sample(source, grid, padding_mode="border",
                             align_corners=self.config.warp_align_corners)

    def _images(self, inputs: Mapping[Any, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The full-resolution tensors the loss reads, grafted when `use_data_graft` is set."""
        keys: dict[str, Any] = {"target": ("color", 0, 0), "network_input": ("color_aug", 0, 0),
                                "source": ("color", STEREO, 0)}
        if self.config.use_depth_hint:
            keys["hint"] = "depth_hint"
        required = [*keys.values(), ("K", 0), ("inv_K", 0), "stereo_T"]
        if self.config.use_data_graft:
            required.append("side")
        missing = [k for k in required if k not in inputs]
        if missing:
            raise KeyError(f"epcdepth training batch: missing keys {missing} (use_depth_hint="
                           f"{self.config.use_depth_hint}, use_data_graft={self.config.use_data_graft})")
        images = {name: inputs[key] for name, key in keys.items()}
        if self.config.use_data_graft:
            images = graft_batch(images, inputs["side"])
        return images

    def training_step(self, inputs: Mapping[Any, torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and scalar logs for one batch of stereo pairs.

        `inputs`: `("color", f, 0)`, `("color_aug", 0, 0)` `(B, 3, H, W)` for f in {0, "s"},
        `("K", 0)`, `("inv_K", 0)`, `"stereo_T"` `(B, 4, 4)`, `"depth_hint"` `(B, 1, H, W)` (0 where
        invalid) with `use_depth_hint`, and `"side"` `(B,)` (0 left, 1 right) with `use_data_graft`.
        """
        c = self.config
        images = self._images(inputs)
        target, source, hint = images["target"], images["source"], images.get("hint")
        disps = [F.interpolate(d, size=(c.height, c.width), mode="bilinear", align_corners=False)
                 for d in self(images["network_input"])]

        depths = [disp_to_depth(d, c.min_depth, c.max_depth)[1] for d in disps]
        pred_errors = [reprojection_loss(self.warp(source, depth, inputs), target, self.ssim)
                       for depth in depths]
        identity = None if c.disable_automasking else reprojection_loss(source, target, self.ssim)
        hint_err = None
        if hint is not None:
            hint_err = hint_error(reprojection_loss(self.warp(source, hint, inputs), target, self.ssim), hint)

        output_losses, hint_fractions = [], []
        for k, (disp, depth, pred_error) in enumerate(zip(disps, depths, pred_errors)):
            # fresh tie-breaking noise for every output, as the official loop draws it
            noisy_identity = None if identity is None else (
                identity + torch.randn(identity.shape, device=identity.device) * AUTOMASK_NOISE)
            reprojection_mask, hint_mask = select_pixels(pred_error, noisy_identity, hint_err)
            loss = masked_mean(pred_error, reprojection_mask)
            if hint is not None and hint_mask is not None:
                loss = loss + depth_hint_loss(depth, hint, hint_mask)
                hint_fractions.append(hint_mask.mean())
            if c.disparity_smoothness != 0:
                # the official weight halves per output index, down to 1/2^9 for the last encoder output
                norm_disp = disp / (disp.mean(2, True).mean(3, True) + 1e-7)
                loss = loss + c.disparity_smoothness * get_smooth_loss(norm_disp, target) / 2 ** k
            output_losses.append(loss)
        main = torch.stack(output_losses).mean()
        logs = {"loss/main": main.item()}
        if hint_fractions:
            logs["hint_pixel_fraction"] = torch.stack(hint_fractions).mean().item()

        total = main
        if c.use_spp_distillation:
            spp = self.spp_loss(disps, pred_errors)
            total = main + c.spp_loss * spp
            logs["loss/spp"] = spp.item()
        logs["loss"] = total.item()
        return total, logs

    @staticmethod
    def spp_loss(disps: list[torch.Tensor], pred_errors: list[torch.Tensor]) -> torch.Tensor:
        """Mean over outputs of log(1 + |label − disp|), the label being the per-pixel
        lowest-error disparity among the output's group (decoder 0–4 or encoder 5–9)."""
        groups = [range(0, NUM_DECODER_OUTPUTS), range(NUM_DECODER_OUTPUTS, len(disps))]
        losses = []
        for group in groups:
            label = lowest_error_label([disps[k] for k in group], [pred_errors[k] for k in group])
            losses += [log_l1(label, disps[k]) for k in group]
        return torch.stack(losses).mean()

    def init_from_imagenet(self, path: str | Path) -> None:
        """Initialise the ResNet encoder from a torchvision ImageNet checkpoint file."""
        load_imagenet_weights(self.encoder, path)

    def checkpoint_state(self) -> dict[str, dict[str, Any]]:
        """The model entries of an official checkpoint: `encoder` and `depth_decoder` state dicts."""
        return {"encoder": dict(self.encoder.state_dict()),
                "depth_decoder": dict(self.depth_decoder.state_dict())}

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Load an official `*.pth.tar` dict (or `checkpoint_state()`): its `encoder` and
        `depth_decoder` state dicts, strictly; the stored training records (epoch, metrics,
        optimizer, scheduler) are ignored, any other entry is an error."""
        missing = [name for name in CHECKPOINT_MODULES if name not in state]
        unexpected = [k for k in state if k not in CHECKPOINT_MODULES and k not in CHECKPOINT_RECORDS]
        if missing or unexpected:
            raise KeyError(f"epcdepth checkpoint: missing entries {missing}, unexpected entries "
                           f"{unexpected}; expected {list(CHECKPOINT_MODULES)} plus optional "
                           f"{list(CHECKPOINT_RECORDS)}")
        load_module_state(self.encoder, state["encoder"], "encoder")
        load_module_state(self.depth_decoder, state["depth_decoder"], "depth_decoder")
