"""The network input z: uniform noise, a meshgrid, or a guide image (flash/no-flash)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def make_input(kind: str, channels: int, height: int, width: int, *, scale: float = 0.1,
               generator: torch.Generator | None = None, guide: np.ndarray | None = None,
               crop_box: tuple[int, int] | None = None) -> torch.Tensor:
    """A (1, C, height, width) float32 CPU tensor.

    ``guide`` (HxWxC in [0,1]) is reflect-padded to (height, width); ``crop_box`` gives
    its (top, left) offset inside the padded frame.
    """
    if kind == "noise":
        return torch.rand(1, channels, height, width, generator=generator) * scale
    if kind == "meshgrid":
        ys = torch.linspace(0, 1, height)
        xs = torch.linspace(0, 1, width)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx, gy])[None].float()
    if kind == "guide":
        if guide is None:
            raise ValueError("input 'guide' needs a guide image")
        g = torch.from_numpy(np.ascontiguousarray(guide, dtype=np.float32)).permute(2, 0, 1)[None]
        top, left = crop_box or (0, 0)
        bottom = height - g.shape[2] - top
        right = width - g.shape[3] - left
        return pad_reflect(g, left, right, top, bottom)
    raise ValueError(f"unknown input kind {kind!r}")


def input_channels(kind: str, channels: int, guide: np.ndarray | None = None) -> int:
    if kind == "meshgrid":
        return 2
    if kind == "guide" and guide is not None:
        return guide.shape[2]
    return channels


def pad_reflect(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Reflect padding that also works when the pad exceeds the image (it folds repeatedly)."""
    while left or right or top or bottom:
        h, w = x.shape[-2:]
        step = (min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1))
        if max(step) == 0:  # a 1-pixel side cannot reflect; replicate instead
            return F.pad(x, (left, right, top, bottom), mode="replicate")
        x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = left - step[0], right - step[1], top - step[2], bottom - step[3]
    return x
