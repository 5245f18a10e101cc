"""A tiled job: units run one after the other, blended in as each finishes; stop keeps
the finished ones, continue does the rest; crops around the mask keep known pixels exact."""
import numpy as np
import pytest
import torch

from engine.device import torch_threads
from engine.job import UNIT_MEMORY_MB, TiledRestoration
from engine.run import Restoration
from engine.tiling import plan_job, unit_weights
from engine.units import unit_config
from tests.helpers import smooth_image, tiny_config


def _run_all(job):
    recs = list(job.steps())
    job.close()
    return recs


@pytest.fixture
def noisy():
    rng = np.random.default_rng(1)
    clean = smooth_image(80, 96, seed=3)
    return np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)


def test_every_unit_runs_and_is_blended_with_its_own_result(noisy):
    cfg = tiny_config("denoise", iterations=12, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    assert plan.mode == "tiles" and len(plan.units) == 4
    job = TiledRestoration(cfg, plan, noisy)
    recs = _run_all(job)
    assert job.states == ["done"] * 4 and job.finished
    done = [r for r in recs if r.unit.state == "done"]
    # on a CPU two units step side by side (engine/lanes.py): they may end in either order
    assert sorted(r.unit.index for r in done) == [0, 1, 2, 3] and done[-1].unit.done == 4
    assert all(r.unit.count == 4 for r in recs) and len(recs) == 4 * 12
    # each unit is the Restoration a user would get on that crop with the unit's config (its
    # seed; the quick pace of a tile: engine/schedule.py) at one torch thread where the units
    # ran in lanes (a lane's arithmetic is one thread's) ...
    assert plan.quick and all(unit_config(cfg, u).lr == 2 * cfg.lr for u in plan.units)
    singles = []
    with torch_threads(1 if job.lanes > 1 else torch.get_num_threads()):
        for u in plan.units:
            run = Restoration(unit_config(cfg, u, 0, UNIT_MEMORY_MB), noisy[u.box.slices()].copy())
            for _ in run.steps():
                pass
            singles.append(run.result(cfg.pick))
    # ... and the photo is their weighted blend
    acc = np.zeros_like(noisy)
    wsum = np.zeros(noisy.shape[:2], np.float32)
    for u, r in zip(plan.units, singles):
        w = unit_weights(u)
        acc[u.box.slices()] += r * w[:, :, None]
        wsum[u.box.slices()] += w
    np.testing.assert_allclose(job.result(), acc / wsum[:, :, None], atol=1e-5)
    assert job.result().shape == noisy.shape


def test_previews_are_the_units_own_and_the_record_says_where_it_goes(noisy):
    cfg = tiny_config("denoise", iterations=10, stop="never", preview_every=5)
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    job = TiledRestoration(cfg, plan, noisy)
    for rec in job.steps():
        if rec.preview is not None:
            b = rec.unit.box
            assert rec.preview.shape == (b.height, b.width, 3)
    job.close()


def test_stop_keeps_finished_units_and_continue_matches_an_uninterrupted_job(noisy):
    cfg = tiny_config("denoise", iterations=10, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    whole = TiledRestoration(cfg, plan, noisy, lanes=1)
    _run_all(whole)

    job = TiledRestoration(cfg, plan, noisy, lanes=1)
    for rec in job.steps():
        if rec.unit.state == "done" and rec.unit.index == 1:
            job.request_stop()
    assert job.states[:2] == ["done", "done"] and job.states[2:] == ["queued", "queued"]
    assert "stopped on request" in job.stop_reason and "2 of 4" in job.stop_reason
    half = job.result()
    first = plan.units[0].box
    assert not np.allclose(half[first.slices()], noisy[first.slices()])
    corner = (slice(noisy.shape[0] - 8, None), slice(noisy.shape[1] - 8, None))   # only unit 3 covers it
    np.testing.assert_array_equal(half[corner], noisy[corner])                   # the rest is the input
    _run_all(job)   # continue
    assert job.states == ["done"] * 4
    np.testing.assert_allclose(job.result(), whole.result(), atol=1e-6)


def test_a_stop_inside_a_unit_continues_that_unit(noisy):
    cfg = tiny_config("denoise", iterations=10, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    job = TiledRestoration(cfg, plan, noisy, lanes=1)
    for rec in job.steps():
        if rec.unit.index == 2 and rec.step == 4:
            job.request_stop()
    assert job.states[2] == "running" and job.run is not None and job.run.step == 4
    _run_all(job)
    assert job.states == ["done"] * 4 and job.unit_info[2]["steps"] == 10


def test_inpainting_crops_write_back_only_the_masked_pixels():
    rng = np.random.default_rng(0)
    img = smooth_image(120, 900, seed=5)
    known = np.ones(img.shape[:2], bool)
    known[40:46, 100:140] = False
    known[70:80, 700:712] = False
    img[~known] = rng.random((int((~known).sum()), 3))   # whatever the file holds there
    cfg = tiny_config("inpaint", iterations=15, stop="never")
    plan = plan_job(cfg, img.shape[:2], 3, mask=known, device="cpu", margin=24)
    assert plan.mode == "crops" and len(plan.crops) == 2
    job = TiledRestoration(cfg, plan, img, mask=known)
    _run_all(job)
    out = job.result()
    np.testing.assert_array_equal(out[known], img[known])          # bit for bit
    assert np.abs(out[~known] - img[~known]).mean() > 0.01          # the holes were filled


def test_super_resolution_tiles_make_the_large_image(noisy):
    lr = noisy[:40, :48]
    cfg = tiny_config("superres", scale=2, iterations=6, stop="never")
    plan = plan_job(cfg, lr.shape[:2], 3, tile=64, device="cpu")   # one LR tile: still the job path
    job = TiledRestoration(cfg, plan, lr)
    assert job.degraded().shape == (80, 96, 3)
    _run_all(job)
    assert job.result().shape == (80, 96, 3)


def test_flash_tiles_its_guide_alike():
    noflash, flash = smooth_image(72, 72, seed=1), smooth_image(72, 72, seed=2)
    cfg = tiny_config("flash", input_kind="guide", input_channels=3, iterations=5, stop="never", upsample="bilinear")
    plan = plan_job(cfg, noflash.shape[:2], 3, tile=64, overlap=16, device="cpu")
    assert len(plan.units) == 4
    job = TiledRestoration(cfg, plan, noflash, guide=flash)
    _run_all(job)
    assert job.states == ["done"] * 4


def test_several_seeds_per_unit_are_averaged(noisy):
    cfg = tiny_config("denoise", iterations=6, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu", runs=2)
    job = TiledRestoration(cfg, plan, noisy, runs=2)
    recs = _run_all(job)
    assert len(recs) == 4 * 2 * 6 and job.states == ["done"] * 4
    assert sum(r.unit.state == "done" for r in recs) == 4


def test_a_warm_start_begins_from_the_weights_it_is_given(noisy):
    cfg = tiny_config("denoise", iterations=5, stop="never")
    donor = Restoration(cfg, noisy[:64, :64].copy())
    for _ in donor.steps():
        pass
    w = donor.weights()
    warm = Restoration(cfg.replace(seed=99), noisy[:64, 32:96].copy(), init_weights=w)
    for k, v in warm.net.state_dict().items():
        np.testing.assert_array_equal(v.cpu().numpy(), w[k].numpy())
    cold = Restoration(cfg.replace(seed=99), noisy[:64, 32:96].copy())
    assert any(not np.array_equal(v.cpu().numpy(), w[k].numpy()) for k, v in cold.net.state_dict().items())


def test_warm_tiles_start_from_the_neighbour_they_overlap_most(noisy, monkeypatch):
    cfg = tiny_config("denoise", iterations=4, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    given = []
    import engine.job as job_mod
    real = job_mod.Restoration

    def spy(*args, init_weights=None, **kw):
        given.append(init_weights)
        return real(*args, init_weights=init_weights, **kw)

    monkeypatch.setattr(job_mod, "Restoration", spy)
    job = TiledRestoration(cfg, plan, noisy, warm_start=True)
    _run_all(job)
    kept = job._weights       # no unit lies a whole row above another here: all are kept
    assert given[0] is None                         # the first tile starts cold
    # unit 1 (top right) overlaps unit 0 most; unit 2 (bottom left) overlaps unit 0 more than 1;
    # unit 3 (bottom right) overlaps unit 2 and 1 equally by area, 0 least
    assert given[1] is kept[0] and given[2] is kept[0]
    assert given[3] is not None and given[3] is not kept[0]
    cold = TiledRestoration(cfg, plan, noisy)
    _run_all(cold)
    assert not np.allclose(cold.result(), job.result())


@pytest.fixture
def float64():
    """Grouped and separate training agree step for step only in float64 (in float32 Adam's
    first steps amplify rounding: tests/test_grouped.py)."""
    import torch
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_grouped_units_give_the_sequential_result(noisy, float64):
    cfg = tiny_config("denoise", iterations=12, stop="auto", stop_patience=3)
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    one = TiledRestoration(cfg, plan, noisy, group=1)
    _run_all(one)
    grouped = TiledRestoration(cfg, plan, noisy, group=4)
    assert grouped.group_size == 4
    recs = _run_all(grouped)
    assert grouped.states == ["done"] * 4
    assert {r.unit.index for r in recs[:4]} == {0, 1, 2, 3}      # the four tiles step side by side
    assert [i["steps"] for i in grouped.unit_info] == [i["steps"] for i in one.unit_info]
    np.testing.assert_allclose(grouped.result(), one.result(), atol=1e-6)


def test_a_stopped_group_continues(noisy, float64):
    cfg = tiny_config("denoise", iterations=8, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    job = TiledRestoration(cfg, plan, noisy, group=4)
    for rec in job.steps():
        if rec.step == 3:
            job.request_stop()
    assert job.states == ["running"] * 4 and not job.finished
    _run_all(job)
    assert job.states == ["done"] * 4 and all(i["steps"] == 8 for i in job.unit_info)
    ref = TiledRestoration(cfg, plan, noisy, group=1)
    _run_all(ref)
    np.testing.assert_allclose(job.result(), ref.result(), atol=1e-6)


def test_closing_the_steps_right_after_a_unit_ends_loses_nothing(noisy):
    """A consumer that stops iterating at a 'done' record (the app's Stop landing as a tile
    ends) and calls steps() again gets the rest, not an empty job."""
    cfg = tiny_config("denoise", iterations=6, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    job = TiledRestoration(cfg, plan, noisy, lanes=1)
    gen = job.steps()
    for rec in gen:
        if rec.unit.state == "done":
            break
    gen.close()
    assert job.states[0] == "done" and job.run is None
    _run_all(job)
    assert job.states == ["done"] * 4 and all(i["steps"] == 6 for i in job.unit_info)


def test_a_stop_inside_a_unit_keeps_its_best_so_far_and_continue_goes_on_from_it(noisy):
    """Issue 22: Stop used to throw the running unit's steps away (a one-crop job came back
    as the input). Its pick so far is blended in; a Continue still ends as an uninterrupted job."""
    cfg = tiny_config("denoise", iterations=10, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    whole = TiledRestoration(cfg, plan, noisy, lanes=1)
    _run_all(whole)
    job = TiledRestoration(cfg, plan, noisy, lanes=1)
    for rec in job.steps():
        if rec.unit.index == 0 and rec.step == 6:
            job.request_stop()
    assert job.done_units == 0 and job.run.step == 6
    assert "unit 1's best so far (step 6) kept" in job.stop_reason
    out = job.result()
    corner = (slice(0, 8), slice(0, 8))                        # only unit 1 covers it
    np.testing.assert_allclose(out[corner], job.run.result(cfg.pick)[corner], atol=1e-6)
    far = (slice(noisy.shape[0] - 8, None), slice(noisy.shape[1] - 8, None))
    np.testing.assert_array_equal(out[far], noisy[far])        # units never started: the input
    _run_all(job)
    assert job.unit_info[0]["steps"] == 10
    np.testing.assert_allclose(job.result(), whole.result(), atol=1e-6)


def test_a_stopped_crop_keeps_its_fill_and_the_known_pixels_exactly():
    img = smooth_image(64, 900, seed=5)
    known = np.ones(img.shape[:2], bool)
    known[20:30, 100:130] = False
    img[~known] = 0.0
    cfg = tiny_config("inpaint", iterations=40, stop="never")
    plan = plan_job(cfg, img.shape[:2], 3, mask=known, device="cpu", margin=16)
    assert plan.mode == "crops" and len(plan.units) == 1
    job = TiledRestoration(cfg, plan, img, mask=known)
    for rec in job.steps():
        if rec.step == 25:
            job.request_stop()
    out = job.result()
    np.testing.assert_array_equal(out[known], img[known])
    assert np.abs(out[~known] - img[~known]).mean() > 0.01      # the fill so far, not the input
    job.close()


def test_a_stopped_group_keeps_its_members_best_so_far(noisy, float64):
    cfg = tiny_config("denoise", iterations=8, stop="never")
    plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
    job = TiledRestoration(cfg, plan, noisy, group=4)
    for rec in job.steps():
        if rec.step == 3:
            job.request_stop()
    assert job.done_units == 0 and len(job.partial()) == 4
    assert not np.allclose(job.result(), noisy)
    job.close()
