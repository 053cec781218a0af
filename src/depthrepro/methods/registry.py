"""Name → method class registry; `build_method(name, cfg)` turns a config into a model."""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

MethodT = TypeVar("MethodT", bound=type[nn.Module])

_METHODS: dict[str, type[nn.Module]] = {}


def register_method(name: str) -> Callable[[MethodT], MethodT]:
    """Class decorator registering a method under `name`; its constructor takes `cfg: dict`."""
    def register(cls: MethodT) -> MethodT:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"method name {name!r} is already registered by "
                             f"{_METHODS[name].__module__}.{_METHODS[name].__qualname__}")
        _METHODS[name] = cls
        return cls
    return register


def _import_method_modules() -> None:
    """Import every module of this package so that their decorators have run."""
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{__package__}.{info.name}")


def available_methods() -> list[str]:
    """Sorted names of all registered methods."""
    _import_method_modules()
    return sorted(_METHODS)


def build_method(name: str, cfg: Mapping[str, Any]) -> nn.Module:
    """Instantiate the method registered as `name` with its config dict."""
    names = available_methods()
    if name not in _METHODS:
        raise KeyError(f"unknown method {name!r}; available methods: {', '.join(names)}")
    return _METHODS[name](dict(cfg))
