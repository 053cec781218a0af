"""MPViT (Lee et al., CVPR 2022) as the dense-prediction backbone GasMono and MonoViT use.

A convolutional stem, then four stages; each stage embeds its input along several paths (a chain of
depthwise-separable 3×3 convolutions, the first strided), runs one factorised-attention encoder per
path beside a convolutional residual branch, and aggregates all branches with a 1×1 convolution.

Module names and nesting follow the official implementation so that ImageNet `mpvit_small.pth` and
GasMono's `encoder.pth` load unchanged. As there, each `MHCAEncoder`'s convolutional position
encodings (`cpe`, `crpe`) are single modules shared by all its layers (and by each layer's attention),
so the state dict lists every shared tensor under several keys.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

LAYER_NORM_EPS = 1e-6
CRPE_WINDOWS = {3: 2, 5: 3, 7: 3}
"""Window size → number of attention heads whose values it convolves (8 heads in all)."""
IMAGENET_HEAD_PREFIX = "cls_head."


def _normal_fan_out_(conv: nn.Conv2d, divide_by_groups: bool) -> None:
    """He-normal initialisation from the output fan (MPViT's own initialiser)."""
    fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    if divide_by_groups:
        fan_out //= conv.groups
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / fan_out))


class Conv2dBN(nn.Module):
    """Convolution without bias, BatchNorm, optional activation (keys `conv`, `bn`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, activation: type[nn.Module] | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act_layer = activation() if activation is not None else nn.Identity()
        _normal_fan_out_(self.conv, divide_by_groups=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C_in, H, W) -> (B, C_out, H/stride, W/stride)`."""
        return self.act_layer(self.bn(self.conv(x)))


