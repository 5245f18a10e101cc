"""Network builders for Deep Image Prior: ``build_net`` dispatches on ``NetConfig.arch``.

``skip`` is the paper's default; ``hourglass`` is the same builder without skip
connections; ``unet`` and ``resnet`` are the paper's alternatives. Every network ends in
a sigmoid; for all but ``resnet`` the input sides must be multiples of
``net.size_multiple`` and the output has the input's height and width.

Inside the package the imports go one way: common.py (layers, checks) <- the builders
(skip.py, unet.py, resnet.py) <- profile.py (shape accounting) <- dipnet.py (the network,
which checks frames with profile) <- this module.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import ARCHS, DOWNSAMPLE, PADS, NetConfig
from ..errors import ConfigError
from .common import check_choice, per_level
from .dipnet import DIPNet
from .resnet import resnet
from .skip import Levels, skip_net
from .unet import unet

__all__ = ["build_net", "count_params", "count_parameters", "DIPNet"]


def build_net(net: NetConfig, in_channels: int, out_channels: int) -> DIPNet:
    check_choice("architecture", net.arch, ARCHS)
    for name, v in (("input channels", in_channels), ("output channels", out_channels)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name} must be a positive whole number, got {v!r}")
    check_choice("padding", net.pad, PADS)
    if net.arch == "resnet":
        body = resnet(in_channels, out_channels, net.resnet_blocks, net.resnet_channels, net.pad)
        return DIPNet(body, net.arch, 1)

    lv = _levels(net)
    if net.arch == "unet":
        body = unet(lv, in_channels, out_channels)
    else:
        body = skip_net(lv, in_channels, out_channels)
    return DIPNet(body, net.arch, 2 ** lv.depth)


def count_params(module: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_parameters(net: NetConfig, in_channels: int, out_channels: int) -> int:
    """Trainable parameters of the network ``net`` would build, counted on the meta device:
    no memory and no kernels, so the GUI thread can call it without starting torch's
    OpenMP team (which would slow the run's worker thread; see app/worker.py)."""
    with torch.device("meta"):
        return count_params(build_net(net, in_channels, out_channels))


def _levels(net: NetConfig) -> Levels:
    if not isinstance(net.channels_down, (list, tuple)) or not net.channels_down:
        raise ConfigError("channels_down must be a non-empty list, one entry per level")
    depth = len(net.channels_down)
    if depth > 8:
        raise ConfigError(f"depth must be 1..8, got {depth}")
    if net.arch == "skip":
        n_s = per_level(net.channels_skip, depth, "channels_skip")
        k_s = per_level(net.kernel_skip, depth, "kernel_skip")
    else:  # the hourglass has no skips; the U-Net's skips are whole encoder maps
        n_s, k_s = [0] * depth, [1] * depth
    check_choice("downsample", net.downsample, DOWNSAMPLE)
    return Levels(
        n_d=list(net.channels_down),
        n_u=per_level(net.channels_up, depth, "channels_up"),
        n_s=n_s,
        k_d=per_level(net.kernel_down, depth, "kernel_down"),
        k_u=per_level(net.kernel_up, depth, "kernel_up"),
        k_s=k_s,
        up=per_level(net.upsample, depth, "upsample"),
        down=net.downsample,
        pad=net.pad,
        need1x1_up=bool(net.need1x1_up),
    )
