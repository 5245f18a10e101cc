"""The super-resolution degradation d(x): a fixed Lanczos2 low-pass + decimation.

As in the paper's code: a separable Lanczos kernel with support 2 (in low-resolution
pixels), 4*factor taps at phase 0.5, normalised to sum 1, applied as one stride-``factor``
convolution after replicate padding of (4*factor - factor) / 2 pixels per side, so an
H x W image maps to exactly H/factor x W/factor. Differentiable, never learned.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def lanczos2_kernel(factor: int) -> np.ndarray:
    """2-D kernel (4f x 4f), float64, sums to 1."""
    taps = 4 * factor
    # tap centres sit half a pixel off the output pixel's centre (phase 0.5), in LR units
    x = (np.arange(taps) - (taps - 1) / 2.0) / factor
    k1 = np.sinc(x) * np.sinc(x / 2.0)
    k1[np.abs(x) >= 2.0] = 0.0
    k1 /= k1.sum()
    return np.outer(k1, k1)


class Downsampler(nn.Module):
    """x (N, C, H, W) -> (N, C, H/f, W/f). H and W must be multiples of ``factor``."""

    def __init__(self, factor: int, channels: int):
        super().__init__()
        self.factor = factor
        self.channels = channels
        k = torch.from_numpy(lanczos2_kernel(factor)).float()
        self.register_buffer("weight", k.expand(channels, 1, *k.shape).contiguous(), persistent=False)
        self.pad = (4 * factor - factor) // 2 if factor % 2 == 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.factor
        if self.pad is not None:
            p = (self.pad,) * 4
        else:  # odd factors: the 3f taps of padding cannot split evenly; put the extra pixel last
            lo = (3 * f) // 2
            p = (lo, 3 * f - lo, lo, 3 * f - lo)
        x = F.pad(x, p, mode="replicate")
        return F.conv2d(x, self.weight, stride=f, groups=self.channels)