class DWConv2dBN(nn.Module):
    """Depthwise k×k convolution, pointwise 1×1 convolution, BatchNorm, Hardswish."""

    def __init__(self, channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, stride, (kernel_size - 1) // 2,
                                groups=channels, bias=False)
        self.pwconv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.Hardswish()
        for conv in (self.dwconv, self.pwconv):
            _normal_fan_out_(conv, divide_by_groups=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W) -> (B, C, H/stride, W/stride)`."""
        return self.act(self.bn(self.pwconv(self.dwconv(x))))


class DWCPatchEmbed(nn.Module):
    """One patch-embedding path step (key `patch_conv`)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.patch_conv = DWConv2dBN(channels, 3, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_conv(x)


class PatchEmbedStage(nn.Module):
    """`num_path` chained embeddings; the first halves the resolution, each output feeds one path."""

    def __init__(self, channels: int, num_path: int) -> None:
        super().__init__()
        self.patch_embeds = nn.ModuleList(
            [DWCPatchEmbed(channels, stride=2 if idx == 0 else 1) for idx in range(num_path)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """`(B, C, H, W)` -> `num_path` maps `(B, C, H/2, W/2)`."""
        outputs = []
        for embed in self.patch_embeds:
            x = embed(x)
            outputs.append(x)
        return outputs


def tokens_to_map(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`(B, N, C)` tokens in row-major order -> `(B, C, H, W)`."""
    batch, _, channels = x.shape
    return x.transpose(1, 2).reshape(batch, channels, *size)


class ConvPosEnc(nn.Module):
    """Convolutional position encoding: tokens plus a depthwise 3×3 convolution of them."""

    def __init__(self, dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel_size, 1, kernel_size // 2, groups=dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`(B, N, C) -> (B, N, C)`."""
        feat = tokens_to_map(x, size)
        return (self.proj(feat) + feat).flatten(2).transpose(1, 2)


class ConvRelPosEnc(nn.Module):
    """Convolutional relative position encoding: `q ⊙ depthwise_conv(v)`, with one window size per
    group of heads (`CRPE_WINDOWS`)."""

    def __init__(self, head_channels: int, num_heads: int,
                 windows: Mapping[int, int] = CRPE_WINDOWS) -> None:
        super().__init__()
        if sum(windows.values()) != num_heads:
            raise ValueError(f"ConvRelPosEnc: window head splits {dict(windows)} do not add up to "
                             f"{num_heads} heads")
        self.conv_list = nn.ModuleList()
        self.channel_splits: list[int] = []
        for window, heads in windows.items():
            channels = heads * head_channels
            self.conv_list.append(nn.Conv2d(channels, channels, window, padding=window // 2,
                                            groups=channels))
            self.channel_splits.append(channels)

    def forward(self, q: torch.Tensor, v: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`q`, `v` `(B, h, N, Ch)` -> `(B, h, N, Ch)`."""
        batch, heads, tokens, head_channels = v.shape
        v_map = v.transpose(2, 3).reshape(batch, heads * head_channels, *size)
        parts = torch.split(v_map, self.channel_splits, dim=1)
        conv_v = torch.cat([conv(part) for conv, part in zip(self.conv_list, parts, strict=True)], 1)
        conv_v = conv_v.reshape(batch, heads, head_channels, tokens).transpose(2, 3)
        return q * conv_v


class FactorAttConvRelPosEnc(nn.Module):
    """Factorised attention `scale · q (softmax_N(k)ᵀ v)` plus the shared relative encoding, then a
    linear projection."""

    def __init__(self, dim: int, num_heads: int, shared_crpe: ConvRelPosEnc,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.crpe = shared_crpe

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`(B, N, C) -> (B, N, C)`."""
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        context = torch.matmul(k.softmax(dim=2).transpose(2, 3), v)
        attended = self.scale * torch.matmul(q, context) + self.crpe(q, v, size)
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, channels))


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability `rate`, rescale the kept ones."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """`drop_path` as a module (identity in eval mode)."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.rate, self.training)


class Mlp(nn.Module):
    """Linear, GELU, linear (keys `fc1`, `fc2`)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MHCABlock(nn.Module):
    """Pre-norm transformer layer: shared position encoding, factorised attention, MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int, drop_path_rate: float,
                 shared_cpe: ConvPosEnc, shared_crpe: ConvRelPosEnc) -> None:
        super().__init__()
        self.cpe = shared_cpe
        self.crpe = shared_crpe
        self.factoratt_crpe = FactorAttConvRelPosEnc(dim, num_heads, shared_crpe)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0.0 else nn.Identity()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`(B, N, C) -> (B, N, C)`."""
        x = self.cpe(x, size)
        x = x + self.drop_path(self.factoratt_crpe(self.norm1(x), size))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class MHCAEncoder(nn.Module):
    """`num_layers` MHCA blocks sharing one `cpe` and one `crpe`; tokens in, feature map out."""

    def __init__(self, dim: int, num_layers: int, num_heads: int, mlp_ratio: int,
                 drop_path_rates: Sequence[float]) -> None:
        super().__init__()
        self.cpe = ConvPosEnc(dim)
        self.crpe = ConvRelPosEnc(dim // num_heads, num_heads)
        self.MHCA_layers = nn.ModuleList([
            MHCABlock(dim, num_heads, mlp_ratio, drop_path_rates[idx], self.cpe, self.crpe)
            for idx in range(num_layers)])

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`(B, N, C) -> (B, C, H, W)`."""
        for layer in self.MHCA_layers:
            x = layer(x, size)
        return x.reshape(x.shape[0], *size, -1).permute(0, 3, 1, 2).contiguous()


class ResBlock(nn.Module):
    """Inverted-residual convolution branch: 1×1 conv-BN-Hardswish, depthwise 3×3, BN, Hardswish,
    1×1 conv-BN, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = Conv2dBN(channels, channels, activation=nn.Hardswish)
        self.dwconv = nn.Conv2d(channels, channels, 3, 1, 1, bias=False, groups=channels)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.Hardswish()
        self.conv2 = Conv2dBN(channels, channels)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                _normal_fan_out_(module, divide_by_groups=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W) -> (B, C, H, W)`."""
        feat = self.act(self.norm(self.dwconv(self.conv1(x))))
        return x + self.conv2(feat)


class MHCAStage(nn.Module):
    """One encoder per path plus the residual branch on the first path, aggregated by a 1×1 conv."""

    def __init__(self, dim: int, out_dim: int, num_layers: int, num_heads: int, mlp_ratio: int,
                 num_path: int, drop_path_rates: Sequence[float]) -> None:
        super().__init__()
        self.mhca_blks = nn.ModuleList([
            MHCAEncoder(dim, num_layers, num_heads, mlp_ratio, drop_path_rates)
            for _ in range(num_path)])
        self.InvRes = ResBlock(dim)
        self.aggregate = Conv2dBN(dim * (num_path + 1), out_dim, activation=nn.Hardswish)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """`num_path` maps `(B, C, H, W)` -> `(B, out_dim, H, W)`."""
        branches = [self.InvRes(inputs[0])]
        for x, encoder in zip(inputs, self.mhca_blks, strict=True):
            size = (x.shape[2], x.shape[3])
            branches.append(encoder(x.flatten(2).transpose(1, 2), size))
        return self.aggregate(torch.cat(branches, 1))


def drop_path_rates(rate: float, num_layers: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to `rate` over all blocks, split per stage."""
    rates = [x.item() for x in torch.linspace(0, rate, sum(num_layers))]
    per_stage, start = [], 0
    for n in num_layers:
        per_stage.append(rates[start:start + n])
        start += n
    return per_stage


