"""Shape-level accounting of a built network, without running it.

Walks the module tree with (channels, height, width) instead of tensors and adds up what
one training step costs: convolution FLOPs (counted as torch's FlopCounterMode counts
them: 2 per multiply-add, forward plus the two backward convolutions) and the bytes of
activations autograd keeps for the backward pass (each tensor counted once, whoever
saves it). Microseconds for any image size, so the UI can ask on every keystroke; the
tests check it against torch's own counters on small inputs.

It also finds frames a network cannot run on: reflection padding wider than its input,
or a BatchNorm over a single value per channel.

It imports the layer types it walks (common.py, resnet.py), never the network class
(dipnet.py), which imports this module to check its input frames.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch.nn as nn

from .common import Concat, Wrapper
from .resnet import Residual

F32 = 4
I64 = 8


@dataclass(frozen=True)
class Act:
    """A feature map as the walk sees it; ``tid`` identifies the tensor (in-place ops keep it)."""

    c: int
    h: int
    w: int
    tid: int
    grad: bool  # whether autograd needs its gradient (false only before the first conv)

    @property
    def numel(self) -> int:
        return self.c * self.h * self.w


@dataclass
class Profile:
    flops_fwd: float = 0.0
    flops_bwd: float = 0.0
    saved: dict[int, int] = field(default_factory=dict)  # tensor id -> bytes
    problems: list[str] = field(default_factory=list)
    out: Act | None = None

    @property
    def flops(self) -> float:
        return self.flops_fwd + self.flops_bwd

    @property
    def saved_bytes(self) -> int:
        return sum(self.saved.values())


def profile(module: nn.Module, channels: int, height: int, width: int) -> Profile:
    """The cost of one forward+backward of ``module`` on a (1, channels, height, width) input."""
    walk = _Walk()
    walk.prof.out = walk.run(module, Act(channels, height, width, walk.new_id(), grad=False))
    return walk.prof


class _Walk:
    def __init__(self) -> None:
        self.prof = Profile()
        self._ids = itertools.count()

    def new_id(self) -> int:
        return next(self._ids)

    def save(self, a: Act, itemsize: int = F32, always: bool = False) -> None:
        # autograd records an op without parameters only when its input needs a gradient
        if always or a.grad:
            self.prof.saved[a.tid] = a.numel * itemsize

    def new(self, a: Act, c: int | None = None, h: int | None = None, w: int | None = None,
            grad: bool | None = None) -> Act:
        return Act(a.c if c is None else c, a.h if h is None else h, a.w if w is None else w,
                   self.new_id(), a.grad if grad is None else grad)

    def run(self, m: nn.Module, x: Act) -> Act:
        if isinstance(m, nn.Sequential):
            for child in m:
                x = self.run(child, x)
            return x
        if isinstance(m, Wrapper):  # DIPNet: its input checks cost nothing
            return self.run(m.body, x)
        if isinstance(m, Concat):
            outs = [self.run(b, x) for b in m.branches]
            if len({(o.h, o.w) for o in outs}) != 1:
                self.prof.problems.append(f"branches disagree on size: {[(o.h, o.w) for o in outs]}")
            return self.new(outs[0], c=sum(o.c for o in outs), grad=any(o.grad for o in outs))
        if isinstance(m, Residual):
            y = self.run(m.body, x)
            return self.new(y)
        if isinstance(m, nn.Identity):
            return x
        if isinstance(m, nn.Conv2d):
            return self._conv(m, x)
        if isinstance(m, nn.BatchNorm2d):
            if x.h * x.w <= 1:
                self.prof.problems.append(f"a {x.h}x{x.w} map leaves BatchNorm one value per channel")
            self.save(x, always=True)
            return self.new(x, grad=True)
        if isinstance(m, (nn.LeakyReLU, nn.ReLU)):
            y = x if m.inplace else self.new(x)
            self.save(y if m.inplace else x)  # in place: keeps its result; otherwise its input
            return y
        if isinstance(m, nn.Sigmoid):
            y = self.new(x)
            self.save(y)
            return y
        if isinstance(m, nn.ReflectionPad2d):
            left, right, top, bottom = m.padding
            if max(left, right) >= x.w or max(top, bottom) >= x.h:
                self.prof.problems.append(
                    f"reflection padding {max(m.padding)} needs a map larger than {x.h}x{x.w}")
            self.save(x)  # its backward holds the input
            return self.new(x, h=x.h + top + bottom, w=x.w + left + right)
        if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
            y = self.new(x, h=(x.h + 2 * p[0] - k[0]) // s[0] + 1, w=(x.w + 2 * p[1] - k[1]) // s[1] + 1)
            self.save(x)
            if isinstance(m, nn.MaxPool2d):
                self.save(self.new(y), itemsize=I64)  # the argmax indices
            return y
        if isinstance(m, nn.Upsample):
            f = m.scale_factor
            if f is None or not float(f).is_integer():
                raise NotImplementedError("profile handles integer Upsample scale factors only")
            return self.new(x, h=x.h * int(f), w=x.w * int(f))
        raise NotImplementedError(f"profile does not know {type(m).__name__}")

    def _conv(self, m: nn.Conv2d, x: Act) -> Act:
        if not isinstance(m.padding, tuple):
            raise NotImplementedError("profile handles numeric conv padding only")
        kh, kw = m.kernel_size
        (sh, sw), (ph, pw), (dh, dw) = m.stride, m.padding, m.dilation
        h = (x.h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        w = (x.w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if h < 1 or w < 1:
            self.prof.problems.append(f"a {kh}x{kw} convolution does not fit a {x.h}x{x.w} map")
            h, w = max(h, 1), max(w, 1)
        macs = (m.in_channels // m.groups) * kh * kw * m.out_channels * h * w
        self.prof.flops_fwd += 2 * macs
        self.prof.flops_bwd += 2 * macs * (2 if x.grad else 1)  # weight grad, and input grad if needed
        self.save(x, always=True)
        return Act(m.out_channels, h, w, self.new_id(), grad=True)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])
