"""A tiled job's units in lanes side by side on a CPU (engine/lanes.py): the same pixels as
one unit at a time on one thread, a stop keeps every interrupted unit's best so far and
Continue ends as an uninterrupted job, a unit that diverges keeps its input while the
others go on; the plan prices lanes and the steps larger units need."""
import numpy as np
import pytest

from engine.device import torch_threads
from engine.errors import Diverged
from engine.estimate import estimate_cost, wall_seconds
from engine.job import TiledRestoration
from engine.lanes import lane_cost
from engine.presets import get_config
from engine.tiling import STOP_GROWS_WITH_SIDE, TYPICAL_STOP, plan_job, typical_steps
from tests.helpers import smooth_image, tiny_config


@pytest.fixture
def noisy():
    rng = np.random.default_rng(1)
    clean = smooth_image(80, 96, seed=3)
    return np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)


def _job(cfg, noisy, lanes):
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    return TiledRestoration(cfg, plan, noisy, lanes=lanes)


def _finish(job):
    recs = list(job.steps())
    return recs


def test_lanes_give_the_pixels_of_one_unit_at_a_time_on_one_thread(noisy):
    cfg = tiny_config("denoise", iterations=10, stop="never")
    with torch_threads(2):
        plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
        assert plan.lanes == 2 and "2 side by side" in plan.describe()
        job = TiledRestoration(cfg, plan, noisy)
        assert job.lanes == 2
        recs = _finish(job)
    assert job.states == ["done"] * 4 and len(recs) == 4 * 10
    # both lanes really ran at once: records of two units interleave
    order = [r.unit.index for r in recs]
    assert any(a != b for a, b in zip(order, order[1:])) and order != sorted(order)
    with torch_threads(1):
        one = TiledRestoration(cfg, plan, noisy, lanes=1)
        _finish(one)
    # each unit's pixels are the same; blending units as they end adds overlaps in another order
    np.testing.assert_allclose(job.result(), one.result(), rtol=0, atol=1e-6)
    assert all(i["seconds"] == pytest.approx(i["lane_seconds"] / 2) for i in job.unit_info)


def test_a_stop_in_lanes_keeps_both_units_best_so_far_and_continue_ends_as_uninterrupted(noisy):
    cfg = tiny_config("denoise", iterations=30, stop="never")
    with torch_threads(2):
        whole = _job(cfg, noisy, 2)
        _finish(whole)
        job = _job(cfg, noisy, 2)
        seen: dict[int, int] = {}
        for rec in job.steps():
            seen[rec.unit.index] = rec.step
            if seen.get(0, 0) >= 5 and seen.get(1, 0) >= 2:     # both lanes well under way
                job.request_stop()
        running = [i for i, st in enumerate(job.states) if st == "running"]
        assert job.done_units == 0 and running == [0, 1]
        kept = job.partial()
        assert [u.index for u, _, _ in kept] == [0, 1] and all(step >= 2 for _, _, step in kept)
        assert "unit 1's best so far" in job.stop_reason and "unit 2's best so far" in job.stop_reason
        out = job.result()
        corner = (slice(0, 8), slice(0, 8))                           # only unit 1 covers it
        assert not np.allclose(out[corner], noisy[corner])            # its steps were not lost
        far = (slice(noisy.shape[0] - 8, None), slice(noisy.shape[1] - 8, None))
        np.testing.assert_array_equal(out[far], noisy[far])           # never started: the input
        _finish(job)                                                  # Continue
    assert job.states == ["done"] * 4 and all(i["steps"] == 30 for i in job.unit_info)
    np.testing.assert_allclose(job.result(), whole.result(), rtol=0, atol=1e-6)


def test_a_unit_that_diverges_in_a_lane_keeps_its_input_and_the_others_go_on(noisy, monkeypatch):
    cfg = tiny_config("denoise", iterations=6, stop="never")
    with torch_threads(2):
        job = _job(cfg, noisy, 2)
        build = job._unit_run

        def diverging(i):
            run = build(i)
            if i == 1:
                def steps():
                    yield from ()
                    raise Diverged("the optimisation diverged (test)")
                run.steps = steps
            return run

        monkeypatch.setattr(job, "_unit_run", diverging)
        _finish(job)
    assert job.states == ["done"] * 4 and job.failed_units == [1]
    assert "diverged" in job.unit_info[1]["stop_reason"]
    b = job.plan.units[1].box
    alone = (slice(0, 8), slice(b.right - 8, b.right))                # only unit 2 covers it
    np.testing.assert_array_equal(job.result()[alone], noisy[alone])
    first = job.plan.units[0].box
    assert not np.allclose(job.result()[first.slices()], noisy[first.slices()])


