"""N DIP nets as one grouped network (engine/nets/grouped.py, engine/group.py): the same
mathematics as N separate nets and N separate Restorations.

Why the training comparisons run in float64: DIP's first Adam steps normalise every
gradient to about +-lr, so float32 rounding noise in near-zero gradients (the biases that
BatchNorm cancels) becomes visible within a few steps. torch's own fused and foreach Adam
drift apart by ~0.07 in 20 steps on these nets in float32, so no float32 comparison of
trajectories can be tight. In float64 the same code matches to ~1e-14, which is what
proves the grouped run is the same computation. Forward passes are compared in float32.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.config import NetConfig
from engine.errors import ConfigError
from engine.estimate import BASELINE_BYTES, estimate_cost
from engine.group import MEMORY_HEADROOM, GroupRun, fits_group, group_is_faster
from engine.nets import build_net
from engine.nets.grouped import MemberAdam, group_nets, member_net, member_state, select_members
from engine.run import Restoration
from tests.helpers import smooth_image, tiny_config

ARCHS = ["skip", "hourglass", "unet", "resnet"]
SMALL = dict(channels_down=[8, 8], channels_up=[8, 8], channels_skip=[2, 2], resnet_blocks=2,
             resnet_channels=8)


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _nets(arch: str, n: int = 3, c_in: int = 4) -> list:
    cfg = NetConfig(arch=arch, **SMALL)
    nets = []
    for seed in range(n):
        torch.manual_seed(100 + seed)
        nets.append(build_net(cfg, c_in, 3).train())
    return nets


def _weights(state: dict) -> dict:
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


def _inputs(n: int, c_in: int = 4, side: int = 32) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return [torch.rand(1, c_in, side, side, generator=gen) * 0.1 for _ in range(n)]


# ---- (a) the grouped forward is the members' forwards ------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_grouped_forward_equals_each_member(arch):
    nets, zs = _nets(arch), _inputs(3)
    gnet = group_nets(nets)
    assert gnet.n == 3
    out = gnet(torch.cat(zs, dim=1))
    assert out.shape == (1, 9, 32, 32)
    for i, (net, z) in enumerate(zip(nets, zs)):
        torch.testing.assert_close(gnet.member_output(out, i), net(z), atol=1e-5, rtol=0)
    # the grouped net's state is the members' (member-major), loadable into a fresh member
    fresh = build_net(NetConfig(arch=arch, **SMALL), 4, 3).train()
    fresh.load_state_dict(member_state(gnet, 1))
    torch.testing.assert_close(fresh(zs[1]), nets[1](zs[1]), atol=0, rtol=0)
    torch.testing.assert_close(member_net(gnet, 2)(zs[2]), nets[2](zs[2]), atol=0, rtol=0)
    # a smaller group of a subset, in a new order
    sub = select_members(gnet, [2, 0])
    out = sub(torch.cat([zs[2], zs[0]], dim=1))
    torch.testing.assert_close(sub.member_output(out, 0), nets[2](zs[2]), atol=1e-5, rtol=0)
    torch.testing.assert_close(sub.member_output(out, 1), nets[0](zs[0]), atol=1e-5, rtol=0)


def test_grouping_leaves_the_global_generator_alone():
    nets = _nets("skip")
    torch.manual_seed(5)
    group_nets(nets)
    a = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(a, torch.rand(3))


def test_mismatched_members_are_refused():
    a = _nets("skip", 1)[0]
    b = build_net(NetConfig(arch="skip", **{**SMALL, "channels_down": [8, 4]}), 4, 3)
    with pytest.raises(ValueError):
        group_nets([a, b])
    with pytest.raises(ValueError):
        select_members(group_nets([a, a]), [0, 0])


# ---- (b) Adam on the summed loss is Adam on each member ----------------------------------

def _train_separately(nets, zs, targets, steps):
    for net, z, t in zip(nets, zs, targets):
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(steps):
            loss = torch.nn.functional.mse_loss(net(z), t)
            opt.zero_grad()
            loss.backward()
            opt.step()


@pytest.mark.parametrize("arch", ARCHS)
def test_summed_loss_steps_match_separate_adam(arch, float64):
    nets, zs = _nets(arch), _inputs(3)
    targets = [torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    gnet = group_nets(nets)
    opt = MemberAdam(list(gnet.parameters()), 3, lr=0.01)
    z = torch.cat(zs, dim=1)
    for _ in range(20):
        out = gnet(z)
        loss = sum(torch.nn.functional.mse_loss(gnet.member_output(out, i), t) for i, t in enumerate(targets))
        opt.zero_grad()
        loss.backward()
        opt.step([True] * 3)
    _train_separately(nets, zs, targets, 20)
    with torch.no_grad():
        out = gnet(z)
        for i, (net, zi) in enumerate(zip(nets, zs)):
            torch.testing.assert_close(gnet.member_output(out, i), net(zi), atol=1e-9, rtol=0)


def test_inactive_member_is_frozen_and_select_carries_adam_state(float64):
    nets, zs = _nets("skip"), _inputs(3)
    target = torch.full((1, 3, 32, 32), 0.5)
    gnet = group_nets(nets)
    opt = MemberAdam(list(gnet.parameters()), 3, lr=0.01)
    z = torch.cat(zs, dim=1)

    def step(net, optim, zz, active):
        out = net(zz)
        loss = sum(torch.nn.functional.mse_loss(net.member_output(out, i), target)
                   for i in range(net.n) if active[i])
        optim.zero_grad()
        loss.backward()
        optim.step(active)

    for _ in range(3):
        step(gnet, opt, z, [True] * 3)
    frozen = member_state(gnet, 1)
    moments = [m.unflatten(0, (3, -1))[1].clone() for m in opt.exp_avg + opt.exp_avg_sq]
    twin, twin_opt = copy.deepcopy(gnet), copy.deepcopy(opt)
    twin_opt.params = list(twin.parameters())
    for _ in range(4):
        step(gnet, opt, z, [True, False, True])
    # weights bit for bit (BatchNorm's running statistics move in any forward, but train
    # mode never reads them)
    for k, v in _weights(member_state(gnet, 1)).items():
        assert torch.equal(v, frozen[k]), k
    for a, b in zip(moments, [m.unflatten(0, (3, -1))[1] for m in opt.exp_avg + opt.exp_avg_sq]):
        assert torch.equal(a, b)
    assert opt.steps == [7, 3, 7]

    # the same four steps after dropping member 1 (moments and step counts carried over)
    small = select_members(twin, [0, 2])
    small_opt = twin_opt.select([0, 2], list(small.parameters()))
    assert small_opt.steps == [3, 3]
    zz = torch.cat([zs[0], zs[2]], dim=1)
    for _ in range(4):
        step(small, small_opt, zz, [True, True])
    for j, i in enumerate((0, 2)):
        for k, v in member_state(small, j).items():
            torch.testing.assert_close(v, member_state(gnet, i)[k], atol=1e-9, rtol=0)


# ---- (c)-(e) GroupRun against separate Restorations --------------------------------------

def _images(n):
    rng = np.random.default_rng(3)
    return [np.clip(smooth_image(32, 32, seed=s) + rng.normal(0, 0.03, (32, 32, 3)), 0, 1).astype(np.float32)
            for s in range(n)]


def _separate(cfgs, images, references=None):
    references = references or [None] * len(images)
    runs = [Restoration(c, im, reference=ref) for c, im, ref in zip(cfgs, images, references)]
    recs = [list(r.steps()) for r in runs]
    return runs, recs


def _by_member(group_records, n):
    out = [[] for _ in range(n)]
    for batch in group_records:
        for i, rec in batch:
            out[i].append(rec)
    return out


def test_group_run_equals_separate_restorations(float64):
    images = _images(3)
    # member 2 rejects any loss rise: its backtracking must restore its own slices only
    cfgs = [tiny_config("denoise", iterations=24, seed=s, stop="never", preview_every=6, **kw)
            for s, kw in ((11, {}), (12, {"lr": 0.02}), (13, {"backtrack_db": 0.01, "lr": 0.05}))]
    clean = [smooth_image(32, 32, seed=s) for s in range(3)]
    group = GroupRun(cfgs, images, references=clean)
    grecs = _by_member(list(group.steps()), 3)
    runs, srecs = _separate(cfgs, images, clean)
    assert sum(r.backtracked for r in srecs[2]) > 0
    for i, (run, mine, theirs) in enumerate(zip(runs, grecs, srecs)):
        m = group.members[i]
        assert m.done and m.step == run.step == 24
        assert [r.step for r in mine] == [r.step for r in theirs]
        assert [r.backtracked for r in mine] == [r.backtracked for r in theirs]
        np.testing.assert_allclose([r.loss for r in mine], [r.loss for r in theirs], rtol=1e-6)
        np.testing.assert_allclose(m.losses, run.losses, rtol=1e-6)
        for a, b in zip(mine, theirs):
            assert (a.preview is None) == (b.preview is None)
            assert (a.psnr is None) == (b.psnr is None)
            if a.psnr is not None:
                np.testing.assert_allclose(list(a.psnr.values()), list(b.psnr.values()), rtol=1e-5)
            if a.val is not None:
                assert a.val.keys() == b.val.keys()
                np.testing.assert_allclose(list(a.val.values()), list(b.val.values()), rtol=1e-6)
        assert m.suggested[0] == run.suggested[0] and m.suggested_kind == run.suggested_kind
        assert m.stop_reason == run.stop_reason
        for pick in ("last", "ema", "auto"):
            np.testing.assert_allclose(m.result(pick), run.result(pick), atol=1e-6)


def test_members_stop_on_their_own_frozen_then_dropped(float64):
    images = _images(3)
    # member 1 stops by its rule at an early step; 0 and 2 run to their own bounds
    cfgs = [tiny_config("denoise", iterations=12, seed=21),
            tiny_config("denoise", iterations=40, seed=22, ema=0.9, ema_warmup=0, stop_patience=3,
                        stop_min_gain_db=0.3),
            tiny_config("denoise", iterations=20, seed=23)]
    runs, _ = _separate(cfgs, images)
    assert runs[1].stopped_early and runs[1].step < 12
    assert not runs[0].stopped_early and not runs[2].stopped_early

    group = GroupRun(cfgs, images, repack_fraction=0.5)   # repacks once two are frozen
    stop_state, frozen_steps = None, 0
    for batch in group.steps():
        stepped = {i for i, _ in batch}
        if 1 in stepped and group.members[1].done:
            stop_state = group.member_state(1)
        elif stop_state is not None and 1 in group.slots:
            # frozen, not yet dropped: still in the forward, never updated
            assert 1 not in stepped
            frozen_steps += 1
            for k, v in _weights(group.member_state(1)).items():
                assert torch.equal(v, stop_state[k]), k
        if group.members[0].done:
            assert group.slots == [2] and group.repacks == 1
    assert frozen_steps > 0 and 1 not in group.slots
    # the member's state when it stopped (kept as it stopped) is the lone run's final state
    assert group.members[1].net_state.keys() == runs[1].net.state_dict().keys()
    for k, v in runs[1].net.state_dict().items():
        torch.testing.assert_close(stop_state[k], v, atol=1e-9, rtol=0)
        torch.testing.assert_close(group.members[1].net_state[k], v, atol=1e-9, rtol=0)
    for i, run in enumerate(runs):
        m = group.members[i]
        assert m.step == run.step and m.stopped_early == run.stopped_early
        assert m.stop_reason == run.stop_reason
        np.testing.assert_allclose(m.losses, run.losses, rtol=1e-6)
        np.testing.assert_allclose(m.result("auto"), run.result("auto"), atol=1e-6)


def test_repacking_keeps_adam_state(float64):
    images = _images(3)
    cfgs = [tiny_config("denoise", iterations=it, seed=30 + k, stop="never")
            for k, it in enumerate((6, 9, 18))]
    eager = GroupRun(cfgs, images, repack_fraction=0.1)    # drops each member as it stops
    lazy = GroupRun(cfgs, images, repack_fraction=1.0)     # never repacks
    list(eager.steps())
    list(lazy.steps())
    assert eager.repacks == 2 and lazy.repacks == 0
    np.testing.assert_allclose(eager.members[2].losses, lazy.members[2].losses, rtol=1e-9)
    np.testing.assert_allclose(eager.members[2].result("ema"), lazy.members[2].result("ema"), atol=1e-9)


def test_stop_request_and_continue():
    images = _images(2)
    cfgs = [tiny_config("denoise", iterations=10, seed=s, stop="never") for s in (1, 2)]
    group = GroupRun(cfgs, images)
    gen = group.steps()
    next(gen)
    group.pause()
    assert group.paused
    group.resume()
    next(gen)
    group.request_stop()
    assert list(gen) == []
    assert [m.step for m in group.members] == [2, 2]
    assert all(m.stop_reason == "stopped on request" and not m.done for m in group.members)
    assert sum(len(b) for b in group.steps()) == 16
    assert all(m.done and m.step == 10 for m in group.members)
    assert group.members[0].result("ema").shape == (32, 32, 3)
    group.close()


def test_group_refuses_members_that_cannot_share_a_net():
    images = _images(2)
    with pytest.raises(ConfigError):
        GroupRun([tiny_config("denoise", seed=1), tiny_config("denoise", seed=2, channels_down=[8, 8, 8])],
                 images)
    with pytest.raises(ConfigError):
        GroupRun([tiny_config("denoise")] * 2, [images[0], smooth_image(40, 40)])


def test_fits_group_scales_the_estimate_by_members():
    cfg = tiny_config("denoise")
    est = estimate_cost(cfg, 64, 64, "cpu")
    base = BASELINE_BYTES["cpu"]
    per = est.bytes - base
    room_for = lambda k: int((base + k * per + 1) / MEMORY_HEADROOM) + 1  # noqa: E731
    assert fits_group(cfg, 64, 64, "cpu", 8, memory_bytes=room_for(3)) == 3
    assert fits_group(cfg, 64, 64, "cpu", 2, memory_bytes=room_for(3)) == 2
    assert fits_group(cfg, 64, 64, "cpu", 8, memory_bytes=base) == 0
    assert group_is_faster("cuda") and not group_is_faster("cpu")


def test_float32_group_starts_where_the_lone_runs_start():
    # in float32 only the first step is comparable tightly (see the module's docstring)
    images = _images(2)
    cfgs = [tiny_config("denoise", iterations=2, seed=s, stop="never") for s in (4, 5)]
    group = GroupRun(cfgs, images)
    first = group.members[0].run.z.dtype
    list(group.steps())
    runs, _ = _separate(cfgs, images)
    assert first == torch.float32
    for m, run in zip(group.members, runs):
        assert m.losses[0] == pytest.approx(run.losses[0], rel=1e-5)
        assert np.isfinite(m.losses).all() and m.result("last").dtype == np.float32
