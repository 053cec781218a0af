"""Weight normalisation (Salimans & Kingma, 2016) with the `weight_g` / `weight_v` parameters.

The effective weight `g · v / ‖v‖` (norm over every dimension but the first) is recomputed before
each call of the module, so gradients reach `g` and `v`. Unlike `torch.nn.utils.parametrizations`,
the state-dict keys are `<name>.weight_g`, `<name>.weight_v` (after `bias`), as in checkpoints of
DEQ-flow-style code.
"""
from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def norm_except_first_dim(v: torch.Tensor) -> torch.Tensor:
    """L2 norm over all dimensions but dim 0, shaped to broadcast against `v`."""
    return v.contiguous().view(v.shape[0], -1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


def weight_from_norm_pair(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The effective weight `v · g / ‖v‖`."""
    return v * (g / norm_except_first_dim(v))


def _recompute_weight(module: nn.Module, _inputs: Any) -> None:
    module.weight = weight_from_norm_pair(module.weight_g, module.weight_v)


def weight_norm(module: ModuleT) -> ModuleT:
    """Replace `module.weight` by the parameters `weight_g` `(C_out, 1, ...)` and `weight_v`."""
    weight = module.weight
    del module._parameters["weight"]
    module.weight_g = nn.Parameter(norm_except_first_dim(weight).detach())
    module.weight_v = nn.Parameter(weight.detach())
    _recompute_weight(module, ())
    module.register_forward_pre_hook(_recompute_weight)
    return module
