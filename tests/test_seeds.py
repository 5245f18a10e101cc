"""Seeds averaged (engine/seeds.py): members side by side on a CPU give each member exactly
what it gives alone, the result is the mean of their picks, stops and failures reach every
member, and 'auto' averages seeds only where they cost seconds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import ConfigError
from engine.presets import get_config
from engine.run import Restoration
from engine.seeds import AUTO_SEEDS, AUTO_SEEDS_MAX_PIXELS, Seeds, member_seed, seed_count

from tests.helpers import smooth_image, tiny_config


@pytest.fixture
def noisy():
    rng = np.random.default_rng(3)
    img = smooth_image(32, 32)
    return np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1).astype(np.float32)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_auto_averages_seeds_only_on_small_images():
    cfg = get_config(task="denoise")
    assert cfg.seeds == "auto"
    side = int(AUTO_SEEDS_MAX_PIXELS ** 0.5)
    assert seed_count(cfg, side, side) == AUTO_SEEDS > 1
    assert seed_count(cfg, side + 1, side + 1) == 1
    assert seed_count(cfg, 3000, 4000) == 1
    assert seed_count(cfg.replace(seeds=3), 3000, 4000) == 3
    assert seed_count(get_config(task="inpaint"), 64, 64) == 1     # noise-free tasks: one seed


@pytest.mark.parametrize("bad", [0, 17, "two", 2.0, True])
def test_seeds_setting_is_checked(bad):
    with pytest.raises(ConfigError, match="seeds"):
        get_config(task="denoise", seeds=bad)


def test_members_side_by_side_match_lone_runs(noisy, two_threads):
    cfg = tiny_config("denoise", iterations=25, stop="never", seed=5)
    seeds = Seeds(cfg, noisy, 2)
    assert seeds.concurrent
    seen: dict[int, list[int]] = {0: [], 1: []}
    for k, rec in seeds.steps():
        seen[k].append(rec.step)
    assert seen == {0: list(range(1, 26)), 1: list(range(1, 26))}
    assert torch.get_num_threads() == 2            # the shared-out threads are given back
    # each member is what it would be alone (at the one thread it had), so the order the
    # threads interleaved in changes nothing
    torch.set_num_threads(1)
    lone = []
    for k in range(2):
        run = Restoration(cfg.replace(seed=member_seed(cfg.seed, k)), noisy)
        for _ in run.steps():
            pass
        lone.append(run.result("ema"))
    for k in range(2):
        np.testing.assert_array_equal(seeds.runs[k].result("ema"), lone[k])
    assert not np.array_equal(lone[0], lone[1])     # different seeds, different runs
    np.testing.assert_allclose(seeds.result("ema"), (lone[0] + lone[1]) / 2, atol=1e-6)
    assert seeds.elapsed > 0


def test_one_seed_is_a_plain_run(noisy):
    cfg = tiny_config("denoise", iterations=12, stop="never")
    seeds = Seeds(cfg, noisy, 1)
    assert not seeds.concurrent
    assert [k for k, _ in seeds.steps()] == [0] * 12
    run = Restoration(cfg, noisy)
    for _ in run.steps():
        pass
    np.testing.assert_array_equal(seeds.result("last"), run.result("last"))


def test_closing_early_stops_every_member(noisy, two_threads):
    seeds = Seeds(tiny_config("denoise", iterations=400, stop="never"), noisy, 3)
    it = seeds.steps()
    for _ in range(5):
        next(it)
    it.close()
    assert all(r.step < 400 for r in seeds.runs)
    # two lanes on two threads: what ran stopped on request; the third waited for a free lane
    ran = [r for r in seeds.runs if r.step > 0]
    assert ran and all(r.stop_reason == "stopped on request" for r in ran)
    assert seeds.runs[2].step == 0
    assert torch.get_num_threads() == 2


def test_request_stop_ends_the_members(noisy, two_threads):
    seeds = Seeds(tiny_config("denoise", iterations=400, stop="never"), noisy, 2)
    for _, rec in seeds.steps():
        if rec.step == 3:
            seeds.request_stop()
    assert all(r.step < 400 for r in seeds.runs)


def test_a_failing_member_stops_the_others_and_raises(noisy, two_threads):
    seeds = Seeds(tiny_config("denoise", iterations=400, stop="never"), noisy, 2)
    broken = seeds.runs[1]
    real = broken._one_step

    def one_step():
        if broken.step >= 4:
            raise RuntimeError("member broke")
        return real()

    broken._one_step = one_step
    with pytest.raises(RuntimeError, match="member broke"):
        for _ in seeds.steps():
            pass
    assert seeds.runs[0].step < 400
    assert torch.get_num_threads() == 2


def test_side_by_side_only_on_a_cpu_and_for_small_images():
    from engine.seeds import SIDE_BY_SIDE_MAX_PIXELS, concurrent_members
    assert concurrent_members(torch.device("cpu"), 2, 128 * 128)
    assert not concurrent_members(torch.device("cpu"), 1, 128 * 128)
    assert not concurrent_members(torch.device("cpu"), 4, SIDE_BY_SIDE_MAX_PIXELS + 1)
    assert not concurrent_members(torch.device("cuda"), 4, 128 * 128)   # one member's kernels at a time


def test_large_images_run_their_seeds_one_after_the_other(noisy, monkeypatch):
    import engine.seeds as seeds_mod
    monkeypatch.setattr(seeds_mod, "SIDE_BY_SIDE_MAX_PIXELS", 16 * 16)
    seeds = Seeds(tiny_config("denoise", iterations=5, stop="never"), noisy, 2)
    assert not seeds.concurrent
    assert [k for k, _ in seeds.steps()] == [0] * 5 + [1] * 5
    assert seeds.elapsed == pytest.approx(sum(r.elapsed for r in seeds.runs))
