"""N independent DIP networks as one module: every convolution ``groups=N`` wider.

Member i owns a contiguous block along dim 0 of every parameter and buffer (and of the
channel axis of every feature map): a Conv2d(c_in, c_out, groups=g) becomes
Conv2d(N c_in, N c_out, groups=N g), whose group blocks see only their member's channels;
a BatchNorm2d(c) becomes BatchNorm2d(N c), and in train mode over one image its statistics
are per channel anyway. Channel-agnostic layers (padding, activations, resampling,
pooling, the sigmoid, identities, the residual sum) need no change; only the skip
connections' concatenation must interleave member-wise. So the grouped forward is the
members' forwards side by side, and with a loss that is the sum of the members' losses
each member's gradient is its own.

:class:`MemberAdam` is Adam over that layout with one step count per member (a member
that backtracks rewinds its own bias correction) and a mask of members that take the
update (a frozen member's weights and moments stay exactly as they are).
:func:`select_members` rebuilds a smaller group from a subset (the "repack"), and
:meth:`MemberAdam.select` carries the moments and step counts of the members kept.
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
import torch.nn as nn

from .common import Concat
from .dipnet import DIPNet

__all__ = ["GroupedNet", "GroupedConcat", "MemberAdam", "group_nets", "member_net",
           "member_state", "member_slice", "select_members", "take_members"]


class GroupedConcat(Concat):
    """Concat of N members' branches: each member's channels stay together, in its block."""

    def __init__(self, n: int, *branches: nn.Module):
        super().__init__(*branches)
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        b, _, h, w = outs[0].shape
        return torch.cat([o.reshape(b, self.n, -1, h, w) for o in outs], dim=2).reshape(b, -1, h, w)


class GroupedNet(DIPNet):
    """N members of one architecture computed at once. Input: the members' z concatenated
    on the channel axis; output (B, N * C_out, H, W), member i's channels in block i.
    DIPNet's frame checks walk the grouped body unchanged (same spatial bookkeeping)."""

    def __init__(self, body: nn.Module, arch: str, size_multiple: int, n: int):
        super().__init__(body, arch, size_multiple)
        self.n = n

    def member_output(self, out: torch.Tensor, i: int) -> torch.Tensor:
        c = out.shape[1] // self.n
        return out[:, i * c:(i + 1) * c]


def take_members(t: torch.Tensor, n: int, keep: Sequence[int]) -> torch.Tensor:
    """The blocks of ``keep`` (in that order) of a member-major tensor of ``n`` members."""
    idx = torch.as_tensor(list(keep), dtype=torch.long, device=t.device)
    return t.unflatten(0, (n, -1)).index_select(0, idx).flatten(0, 1)


def member_slice(t: torch.Tensor, n: int, i: int) -> torch.Tensor:
    """Member i's block of a member-major tensor, as a view (writes go to the group)."""
    return t.unflatten(0, (n, -1))[i]


# ---- building --------------------------------------------------------------------------

def group_nets(nets: Sequence[DIPNet]) -> GroupedNet:
    """One module computing all of ``nets`` (same architecture and shapes) at once, on their
    device, with their current weights copied in member-major order."""
    if not nets:
        raise ValueError("group_nets needs at least one network")
    first = nets[0]
    for net in nets:
        if not isinstance(net, DIPNet) or isinstance(net, GroupedNet):
            raise TypeError(f"group_nets takes DIPNets, got {type(net).__name__}")
        if (net.arch, net.size_multiple) != (first.arch, first.size_multiple):
            raise ValueError("the members' networks differ in architecture")
    body = _group([net.body for net in nets])
    return GroupedNet(body, first.arch, first.size_multiple, len(nets)).train(first.training)


def _same(mods: Sequence[nn.Module], what: str, attrs: Sequence[str]) -> None:
    ref = tuple(getattr(mods[0], a) for a in attrs)
    for m in mods[1:]:
        if tuple(getattr(m, a) for a in attrs) != ref:
            raise ValueError(f"the members' {what} layers differ: {dict(zip(attrs, ref))}")


