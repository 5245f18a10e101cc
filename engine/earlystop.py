"""Best iterate without ground truth: the windowed moving variance (ES-WMV).

Wang et al., "Early Stopping for Deep Image Prior" (TMLR 2023, arXiv 2112.06074): the
per-pixel variance of the last W outputs, averaged over pixels, falls while the network
fits structure and rises once it fits noise; its minimum marks a near-peak iterate.

The window lives on the run's device as a ring of W frames. To respect a memory budget
on large images the frames are area-downsampled by an integer factor first; the curve's
minimum barely moves, and the suggested image itself is kept at full resolution by the
run loop. Running sums make each update O(pixels) instead of O(W * pixels); they are
recomputed exactly once per lap of the ring so float32 drift cannot build up.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class WindowedVariance:
    def __init__(self, window: int, channels: int, height: int, width: int,
                 budget_bytes: int, device: torch.device):
        self.window = window
        frame = channels * height * width * 4
        # smallest integer area-downsampling that fits the ring in the budget
        self.factor = max(1, math.ceil(math.sqrt(window * frame / max(budget_bytes, 1))))
        h = max(1, height // self.factor)
        w = max(1, width // self.factor)
        self.ring = torch.zeros(window, channels, h, w, device=device)
        self.s1 = torch.zeros(channels, h, w, device=device)
        self.s2 = torch.zeros(channels, h, w, device=device)
        self.count = 0

    @property
    def nbytes(self) -> int:
        return self.ring.numel() * 4 + self.s1.numel() * 8

    def _frame(self, out: torch.Tensor) -> torch.Tensor:
        x = out.detach()
        if self.factor > 1:
            x = F.avg_pool2d(x, self.factor)
        x = x[0]
        h, w = self.ring.shape[-2:]
        return x[:, :h, :w].float()

    def update(self, out: torch.Tensor) -> torch.Tensor | None:
        """Add the output of one step; the window's mean variance (0-d tensor) once full."""
        x = self._frame(out)
        i = self.count % self.window
        if self.count >= self.window:
            old = self.ring[i]
            self.s1.sub_(old)
            self.s2.sub_(old * old)
        self.ring[i].copy_(x)
        self.s1.add_(x)
        self.s2.add_(x * x)
        self.count += 1
        if i == self.window - 1:  # one lap done: refresh the sums exactly
            self.s1 = self.ring.sum(0)
            self.s2 = (self.ring * self.ring).sum(0)
        if self.count < self.window:
            return None
        mean = self.s1 / self.window
        return (self.s2 / self.window - mean * mean).clamp_min_(0).mean()
