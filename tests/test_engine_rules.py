"""The engine's one home for each rule (issue 21): durations, the wall time of a run, the
torch thread count, stop/pause reaching child runs, a unit's config."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from engine.control import Controls
from engine.device import torch_threads
from engine.durations import format_clock, format_duration
from engine.estimate import SETUP_S, estimate_cost, wall_seconds
from engine.presets import get_config
from engine.seeds import member_seed
from engine.boxes import Box
from engine.tiling import Unit, plan_job, typical_steps
from engine.units import crop, unit_config


@pytest.mark.parametrize("seconds, words", [
    (0.2, "1 s"), (7.4, "7 s"), (42, "40 s"), (59, "1 min"), (200, "3 min"), (25 * 60 + 10, "25 min"),
    (5400, "1.5 h"), (15 * 3600, "15 h"), (4 * 86400, "4 days"), (-3, "1 s"),
])
def test_one_wording_for_durations(seconds, words):
    assert format_duration(seconds) == words


def test_an_unknown_time_is_a_dash():
    assert format_duration(math.inf) == "--" and format_duration(math.nan) == "--"


def test_the_app_words_durations_with_the_engines_rules():
    """One home: the panel's estimates and the app's clocks are the engine's functions, not copies."""
    from app import batch_window, estimate_view, session, settings_format, tile_view

    assert settings_format.format_duration is format_duration is estimate_view.format_duration
    assert session.format_clock is tile_view.format_clock is batch_window.format_clock is format_clock
    assert [format_clock(s) for s in (5, 65, 3723, math.inf)] == ["0:05", "1:05", "1:02:03", "--"]


def test_a_plans_unit_time_is_wall_seconds():
    cfg = get_config("denoise-fast", device="cpu")
    with torch_threads(1):                      # one unit at a time (lanes: tests/test_lanes.py)
        plan = plan_job(cfg, (96, 128), 3, device="cpu", tile=64)
    h, w = plan.units[0].box.height, plan.units[0].box.width
    e = estimate_cost(cfg, h, w, "cpu")
    # a tile of several is priced at its (quick) pace's steps: engine/schedule.py
    assert plan.units[0].quick
    assert plan.unit_seconds[0] == wall_seconds(e.seconds_per_step, typical_steps(cfg, h, w, True, True), "cpu")
    assert plan.unit_seconds_max[0] == wall_seconds(e.seconds_per_step, cfg.iterations, "cpu")
    assert wall_seconds(0.1, 100, "cpu", 2.0) == pytest.approx(2.0 * (SETUP_S["cpu"] + 10.0))


def test_the_plan_carries_the_seed_count():
    cfg = get_config("denoise-fast", device="cpu")          # seeds 'auto': 4 on a small image
    assert plan_job(cfg, (64, 64), 3, device="cpu", runs=None).runs == 4
    assert plan_job(cfg, (64, 64), 3, device="cpu", runs=2).runs == 2
    assert plan_job(cfg, (64, 64), 3, device="cpu").runs == 1


def test_thread_count_is_given_back_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(before + 1) as was:
            assert was == before and torch.get_num_threads() == before + 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(0):
        assert torch.get_num_threads() == 1


class _Loop(Controls):
    def __init__(self):
        self._init_controls()


def test_stop_and_pause_reach_adopted_children_and_late_ones():
    parent, a = _Loop(), _Loop()
    parent._adopt(a)
    parent.pause()
    assert a.paused
    late = _Loop()
    parent._adopt(late)                  # adopted while paused: starts paused
    assert late.paused
    parent.resume()
    assert not a.paused and not late.paused
    parent._release(a)
    parent.request_stop()
    assert late._stop.is_set() and not a._stop.is_set()
    after = _Loop()
    parent._adopt(after)                 # a stop asked before the child existed is not lost
    assert after._stop.is_set()


def test_a_stop_between_two_children_is_never_lost():
    parent = _Loop()
    children = [_Loop() for _ in range(200)]

    def adopt():
        for c in children:
            parent._adopt(c)

    t = threading.Thread(target=adopt)
    t.start()
    parent.request_stop()
    t.join()
    assert all(c._stop.is_set() for c in children)


def test_a_units_config_and_pixels():
    cfg = get_config("denoise-fast", device="cpu")
    unit = Unit(0, Box(4, 8, 16, 20), seed=12345)
    assert unit_config(cfg, unit).seed == 12345
    c = unit_config(cfg, unit, 2, budget_mb=7, device="cuda")
    assert (c.seed, c.memory_budget_mb, c.device) == (member_seed(12345, 2), 7, "cuda")
    assert unit_config(cfg, unit, budget_mb=10 ** 6).memory_budget_mb == cfg.memory_budget_mb
    image = np.arange(40 * 40, dtype=np.float32).reshape(40, 40)
    image.setflags(write=False)           # as an array from Ray's object store
    part = crop(image, unit.box)
    assert part.shape == (16, 20) and part.flags.writeable and part[0, 0] == image[4, 8]
    assert crop(None, unit.box) is None