_CONV_ATTRS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups", "padding_mode")
_BN_ATTRS = ("num_features", "eps", "momentum", "affine", "track_running_stats")


def _param(t: torch.Tensor, like: nn.Parameter | None) -> nn.Parameter:
    return nn.Parameter(t, requires_grad=True if like is None else like.requires_grad)


def _conv(template: nn.Conv2d, c_in: int, c_out: int, groups: int, weight: torch.Tensor,
          bias: torch.Tensor | None) -> nn.Conv2d:
    # built on the meta device and then given its tensors: a real init would draw from
    # torch's global generator and shift every later draw of the caller's
    c = nn.Conv2d(c_in, c_out, template.kernel_size, stride=template.stride,
                  padding=template.padding, dilation=template.dilation, groups=groups,
                  bias=bias is not None, padding_mode=template.padding_mode, device="meta")
    c.weight = _param(weight, template.weight)
    if bias is not None:
        c.bias = _param(bias, template.bias)
    return c


def _bn(template: nn.BatchNorm2d, features: int, tensors: dict[str, torch.Tensor | None]) -> nn.BatchNorm2d:
    b = nn.BatchNorm2d(features, eps=template.eps, momentum=template.momentum,
                       affine=template.affine, track_running_stats=template.track_running_stats,
                       device="meta")
    for name in ("weight", "bias"):
        if tensors.get(name) is not None:
            setattr(b, name, _param(tensors[name], getattr(template, name)))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        if tensors.get(name) is not None:
            setattr(b, name, tensors[name])
    return b


def _shell(m: nn.Module) -> nn.Module:
    """A copy of a container or parameter-free layer with no children yet."""
    own = list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))
    if own:
        raise TypeError(f"cannot group a {type(m).__name__} (it has its own weights)")
    new = copy.copy(m)
    new._parameters, new._buffers, new._modules = {}, {}, {}
    return new


def _group(mods: Sequence[nn.Module]) -> nn.Module:
    n, m0 = len(mods), mods[0]
    if any(type(m) is not type(m0) for m in mods):
        raise ValueError(f"the members' networks differ: {sorted({type(m).__name__ for m in mods})}")
    with torch.no_grad():
        if isinstance(m0, nn.Conv2d):
            _same(mods, "convolution", _CONV_ATTRS)
            bias = None if m0.bias is None else torch.cat([m.bias.detach() for m in mods]).clone()
            return _conv(m0, n * m0.in_channels, n * m0.out_channels, n * m0.groups,
                         torch.cat([m.weight.detach() for m in mods]).clone(), bias)
        if isinstance(m0, nn.BatchNorm2d):
            _same(mods, "BatchNorm", _BN_ATTRS)
            t: dict[str, torch.Tensor | None] = {}
            for name in ("weight", "bias", "running_mean", "running_var"):
                if getattr(m0, name) is not None:
                    t[name] = torch.cat([getattr(m, name).detach() for m in mods]).clone()
            if m0.num_batches_tracked is not None:
                t["num_batches_tracked"] = m0.num_batches_tracked.clone()
            return _bn(m0, n * m0.num_features, t)
    if isinstance(m0, Concat):
        branches = [_group([m.branches[k] for m in mods]) for k in range(len(m0.branches))]
        return GroupedConcat(n, *branches)
    new = _shell(m0)
    for name in m0._modules:
        new._modules[name] = _group([m._modules[name] for m in mods])
    return new


