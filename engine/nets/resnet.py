"""A residual network at full resolution (no downsampling): the paper's ResNet baseline.

    conv 3x3 -> C, LReLU; blocks x (conv BN LReLU conv BN + identity); conv 3x3 BN;
    conv 1x1 -> out_channels, sigmoid
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .common import act, bn, conv


class Residual(nn.Module):
    def __init__(self, channels: int, pad: str):
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3, pad=pad), bn(channels), act(),
            conv(channels, channels, 3, pad=pad), bn(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resnet(in_channels: int, out_channels: int, blocks: int, channels: int, pad: str) -> nn.Sequential:
    for name, v in (("resnet_blocks", blocks), ("resnet_channels", channels)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name} must be a positive whole number, got {v!r}")
    return nn.Sequential(
        conv(in_channels, channels, 3, pad=pad), act(),
        *[Residual(channels, pad) for _ in range(blocks)],
        conv(channels, channels, 3, pad=pad), bn(channels),
        conv(channels, out_channels, 1, pad=pad),
        nn.Sigmoid(),
    )
