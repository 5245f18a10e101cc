"""Noise-free tasks (issue 14): the learning-rate schedule, bf16 autocast and the
visible-change stop."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.config import RunConfig
from engine.errors import ConfigError
from engine.group import GroupRun
from engine.metrics import region_psnr
from engine.run import Restoration
from engine.schedule import forward_precision, lr_at, uses_bf16
from engine.stopping import ChangeWatch
from tests.helpers import smooth_image, tiny_config


def _inpaint_case(h=32, w=32):
    img = smooth_image(h, w)
    mask = np.ones((h, w), bool)
    mask[10:18, 6:26] = False
    return img * mask[:, :, None], mask


# ---- schedule -----------------------------------------------------------------------------

def test_constant_schedule_is_the_rate_itself():
    cfg = RunConfig(lr=0.02)
    assert [lr_at(cfg, s, 100) for s in (1, 50, 100, 500)] == [0.02] * 4


def test_cosine_warms_up_then_decays_to_the_final_fraction_and_stays():
    cfg = RunConfig(lr=0.02, lr_schedule="cosine", lr_warmup=10, lr_final=0.1)
    rates = [lr_at(cfg, s, 110) for s in range(1, 200)]
    assert rates[0] < rates[5] < rates[9] < 0.02                    # warm-up, rising
    assert lr_at(cfg, 11, 110) == pytest.approx(0.02, rel=1e-2)     # the peak after it
    after = rates[10:110]
    assert all(a >= b for a, b in zip(after, after[1:]))           # then only down
    assert lr_at(cfg, 60, 110) == pytest.approx(0.011, rel=1e-6)    # halfway: the mean of peak and floor
    assert lr_at(cfg, 110, 110) == pytest.approx(0.002)
    assert lr_at(cfg, 500, 110) == pytest.approx(0.002)             # past the horizon: the floor


def test_schedule_settings_are_checked():
    with pytest.raises(ConfigError, match="schedule"):
        RunConfig(lr_schedule="linear").validate()
    with pytest.raises(ConfigError, match="lr_final"):
        RunConfig(lr_schedule="cosine", lr_final=2.0).validate()
    with pytest.raises(ConfigError, match="precision"):
        RunConfig(precision="fp16").validate()


def test_a_run_follows_its_schedule_and_a_continued_run_keeps_the_horizon():
    cfg = tiny_config("denoise", iterations=20, stop="never", lr_schedule="cosine", lr_warmup=0,
                      lr_final=0.25, lr=0.01)
    run = Restoration(cfg, smooth_image())
    seen = []
    for _ in run.steps():
        seen.append(run.opt.param_groups[0]["lr"])
    assert seen[0] == pytest.approx(lr_at(cfg, 1, 20))
    assert seen[-1] == pytest.approx(0.0025)
    run.extend(5)
    for _ in run.steps():
        assert run.opt.param_groups[0]["lr"] == pytest.approx(0.0025)


def test_grouped_members_follow_the_schedule_like_single_runs():
    torch.set_default_dtype(torch.float64)
    try:
        cfg = tiny_config("denoise", iterations=12, stop="never", lr_schedule="cosine", lr_warmup=3,
                          backtrack_db=None)
        imgs = [smooth_image(seed=1), smooth_image(seed=2)]
        single = []
        for i, im in enumerate(imgs):
            r = Restoration(cfg.replace(seed=i), im)
            list(r.steps())
            single.append(r.result("last"))
        g = GroupRun([cfg.replace(seed=0), cfg.replace(seed=1)], imgs)
        list(g.steps())
        for i in range(2):
            np.testing.assert_allclose(g.members[i].result("last"), single[i], atol=1e-6)
    finally:
        torch.set_default_dtype(torch.float32)


# ---- precision ----------------------------------------------------------------------------

def test_bf16_runs_the_forward_pass_in_bfloat16_and_keeps_float32_results():
    cfg = tiny_config("denoise", iterations=5, stop="never", precision="bf16")
    run = Restoration(cfg, smooth_image())
    assert run.bf16
    dtypes = []
    hook = run.net.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    list(run.steps())
    hook.remove()
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
    assert run.result("last").dtype == np.float32
    assert all(p.dtype == torch.float32 for p in run.net.parameters())   # Adam's weights stay float32


def test_fp32_is_the_default_and_auto_only_where_native():
    assert not uses_bf16(RunConfig(), torch.device("cpu"))
    assert not uses_bf16(RunConfig(precision="auto"), torch.device("mps"))
    with forward_precision(False, torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")


# ---- the visible-change stop --------------------------------------------------------------

def test_change_watch_compares_the_average_one_look_back_apart():
    region = torch.tensor([[True, False], [False, True]])
    w = ChangeWatch(8, 40.0, region, "the filled area")
    base = torch.zeros(1, 1, 2, 2)
    assert w.measure(2, base) is None          # first copy: nothing to compare with
    assert w.measure(3, base) is None          # not a check step (every 8 // 4 = 2)
    for s in (4, 6, 8):
        assert w.measure(s, base) is None or s >= 10
    moved = base.clone()
    moved[0, 0, 0, 0] = 0.02                   # 0.02 on one of the two watched pixels
    moved[0, 0, 0, 1] = 0.5                    # outside the region: not seen
    mse = w.measure(10, moved)
    assert float(mse) == pytest.approx(0.02 ** 2 / 2)
    w.feed(10, float(mse))
    assert w.last[1] == pytest.approx(-10 * math.log10(0.0002))   # 37 dB: still changing
    assert not w.should_stop(0)
    w.feed(12, 1e-5)                            # 50 dB
    assert w.should_stop(0) and not w.should_stop(5)   # the look-back must lie in this call
    assert "filled area" in w.reason() and "8 steps" in w.reason()
    assert len(w._copies) <= 5


def test_change_watch_stops_with_a_look_back_that_is_not_a_multiple_of_four():
    """change_steps=250 once compared with a copy 250 steps back that was never taken (copies
    every 62 steps): the run went to its bound. The look-back is rounded down to 248."""
    w = ChangeWatch(250, 40.0, None, "the image")
    assert (w.every, w.lookback) == (62, 248)
    base = torch.zeros(1, 1, 2, 2)
    seen = [s for s in range(1, 700) if w.measure(s, base) is not None]
    assert seen[:2] == [310, 372]          # 248 steps after the copies at 62 and 124
    w.feed(310, 0.0)
    assert w.should_stop(0) and "248 steps" in w.reason()


def test_region_psnr_counts_only_the_region():
    a = np.zeros((4, 4, 3), np.float32)
    b = a.copy()
    b[0, 0] = 0.1
    r = np.zeros((4, 4), bool)
    r[0, :2] = True
    assert region_psnr(a, b, r) == pytest.approx(10 * math.log10(1 / (0.01 / 2)))
    assert region_psnr(a, b, ~r) == math.inf
    with pytest.raises(ValueError):
        region_psnr(a, b, np.ones((3, 3), bool))


def test_change_rule_stops_an_inpainting_run_once_the_fill_settles_and_writes_the_average():
    img, mask = _inpaint_case()
    cfg = tiny_config("inpaint", iterations=400, stop_rule="change", change_steps=40, change_db=38.0,
                      holdout=0.0, pick="auto", lr_schedule="cosine")
    run = Restoration(cfg, img, mask=mask)
    recs = list(run.steps())
    assert run.stopped_early and run.step < 400
    assert "filled area changed by less than" in run.stop_reason
    assert run.change.last[1] >= 38.0
    np.testing.assert_array_equal(run.result("auto"), run.result("ema"))
    assert recs[-1].final
    # a stricter threshold runs longer: the rule can fail to fire
    strict = Restoration(cfg.replace(change_db=90.0, iterations=120), img, mask=mask)
    list(strict.steps())
    assert not strict.stopped_early and strict.step == 120


def test_change_rule_watches_the_whole_image_for_super_resolution():
    cfg = tiny_config("superres", iterations=300, stop_rule="change", change_steps=40, change_db=36.0,
                      holdout=0.0, scale=2)
    run = Restoration(cfg, smooth_image(16, 16))
    list(run.steps())
    assert run.change.region is None
    assert run.stopped_early and run.stop_reason.startswith("the image changed")


def test_change_rule_needs_a_moving_average():
    with pytest.raises(ConfigError, match="moving average"):
        tiny_config("inpaint", stop_rule="change", ema=0.0, holdout=0.0)


# ---- inpainting keeps the known pixels ----------------------------------------------------

def test_inpainting_keeps_the_known_pixels_exactly_and_raw_shows_the_network():
    img, mask = _inpaint_case()
    cfg = tiny_config("inpaint", iterations=20, stop="never")
    run = Restoration(cfg, img, mask=mask)
    recs = list(run.steps())
    for pick in ("last", "ema", "auto"):
        out = run.result(pick)
        np.testing.assert_array_equal(out[mask], img[mask])
        assert not np.array_equal(out[~mask], img[~mask])     # the hole is the network's
    raw = run.result("last", raw=True)
    assert not np.array_equal(raw[mask], img[mask])
    np.testing.assert_array_equal(raw[~mask], run.result("last")[~mask])
    shown = [r.preview for r in recs if r.preview is not None][-1]
    np.testing.assert_array_equal(shown[mask], img[mask])     # previews too
    off = Restoration(cfg.replace(keep_known=False), img, mask=mask)
    list(off.steps())
    np.testing.assert_array_equal(off.result("last"), off.result("last", raw=True))