class MPViT(nn.Module):
    """MPViT backbone returning five features: the stem at H/2 and each stage's output at H/4..H/32.

    The input is an RGB image; GasMono feeds it in [0, 1] without normalisation.
    `num_ch_enc` lists the feature widths (the last stage keeps its width).
    """

    def __init__(self, num_path: Sequence[int], num_layers: Sequence[int],
                 embed_dims: Sequence[int], mlp_ratios: Sequence[int], num_heads: Sequence[int],
                 drop_path_rate: float, in_channels: int = 3) -> None:
        super().__init__()
        stages = len(embed_dims)
        rates = drop_path_rates(drop_path_rate, num_layers)
        self.stem = nn.Sequential(
            Conv2dBN(in_channels, embed_dims[0] // 2, 3, stride=2, padding=1, activation=nn.Hardswish),
            Conv2dBN(embed_dims[0] // 2, embed_dims[0], 3, stride=1, padding=1,
                     activation=nn.Hardswish))
        self.patch_embed_stages = nn.ModuleList(
            [PatchEmbedStage(embed_dims[idx], num_path[idx]) for idx in range(stages)])
        out_dims = [*embed_dims[1:], embed_dims[-1]]
        self.mhca_stages = nn.ModuleList([
            MHCAStage(embed_dims[idx], out_dims[idx], num_layers[idx], num_heads[idx],
                      mlp_ratios[idx], num_path[idx], rates[idx])
            for idx in range(stages)])
        self.num_ch_enc = [embed_dims[0], *out_dims]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3, H, W)` -> features `(B, num_ch_enc[i], H/2^(i+1), W/2^(i+1))`, i = 0..4."""
        x = self.stem(x)
        features = [x]
        for embed, stage in zip(self.patch_embed_stages, self.mhca_stages, strict=True):
            x = stage(embed(x))
            features.append(x)
        return features


def mpvit_small() -> MPViT:
    """MPViT-small as GasMono builds it: paths [2,3,3,3], layers [1,3,6,3], widths
    [64,128,216,288], MLP ratio 4, 8 heads, stochastic depth 0.2 (randomly initialised)."""
    return MPViT(num_path=(2, 3, 3, 3), num_layers=(1, 3, 6, 3), embed_dims=(64, 128, 216, 288),
                 mlp_ratios=(4, 4, 4, 4), num_heads=(8, 8, 8, 8), drop_path_rate=0.2)


def load_mpvit_imagenet_weights(encoder: MPViT, path: str | Path) -> None:
    """Load an official ImageNet MPViT checkpoint (`{"model": state_dict}`) into `encoder`.

    The classification head (`cls_head.*`) is dropped; every other key must match. BatchNorm
    `num_batches_tracked` counters missing from the file keep their values.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise KeyError(f"{path}: expected an MPViT ImageNet checkpoint with a 'model' entry")
    state = {k: v for k, v in checkpoint["model"].items() if not k.startswith(IMAGENET_HEAD_PREFIX)}
    own = encoder.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise KeyError(f"{path}: not an MPViT checkpoint of this size: missing keys {missing}, "
                       f"unexpected keys {unexpected}")
    wrong = [k for k in state if state[k].shape != own[k].shape]
    if wrong:
        raise ValueError(f"{path}: shape mismatch for {wrong}")
    encoder.load_state_dict({**own, **state})
