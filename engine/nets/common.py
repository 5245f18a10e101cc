"""Layers shared by the builders, and the checks that turn bad settings into ConfigError.

The bottom of engine.nets: it imports nothing from the package, so the builders, the
shape accounting (profile.py) and the network class (dipnet.py) can all import it.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

import torch
import torch.nn as nn

from ..config import DOWNSAMPLE, PADS, UPSAMPLE
from ..errors import ConfigError

T = TypeVar("T")

LRELU_SLOPE = 0.2


def per_level(value: T | Sequence[T], depth: int, name: str) -> list[T]:
    """One value per level: a scalar is repeated, a list must have exactly ``depth`` entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != depth:
            raise ConfigError(f"{name} has {len(value)} levels, the network has {depth}")
        return list(value)
    return [value] * depth  # type: ignore[list-item]


def check_kernels(kernels: Sequence[int], name: str) -> None:
    for k in kernels:
        # even kernels would shift the feature map by half a pixel per layer and break the
        # size bookkeeping of the skip connections
        if not isinstance(k, int) or isinstance(k, bool) or k < 1 or k % 2 == 0:
            raise ConfigError(f"{name} must be odd positive integers, got {k!r}")


def check_channels(channels: Sequence[int], name: str, allow_zero: bool = False) -> None:
    lo = 0 if allow_zero else 1
    for c in channels:
        if not isinstance(c, int) or isinstance(c, bool) or c < lo:
            kind = "non-negative" if allow_zero else "positive"
            raise ConfigError(f"{name} must be {kind} whole numbers, got {c!r}")


def check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} '{value}': choose one of {', '.join(allowed)}")


def conv(c_in: int, c_out: int, k: int, stride: int = 1, pad: str = "reflection",
         downsample: str = "stride") -> nn.Sequential:
    """A conv with 'same' padding. A stride-2 request with ``downsample`` avg/max becomes a
    stride-1 conv followed by pooling, as in the authors' code (the conv is kept)."""
    check_choice("padding", pad, PADS)
    check_choice("downsample", downsample, DOWNSAMPLE)
    layers: list[nn.Module] = []
    p = (k - 1) // 2
    if pad == "reflection" and p > 0:
        layers.append(nn.ReflectionPad2d(p))
        p = 0
    pool: nn.Module | None = None
    if stride != 1 and downsample != "stride":
        pool = nn.AvgPool2d(stride, stride) if downsample == "avg" else nn.MaxPool2d(stride, stride)
        stride = 1
    layers.append(nn.Conv2d(c_in, c_out, k, stride=stride, padding=p, bias=True))
    if pool is not None:
        layers.append(pool)
    return nn.Sequential(*layers)


def bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


def act() -> nn.LeakyReLU:
    # in place: BN's backward keeps its own input, so overwriting its output is safe and
    # saves one full-size activation per layer
    return nn.LeakyReLU(LRELU_SLOPE, inplace=True)


def conv_bn_act(c_in: int, c_out: int, k: int, stride: int = 1, pad: str = "reflection",
                downsample: str = "stride") -> nn.Sequential:
    return nn.Sequential(conv(c_in, c_out, k, stride, pad, downsample), bn(c_out), act())


def upsample(mode: str) -> nn.Upsample:
    check_choice("upsample", mode, UPSAMPLE)
    return nn.Upsample(scale_factor=2, mode=mode)


class Concat(nn.Module):
    """Runs its branches on the same input and stacks the results on the channel axis."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class Wrapper(nn.Module):
    """Returns what its ``body`` returns. profile.py walks straight into the body of any
    subclass (DIPNet adds input checks), so it needs no import of the subclass."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