def _select(m: nn.Module, n: int, keep: Sequence[int]) -> nn.Module:
    """The part of grouped module ``m`` (``n`` members) that computes the members ``keep``."""
    k = len(keep)
    with torch.no_grad():
        if isinstance(m, nn.Conv2d):
            bias = None if m.bias is None else take_members(m.bias.detach(), n, keep).clone()
            return _conv(m, m.in_channels // n * k, m.out_channels // n * k, m.groups // n * k,
                         take_members(m.weight.detach(), n, keep).clone(), bias)
        if isinstance(m, nn.BatchNorm2d):
            t: dict[str, torch.Tensor | None] = {}
            for name in ("weight", "bias", "running_mean", "running_var"):
                if getattr(m, name) is not None:
                    t[name] = take_members(getattr(m, name).detach(), n, keep).clone()
            if m.num_batches_tracked is not None:
                t["num_batches_tracked"] = m.num_batches_tracked.clone()
            return _bn(m, m.num_features // n * k, t)
    if isinstance(m, GroupedConcat):
        branches = [_select(b, n, keep) for b in m.branches]
        return GroupedConcat(k, *branches)
    new = _shell(m)
    for name, child in m._modules.items():
        new._modules[name] = _select(child, n, keep)
    return new


def select_members(gnet: GroupedNet, keep: Sequence[int]) -> GroupedNet:
    """A new, smaller group of the members ``keep`` (indices into ``gnet``, in that order),
    their weights and BatchNorm buffers copied. Parameter order is the same as ``gnet``'s,
    so per-parameter optimiser state lines up (:meth:`MemberAdam.select`)."""
    keep = _check_keep(keep, gnet.n)
    body = _select(gnet.body, gnet.n, keep)
    return GroupedNet(body, gnet.arch, gnet.size_multiple, len(keep)).train(gnet.training)


def _ungroup(m: nn.Module, n: int, i: int) -> nn.Module:
    if isinstance(m, GroupedConcat):
        return Concat(*[_ungroup(b, n, i) for b in m.branches])
    if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
        return _select(m, n, [i])
    new = _shell(m)
    for name, child in m._modules.items():
        new._modules[name] = _ungroup(child, n, i)
    return new


def member_net(gnet: GroupedNet, i: int) -> DIPNet:
    """Member i as a standalone DIPNet (a copy, on the group's device)."""
    _check_keep([i], gnet.n)
    return DIPNet(_ungroup(gnet.body, gnet.n, i), gnet.arch, gnet.size_multiple).train(gnet.training)


def member_state(gnet: GroupedNet, i: int) -> dict[str, torch.Tensor]:
    """Member i's state_dict, loadable into a fresh DIPNet built from the member's config
    (names are the member's own: grouping keeps the module tree)."""
    _check_keep([i], gnet.n)
    return {k: v.clone() if v.ndim == 0 else member_slice(v, gnet.n, i).clone()
            for k, v in gnet.state_dict().items()}


def _check_keep(keep: Sequence[int], n: int) -> list[int]:
    keep = [int(i) for i in keep]
    if not keep or any(not 0 <= i < n for i in keep) or len(set(keep)) != len(keep):
        raise ValueError(f"members to keep must be distinct indices in 0..{n - 1}, got {keep}")
    return keep


# ---- the optimiser ---------------------------------------------------------------------

def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small host tensor on ``device`` without waiting for the device: a copy from
    pageable memory would wait for the queued backward pass, a pinned one is queued."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class MemberAdam:
    """Adam (torch's arithmetic, no weight decay) over member-major parameters, with a step
    count per member kept on the host: a member that backtracks rewinds its own count, and
    the bias corrections of the others are untouched. ``step(active)`` updates the active
    members only; an inactive member's weights and moments are left bit for bit (its
    weights are the ones a frozen member must keep).

    Per step the per-member factors travel to the device as one small tensor, so the update
    is a handful of kernels per parameter and no host sync."""

    def __init__(self, params: Sequence[nn.Parameter], n: int, lr: float | Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.n = n
        self.lrs = [float(v) for v in lr] if isinstance(lr, (list, tuple)) else [float(lr)] * n
        if len(self.lrs) != n:
            raise ValueError(f"one learning rate per member ({n}), got {len(self.lrs)}")
        self.betas, self.eps = betas, float(eps)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [0] * n   # per member: Adam's step count (bias correction)

    def state_tensors(self) -> list[torch.Tensor]:
        """Weights and moments, in a fixed order (all member-major): what a checkpoint holds."""
        return [p.data for p in self.params] + self.exp_avg + self.exp_avg_sq

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def reset_member(self, i: int) -> None:
        for t in self.exp_avg + self.exp_avg_sq:
            member_slice(t, self.n, i).zero_()
        self.steps[i] = 0

    @torch.no_grad()
    def step(self, active: Sequence[bool]) -> None:
        b1, b2 = self.betas
        rows = ([], [], [], [], [])   # lerp weight, v decay, v gain, -step size, sqrt(bc2)
        for i, on in enumerate(active):
            if on:
                self.steps[i] += 1
                t = self.steps[i]
                rows[0].append(1 - b1)
                rows[1].append(b2)
                rows[2].append(1 - b2)
                rows[3].append(-self.lrs[i] / (1 - b1 ** t))
                rows[4].append(math.sqrt(1 - b2 ** t))
            else:  # lerp by 0, decay by 1, gain 0, step 0: exactly no change
                for r, v in zip(rows, (0.0, 1.0, 0.0, 0.0, 1.0)):
                    r.append(v)
        if not any(active):
            return
        if all(active) and len(set(self.steps)) == 1 and len(set(self.lrs)) == 1:
            # the usual step: every member at the same count, so the factors are plain
            # numbers and torch's multi-tensor kernels do the whole update
            self._uniform_step(rows[3][0], rows[4][0])
            return
        dev = self.params[0].device
        f = _to_device(torch.tensor(rows, dtype=self.params[0].dtype), dev).unsqueeze(-1)
        w1, d2, g2, neg_step, bc2_sqrt = f.unbind(0)
        # a frozen member's gradient is zero but may be NaN (its own output went bad); it
        # must not reach its moments through the zero weights (0 * NaN is NaN)
        on = None if all(active) else _to_device(torch.tensor(list(active)), dev).unsqueeze(-1)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad.unflatten(0, (self.n, -1)).flatten(1)
            if on is not None:
                g = torch.where(on, g, 0.0)
            pv, mv, vv = (t.unflatten(0, (self.n, -1)).flatten(1) for t in (p.data, m, v))
            # the same operations, in the same order, as the uniform path and torch's Adam
            mv.lerp_(g, w1)
            vv.mul_(d2).addcmul_(g * g2, g)
            denom = (vv.sqrt() / bc2_sqrt).add_(self.eps)
            pv.add_((mv / denom) * neg_step)

    def _uniform_step(self, neg_step: float, bc2_sqrt: float) -> None:
        b1, b2 = self.betas
        live = [k for k, p in enumerate(self.params) if p.grad is not None]
        ps = [self.params[k].data for k in live]
        gs = [self.params[k].grad for k in live]
        ms = [self.exp_avg[k] for k in live]
        vs = [self.exp_avg_sq[k] for k in live]
        torch._foreach_lerp_(ms, gs, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, gs, gs, 1 - b2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(ps, ms, denom, neg_step)

    def select(self, keep: Sequence[int], params: Sequence[nn.Parameter]) -> "MemberAdam":
        """The optimiser of a repacked group (``select_members(gnet, keep)``'s parameters):
        the kept members' moments and step counts carried over."""
        keep = _check_keep(keep, self.n)
        new = MemberAdam(params, len(keep), [self.lrs[i] for i in keep], self.betas, self.eps)
        with torch.no_grad():
            for dst, src in ((new.exp_avg, self.exp_avg), (new.exp_avg_sq, self.exp_avg_sq)):
                for d, s in zip(dst, src, strict=True):
                    d.copy_(take_members(s, self.n, keep))
        new.steps = [self.steps[i] for i in keep]
        return new
