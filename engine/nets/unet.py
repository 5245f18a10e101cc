"""A U-Net with wide skips: each decoder level concatenates the whole encoder feature map
of its resolution (where the skip net keeps only n_s channels of it).

    stem    = 2 x conv(k_d[0]) BN LReLU at full resolution            -> n_d[0]
    level i = encoder: downsample, 2 x conv(k_d[i]) BN LReLU           -> n_d[i]  (r/2)
              [level i+1], upsample x2
              cat[encoder map at r, that], 2 x conv(k_u[i]) BN LReLU   -> n_u[i]  (r)
    out     = conv 1x1 -> out_channels, sigmoid
"""
from __future__ import annotations

import torch.nn as nn

from .common import Concat, check_channels, check_kernels, conv, conv_bn_act, upsample
from .skip import Levels


def unet(lv: Levels, in_channels: int, out_channels: int) -> nn.Sequential:
    check_channels(lv.n_d, "channels_down")
    check_channels(lv.n_u, "channels_up")
    check_kernels(lv.k_d, "kernel_down")
    check_kernels(lv.k_u, "kernel_up")
    stem = nn.Sequential(
        conv_bn_act(in_channels, lv.n_d[0], lv.k_d[0], pad=lv.pad),
        conv_bn_act(lv.n_d[0], lv.n_d[0], lv.k_d[0], pad=lv.pad),
    )
    return nn.Sequential(
        stem,
        _level(lv, 0, lv.n_d[0]),
        conv(lv.n_u[0], out_channels, 1, pad=lv.pad),
        nn.Sigmoid(),
    )


def _down(lv: Levels, i: int, c_in: int) -> nn.Sequential:
    c, k = lv.n_d[i], lv.k_d[i]
    if lv.down == "stride":
        first = [conv_bn_act(c_in, c, k, stride=2, pad=lv.pad)]
    else:
        # classic U-Net order: pool first, so the conv runs at the lower resolution
        pool = nn.AvgPool2d(2, 2) if lv.down == "avg" else nn.MaxPool2d(2, 2)
        first = [pool, conv_bn_act(c_in, c, k, pad=lv.pad)]
    return nn.Sequential(*first, conv_bn_act(c, c, k, pad=lv.pad))


def _level(lv: Levels, i: int, c_in: int) -> nn.Sequential:
    last = i == lv.depth - 1
    deeper = [_down(lv, i, c_in)]
    if not last:
        deeper.append(_level(lv, i + 1, lv.n_d[i]))
    deeper.append(upsample(lv.up[i]))
    merged = c_in + (lv.n_d[i] if last else lv.n_u[i + 1])
    return nn.Sequential(
        Concat(nn.Identity(), nn.Sequential(*deeper)),
        conv_bn_act(merged, lv.n_u[i], lv.k_u[i], pad=lv.pad),
        conv_bn_act(lv.n_u[i], lv.n_u[i], lv.k_u[i], pad=lv.pad),
    )
