"""Many small runs as one network: N restorations with the same network settings and the
same output size (N tiles, or N seeds) stepped together through one grouped network
(engine/nets/grouped.py), the same mathematics as N separate runs.

Each member is built by :class:`engine.run.Restoration` itself (task, held-out pixels, z,
jitter generator, net seeded exactly as a lone run seeds it, EMA, best tracker, noise-level
wait, history), whose network is then folded into the group. Per group step: one forward of
the members' jittered inputs side by side, the sum of the active members' losses (so each
member's gradient is its own), one backward, one :class:`MemberAdam` update and one host
sync for every member's (loss, variance, held-out errors). Then each member does its own
bookkeeping, exactly what ``Restoration`` does after its update: acceptance, EMA, best
iterate, stopping. A rejected step restores only that member's slices of the weights and
Adam's moments (and its own step count) from the double-buffered checkpoint.

A member that stops (its rule, its bound, or divergence) is frozen: it takes no update
(its weights and moments stay bit for bit) and its loss leaves the sum. Frozen members still
ride along in the forward until the next *repack*, which rebuilds a smaller group and its
optimiser from the members still running, carrying their weights, moments, step counts and
checkpoints. Repacking costs a copy of the weights, so it waits until ``repack_fraction``
of the group is frozen.

Where it pays: a GPU runs one small tile far below its capacity, and N members fill it in
about the time of one; a CPU is already busy with one and gains nothing
(:func:`group_is_faster`; benchmarks/bench_grouped.py measures it).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Sequence

import numpy as np
import torch

from .config import RunConfig
from .control import Controls
from .device import device_memory_bytes, is_oom, oom_error, pick_device
from .errors import ConfigError
from .estimate import BASELINE_BYTES, estimate_cost
from .nets.grouped import GroupedNet, MemberAdam, group_nets, member_slice, member_state, \
    select_members, take_members
from .run import Restoration, StepRecord
from .schedule import forward_precision, kernel_autotune, lr_at

REPACK_FRACTION = 0.25     # repack once this share of the group's slots is frozen
MEMORY_HEADROOM = 0.8      # of the device's memory a group may plan to use


class Member:
    """One member of a group, seen as a lone :class:`Restoration` would be."""

    def __init__(self, run: Restoration):
        self.run = run
        self.done = False            # stopped by its rule, its bound or divergence: frozen
        self.error: Exception | None = None   # a Diverged that ended it, if any
        self.began = 0               # its step when the current steps() call began
        # its network's state_dict as it stopped (a DIPNet of its config loads it): frozen
        # weights stay in the group until the repack, but BatchNorm's running statistics
        # (never read in train mode) would keep moving there
        self.net_state: dict[str, torch.Tensor] | None = None

    cfg = property(lambda self: self.run.cfg)
    step = property(lambda self: self.run.step)
    losses = property(lambda self: self.run.losses)
    stopped_early = property(lambda self: self.run.stopped_early)
    stop_reason = property(lambda self: self.run.stop_reason)
    suggested = property(lambda self: self.run.suggested)
    suggested_kind = property(lambda self: self.run.suggested_kind)
    failed_to_fit = property(lambda self: self.run.failed_to_fit)
    elapsed = property(lambda self: self.run.elapsed)
    history = property(lambda self: self.run.history)

    def result(self, pick: str = "last") -> np.ndarray:
        return self.run.result(pick)

    def suggested_image(self) -> np.ndarray | None:
        return self.run.suggested_image()

    def degraded(self) -> np.ndarray:
        return self.run.degraded()


class GroupRun(Controls):
    """N restorations of the same network settings and output size, stepped as one."""

    def __init__(self, cfgs: Sequence[RunConfig], images: Sequence[np.ndarray],
                 masks: Sequence[np.ndarray | None] | None = None,
                 guides: Sequence[np.ndarray | None] | None = None,
                 references: Sequence[np.ndarray | None] | None = None,
                 *, repack_fraction: float = REPACK_FRACTION):
        n = len(cfgs)
        if n < 1 or len(images) != n:
            raise ConfigError(f"a group needs one image per config, got {n} configs and {len(images)} images")
        masks, guides, references = (_per_member(x, n, name) for x, name in
                                     ((masks, "masks"), (guides, "guides"), (references, "references")))
        if not 0.0 < repack_fraction <= 1.0:
            raise ConfigError(f"repack_fraction must be in (0, 1], got {repack_fraction}")
        _check_compatible(cfgs)
        self.repack_fraction = float(repack_fraction)
        self.repacks = 0
        runs: list[Restoration] = []
        for cfg, img, mask, guide, ref in zip(cfgs, images, masks, guides, references):
            runs.append(Restoration(cfg, img, mask, guide, ref))
        first = runs[0]
        for r in runs[1:]:
            if (r.out_shape, tuple(r.z.shape), r.crop_origin) != \
                    (first.out_shape, tuple(first.z.shape), first.crop_origin):
                raise ConfigError("the members of a group must have the same output size and channels")
            if r.device != first.device:
                raise ConfigError("the members of a group must run on one device")
        self.device = first.device
        self.device_name = first.device_name
        self.members = [Member(r) for r in runs]
        self.param_count = first.param_count
        try:
            self.net: GroupedNet | None = group_nets([r.net for r in runs])
            for r in runs:   # their nets live on in the group; their optimisers are not used
                r.net = None
                r.opt = None
            self.opt: MemberAdam | None = MemberAdam(list(self.net.parameters()), n,
                                                     [r.cfg.lr for r in runs])
        except Exception as exc:
            if is_oom(exc):
                raise oom_error(self.device, first.out_shape[:2], self.param_count * n) from None
            raise
        self.slots = list(range(n))          # slot j of the group computes member slots[j]
        self._stage: list[torch.Tensor] | None = None
        self._ckpt: list[torch.Tensor] | None = None
        self._stage_steps: list[int] = [0] * n
        self._ckpt_steps: list[int] = [0] * n
        self._has_ckpt = [False] * n         # per slot: an accepted step to go back to
        self._init_controls()

    # ---- control (any thread): request_stop, pause, resume, paused (engine/control.py) ----
    @property
    def done(self) -> bool:
        return all(m.done for m in self.members)

    def member_state(self, i: int) -> dict[str, torch.Tensor]:
        """Member i's current weights as a DIPNet state_dict (while it is still in the group)."""
        if i not in self.slots or self.net is None:
            raise KeyError(f"member {i} is no longer in the group")
        return member_state(self.net, self.slots.index(i))

    def close(self) -> None:
        for m in self.members:
            m.run.close()
        self.net = self.opt = None
        self._stage = self._ckpt = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ---- the loop ----------------------------------------------------------------------
    def steps(self):
        """Yield, per group step, ``[(member_index, StepRecord), ...]`` for the members that
        stepped, until every member is done or a stop is requested. Calling it again
        continues the members not done, each with a fresh look-ahead."""
        self._stop.clear()
        for m in self.members:
            m.began = m.step
            if not m.done:
                m.run.stop_reason = None
                m.run.stopped_early = False
        h, w, _ = self.members[0].run.out_shape
        try:
            while not self.done and not self._stop.is_set():
                if not self._running.is_set():
                    self._running.wait()
                    if self._stop.is_set():
                        break
                t0 = time.perf_counter()
                try:
                    with kernel_autotune(self.device):
                        out = self._group_step()
                    dt = time.perf_counter() - t0
                    for i, rec in out:
                        rec.elapsed = self.members[i].run.add_elapsed(dt)
                    if self._frozen_slots() >= max(1, math.ceil(self.repack_fraction * len(self.slots))) \
                            and not self.done:
                        self.repack()
                except Exception as exc:
                    if is_oom(exc):
                        raise oom_error(self.device, (h, w), self.param_count * len(self.slots)) from None
                    raise
                yield out
        finally:
            for m in self.members:
                r = m.run
                if r.stop_reason is None:
                    r.stop_reason = ("stopped on request" if r.step < r.cfg.iterations
                                     else f"reached the step limit ({r.cfg.iterations})")

    def _frozen_slots(self) -> int:
        return sum(self.members[i].done for i in self.slots)

    def _group_step(self) -> list[tuple[int, StepRecord]]:
        net, opt, n = self.net, self.opt, len(self.slots)
        runs = [self.members[i].run for i in self.slots]
        active = [not self.members[i].done for i in self.slots]
        first = runs[0]
        h, w, c = first.out_shape
        zs = [r.jittered_input() if on else r.z for r, on in zip(runs, active)]
        with forward_precision(first.bf16, self.device):
            raw = net(torch.cat(zs, dim=1))
        top, left = first.crop_origin
        out = (raw.float() if first.bf16 else raw)[:, :, top:top + h, left:left + w]
        outs = [out[:, j * c:(j + 1) * c] for j in range(n)]
        losses = {j: runs[j].task.loss(outs[j]) for j in range(n) if active[j]}

        state = opt.state_tensors()
        if self._stage is None:
            self._stage = [t.detach().clone() for t in state]
        else:
            torch._foreach_copy_(self._stage, state)
        self._stage_steps = list(opt.steps)
        if first.cfg.lr_schedule != "constant":   # each member at its own step of the schedule
            opt.lrs = [lr_at(r.cfg, r.step + 1, r.horizon) for r in runs]
        opt.zero_grad()
        torch.stack(list(losses.values())).sum().backward()
        opt.step(active)

        # each member's observations, as Restoration takes them, read back in one sync
        seen: dict[int, tuple] = {}
        rows = []
        for j, loss in losses.items():
            o = outs[j].detach()
            prev_step = runs[j].last_output_step
            row, flags = runs[j].observations(o, loss)
            rows.append(row)
            seen[j] = (o, flags, prev_step)
        values = torch.stack(rows).tolist()

        records: list[tuple[int, StepRecord]] = []
        accepted, rejected = [], []
        for (j, (o, flags, prev_step)), vals in zip(seen.items(), values):
            rec, ok = runs[j].account(o, vals, *flags, prev_step)
            (accepted if ok else rejected).append(j)
            records.append((j, rec))
        self._settle_checkpoints(accepted, rejected)

        result = []
        for j, rec in records:
            m = self.members[self.slots[j]]
            r = m.run
            if j in rejected:
                self._check_divergence(m)
            if not m.done and r.cfg.stop == "auto" and r.rule_stops(m.began):
                m.done = True
            if not m.done and r.step >= r.cfg.iterations:
                r.reach_bound()
                m.done = True
            if m.done:
                m.net_state = member_state(self.net, j)
            last = m.done or self._stop.is_set()
            rec.final = last
            r.observe(rec, force_preview=last)
            result.append((self.slots[j], rec))
        return result

    def _settle_checkpoints(self, accepted: list[int], rejected: list[int]) -> None:
        """Accepted members' pre-step state becomes their restore point; rejected members
        go back to theirs (Restoration._backtrack, on the member's slices only)."""
        n = len(self.slots)
        if not rejected:
            # every member that stepped was accepted: the whole staged state is the new
            # checkpoint (frozen members' slices there are never read again)
            self._ckpt, self._stage = self._stage, self._ckpt
            self._ckpt_steps = list(self._stage_steps)
            for j in accepted:
                self._has_ckpt[j] = True
            return
        if self._ckpt is None:
            self._ckpt = [t.clone() for t in self._stage]
        state = self.opt.state_tensors()
        for j in accepted:
            for ck, st in zip(self._ckpt, self._stage):
                member_slice(ck, n, j).copy_(member_slice(st, n, j))
            self._ckpt_steps[j] = self._stage_steps[j]
            self._has_ckpt[j] = True
        n_params = len(self.opt.params)
        for j in rejected:
            if self._has_ckpt[j]:
                for t, ck in zip(state, self._ckpt):
                    member_slice(t, n, j).copy_(member_slice(ck, n, j))
                self.opt.steps[j] = self._ckpt_steps[j]
            else:  # no accepted step yet: the weights before this one, fresh moments
                for t, st in zip(state[:n_params], self._stage[:n_params]):
                    member_slice(t, n, j).copy_(member_slice(st, n, j))
                self.opt.reset_member(j)

    def _check_divergence(self, m: Member) -> None:
        err = m.run.divergence()
        if err is not None:   # the member is frozen with its reason; the others go on
            m.error = err
            m.run.stop_reason = str(err)
            m.done = True

    def repack(self) -> None:
        """Rebuild the group without its frozen members (weights, Adam's moments and step
        counts, checkpoints carried over for the members kept)."""
        keep = [j for j, i in enumerate(self.slots) if not self.members[i].done]
        if not keep or len(keep) == len(self.slots):
            return
        n = len(self.slots)
        net = select_members(self.net, keep)
        opt = self.opt.select(keep, list(net.parameters()))
        with torch.no_grad():
            stage = None if self._stage is None else [take_members(t, n, keep) for t in self._stage]
            ckpt = None if self._ckpt is None else [take_members(t, n, keep) for t in self._ckpt]
        self.net, self.opt, self._stage, self._ckpt = net, opt, stage, ckpt
        self._stage_steps = [self._stage_steps[j] for j in keep]
        self._ckpt_steps = [self._ckpt_steps[j] for j in keep]
        self._has_ckpt = [self._has_ckpt[j] for j in keep]
        self.slots = [self.slots[j] for j in keep]
        self.repacks += 1


