"""The built network: the builders' body behind a check of the input frame.

It sits above profile.py (it asks the shape walk whether a frame can run), and profile.py
knows it only as a :class:`~.common.Wrapper`, so the two never import each other.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .common import Wrapper
from .profile import profile


class DIPNet(Wrapper):
    """Checks the input frame, then runs the body (which ends in a sigmoid)."""

    def __init__(self, body: nn.Module, arch: str, size_multiple: int):
        super().__init__(body)
        self.arch = arch
        self.size_multiple = size_multiple
        self._checked: tuple[int, ...] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape) != self._checked:
            self.check_frame(x.shape[1], x.shape[2], x.shape[3])
            self._checked = tuple(x.shape)
        return self.body(x)

    def check_frame(self, channels: int, height: int, width: int) -> None:
        """ConfigError if a (1, channels, height, width) input cannot run, in place of a
        shape error from deep inside torch."""
        m = self.size_multiple
        if height % m or width % m:
            raise ConfigError(f"the {self.arch} network needs sides that are multiples of {m}, "
                              f"got {width}x{height}")
        problems = profile(self, channels, height, width).problems
        if problems:
            raise ConfigError(f"a {width}x{height} frame is too small for this {self.arch} network "
                              f"({problems[0]}): use a larger image, fewer levels or smaller kernels")

    def min_side(self, channels: int = 1) -> int:
        """The smallest multiple of size_multiple a square frame can have."""
        m = self.size_multiple
        for k in range(1, 257):
            if not profile(self, channels, k * m, k * m).problems:
                return k * m
        raise ConfigError(f"this {self.arch} network cannot run on any frame size")