def test_the_plan_puts_units_in_lanes_only_on_a_cpu_with_threads_to_share():
    cfg = get_config("denoise-fast", device="cpu")
    with torch_threads(2):
        two = plan_job(cfg, (400, 400), 3, device="cpu", tile=192)
        assert two.lanes == 2
        assert plan_job(cfg, (400, 400), 3, device="cpu", tile=192, runs=2).lanes == 1   # seeds: their own lanes
        assert plan_job(cfg, (150, 150), 3, device="cpu", tile="off").lanes == 1
    with torch_threads(1):
        one = plan_job(cfg, (400, 400), 3, device="cpu", tile=192)
        assert one.lanes == 1
    # two lanes finish the units in less wall time than one at a time, each unit priced at its share
    assert two.seconds == pytest.approx(one.seconds * lane_cost(192 * 192), rel=1e-6)


def test_larger_denoising_units_are_priced_at_more_steps():
    cfg = get_config("denoise-fast", device="cpu")
    at128 = typical_steps(cfg, 128, 128, True)
    assert at128 == round(TYPICAL_STOP["denoise"] * cfg.iterations)
    assert typical_steps(cfg, 256, 256, True) == round(at128 * 2 ** STOP_GROWS_WITH_SIDE["denoise"][0]) > at128
    assert typical_steps(cfg, 4000, 4000, True) == cfg.iterations          # never past the bound
    assert typical_steps(cfg, 256, 256, False) == cfg.iterations            # no stop: the bound
    inpaint = get_config("inpaint-fast", device="cpu")                      # measured at 128 px only
    assert typical_steps(inpaint, 256, 256, True) == typical_steps(inpaint, 128, 128, True)
    sr = get_config("sr-fast", device="cpu")    # its change stop: 750-825 at 128 px out, 1276 at 512
    assert typical_steps(sr, 128, 128, True) < typical_steps(sr, 512, 512, True) < sr.iterations
    jpeg = get_config("jpeg", device="cpu")     # its held-out pixels never stopped it: priced at its bound
    assert typical_steps(jpeg, 384, 384, True) == jpeg.iterations
    plan = plan_job(cfg, (256, 256), 3, device="cpu", tile="off")
    e = estimate_cost(cfg, 256, 256, "cpu")
    assert plan.unit_seconds[0] == wall_seconds(e.seconds_per_step, typical_steps(cfg, 256, 256, True), "cpu")


def test_a_bound_of_the_user_s_own_moves_a_constant_rate_s_stop_only_by_cutting_it_short():
    """The shares were measured under each preset's bound: at a constant rate a run (or a tile at
    the quick pace) stops where it stops, so 1000 steps of the fast denoiser are priced at its
    usual 750, not at 0.25 x 1000, and 300 at 300; a preset's own schedule decays over the
    bound, so its stop follows the bound."""
    usual = typical_steps(get_config("denoise-fast", device="cpu"), 128, 128, True)
    for bound in (1000, 6000):
        assert typical_steps(get_config("denoise-fast", device="cpu", iterations=bound), 128, 128, True) == usual
    assert typical_steps(get_config("denoise-fast", device="cpu", iterations=300), 128, 128, True) == 300
    sr = get_config("sr-fast", device="cpu")
    half = get_config("sr-fast", device="cpu", iterations=sr.iterations // 2)
    assert abs(typical_steps(half, 128, 128, True) - typical_steps(sr, 128, 128, True) / 2) <= 1
    tile = typical_steps(get_config("denoise-fast", device="cpu"), 128, 128, True, quick=True)
    assert typical_steps(get_config("denoise-fast", device="cpu", iterations=1000), 128, 128, True, True) == tile
    assert typical_steps(get_config("denoise-fast", device="cpu", iterations=300), 128, 128, True, True) == 300


def test_a_crop_that_fits_one_run_is_tiled_only_where_tiles_are_clearly_faster():
    cfg = get_config("denoise-fast", device="cpu")
    with torch_threads(2):
        assert plan_job(cfg, (256, 256), 3, device="cpu").mode == "whole"
        wide = plan_job(cfg, (512, 768), 3, device="cpu")       # fits one run; its tiles peak sooner
        assert wide.mode == "tiles" and wide.lanes == 2
        whole = plan_job(cfg, (512, 768), 3, device="cpu", tile="off")
        assert wide.seconds < 0.7 * whole.seconds
    sr = get_config("sr-fast", device="cpu")                    # its stop does not grow with the side
    assert plan_job(sr, (64, 96), 3, device="cpu").mode == "whole"


def test_closing_the_steps_as_a_lane_unit_ends_keeps_it_and_continue_does_the_rest(noisy):
    """The app's Stop landing as a tile ends: the other lane's unit is interrupted, not lost."""
    cfg = tiny_config("denoise", iterations=8, stop="never")
    with torch_threads(2):
        job = _job(cfg, noisy, 2)
        gen = job.steps()
        for rec in gen:
            if rec.unit.state == "done":
                break
        gen.close()
        first = rec.unit.index
        assert job.states[first] == "done" and job.unit_info[first]["steps"] == 8
        _finish(job)
    assert job.states == ["done"] * 4 and all(i["steps"] == 8 for i in job.unit_info)
    job.close()
