"""The paper's encoder-decoder with skip connections (the authors' ``skip`` builder).

Level i, from the outermost, maps c_in channels at resolution r to n_u[i] channels at r:

    deeper = conv(c_in -> n_d, k_d, /2) BN LReLU, conv(n_d -> n_d, k_d) BN LReLU,
             [level i+1], upsample x2
    skip   = conv(c_in -> n_s, k_s) BN LReLU                     (only when n_s > 0)
    out    = BN(cat[skip, deeper]), conv(-> n_u, k_u) BN LReLU, [conv 1x1 BN LReLU]

With every n_s = 0 this is the plain hourglass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..config import UPSAMPLE
from .common import Concat, bn, check_channels, check_choice, check_kernels, conv, conv_bn_act, upsample


@dataclass(frozen=True)
class Levels:
    """The per-level lists, normalised and checked (all of length depth)."""

    n_d: list[int]
    n_u: list[int]
    n_s: list[int]
    k_d: list[int]
    k_u: list[int]
    k_s: list[int]
    up: list[str]
    down: str
    pad: str
    need1x1_up: bool

    @property
    def depth(self) -> int:
        return len(self.n_d)


def skip_net(lv: Levels, in_channels: int, out_channels: int) -> nn.Sequential:
    check_channels(lv.n_d, "channels_down")
    check_channels(lv.n_u, "channels_up")
    check_channels(lv.n_s, "channels_skip", allow_zero=True)
    for name, ks in (("kernel_down", lv.k_d), ("kernel_up", lv.k_u), ("kernel_skip", lv.k_s)):
        check_kernels(ks, name)
    for mode in lv.up:
        check_choice("upsample", mode, UPSAMPLE)
    return nn.Sequential(
        _level(lv, 0, in_channels),
        conv(lv.n_u[0], out_channels, 1, pad=lv.pad),
        nn.Sigmoid(),
    )


def _level(lv: Levels, i: int, c_in: int) -> nn.Sequential:
    last = i == lv.depth - 1
    deeper = [
        conv_bn_act(c_in, lv.n_d[i], lv.k_d[i], stride=2, pad=lv.pad, downsample=lv.down),
        conv_bn_act(lv.n_d[i], lv.n_d[i], lv.k_d[i], pad=lv.pad),
    ]
    if not last:
        deeper.append(_level(lv, i + 1, lv.n_d[i]))
    deeper.append(upsample(lv.up[i]))
    body: nn.Module = nn.Sequential(*deeper)
    if lv.n_s[i] > 0:
        body = Concat(conv_bn_act(c_in, lv.n_s[i], lv.k_s[i], pad=lv.pad), body)
    merged = lv.n_s[i] + (lv.n_d[i] if last else lv.n_u[i + 1])
    layers = [body, bn(merged), conv_bn_act(merged, lv.n_u[i], lv.k_u[i], pad=lv.pad)]
    if lv.need1x1_up:
        layers.append(conv_bn_act(lv.n_u[i], lv.n_u[i], 1, pad=lv.pad))
    return nn.Sequential(*layers)