def _per_member(values, n: int, name: str) -> list:
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ConfigError(f"{name}: one per member ({n}), got {len(values)}")
    return values


def _check_compatible(cfgs: Sequence[RunConfig]) -> None:
    first = cfgs[0]
    for cfg in cfgs[1:]:
        if asdict(cfg.net) != asdict(first.net):
            raise ConfigError("the members of a group must have the same network settings")
        for key in ("input_kind", "input_channels", "task", "device", "precision", "lr_schedule"):
            if getattr(cfg, key) != getattr(first, key):
                raise ConfigError(f"the members of a group must share {key}")


# ---- when to group ---------------------------------------------------------------------

def fits_group(cfg: RunConfig, height: int, width: int, device: str | torch.device, n: int,
               *, out_channels: int = 3, memory_bytes: int | None = None) -> int:
    """How many of ``n`` members producing ``height`` x ``width`` fit the device's memory as
    one group (0: not even one). Each member adds its weights, Adam's state and activations
    (engine.estimate); the process baseline is paid once."""
    dev = _device(device)
    est = estimate_cost(cfg, height, width, dev, out_channels=out_channels)
    if est.problem is not None:
        return 0
    base = BASELINE_BYTES[dev.type]
    per_member = max(1, est.bytes - base)
    total = device_memory_bytes(dev.type) if memory_bytes is None else int(memory_bytes)
    room = MEMORY_HEADROOM * total - base
    return max(0, min(int(n), int(room // per_member)))


def group_is_faster(device: str | torch.device) -> bool:
    """Whether stepping members as one group beats stepping them one after another: on a GPU
    a small tile leaves most of it idle; a CPU's cores are already busy with one member
    (benchmarks/bench_grouped.py)."""
    return _device(device).type == "cuda"


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    return pick_device("auto") if device == "auto" else torch.device(device)
