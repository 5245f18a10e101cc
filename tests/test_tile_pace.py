"""The quick pace: a tiled job's denoising units warm up to twice the rate (engine/schedule.py);
one run, units of other schedules, and ('auto') the tiles of a photo with a camera's correlated
noise keep theirs."""
import numpy as np
import pytest

from engine.config import RunConfig
from engine.errors import ConfigError
from engine.job import TiledRestoration
from engine.presets import get_config
from engine.noise import measure_noise
from engine.schedule import QUICK_RATE, QUICK_STEPS, QUICK_WARMUP, lr_at, pace_noise, quick_pace, quickens
from engine.tiling import plan_job, typical_steps
from engine.units import unit_config
from tests.helpers import blurred_noise, flat_scene, smooth_image, tiny_config


def test_the_quick_pace_doubles_a_constant_rate_after_a_warm_up():
    cfg = get_config("denoise-fast")
    assert cfg.tile_pace == "auto" and cfg.lr_schedule == "constant"
    q = quick_pace(cfg)
    assert (q.lr, q.lr_schedule, q.lr_warmup) == (QUICK_RATE * cfg.lr, "cosine", QUICK_WARMUP)
    assert quick_pace(q) == q                             # twice is once
    # a lone run's moving average warms up; a tile keeps the one its pace was measured with
    assert cfg.ema_warmup > 0 and q.ema_warmup == 0
    assert lr_at(q, 1, 3000) < cfg.lr < lr_at(q, QUICK_WARMUP + 1, 3000)
    # the same pace, or a schedule of its own (the noise-free presets), is left alone
    assert quick_pace(cfg.replace(tile_pace="same")) == cfg.replace(tile_pace="same")
    inpaint = get_config("inpaint-fast", tile_pace="quick")
    assert quick_pace(inpaint) == inpaint
    with pytest.raises(ConfigError, match="tile pace"):
        RunConfig(tile_pace="fast").validate()


def test_a_photo_in_tiles_runs_its_units_at_the_quick_pace_and_one_run_does_not():
    cfg = get_config("denoise-fast")
    tiled = plan_job(cfg, (384, 384), 3, device="cpu")
    assert tiled.mode == "tiles" and tiled.quick and all(u.quick for u in tiled.units)
    assert "quick pace" in tiled.describe()
    assert unit_config(cfg, tiled.units[0]).lr == QUICK_RATE * cfg.lr
    whole = plan_job(cfg, (128, 128), 3, device="cpu")
    assert whole.mode == "whole" and not whole.quick and not whole.units[0].quick
    assert unit_config(cfg, whole.units[0]).lr == cfg.lr
    same = plan_job(cfg.replace(tile_pace="same"), (384, 384), 3, device="cpu")
    assert not same.quick and "quick" not in same.describe()
    assert unit_config(cfg.replace(tile_pace="same"), same.units[0]).lr == cfg.lr
    # the plan prices a quick unit at its share of the steps, and says so in its total
    assert typical_steps(cfg, 128, 128, True, quick=True) == pytest.approx(
        QUICK_STEPS * typical_steps(cfg, 128, 128, True), abs=1)
    assert tiled.seconds < same.seconds


def _photos(n: int = 384) -> tuple[np.ndarray, np.ndarray]:
    """The same picture with white noise and with a camera's (correlated) noise, alike in level."""
    clean = flat_scene(n)
    white = clean + np.random.default_rng(0).normal(0, 8 / 255, clean.shape)
    camera = clean + blurred_noise(clean.shape, 8 / 255, 1)
    return (np.clip(white, 0, 1).astype(np.float32), np.clip(camera, 0, 1).astype(np.float32))


def test_auto_keeps_one_runs_pace_on_a_cameras_noise_and_the_plan_says_why():
    cfg = get_config("denoise-fast")
    white, camera = _photos()
    nw, nc = pace_noise(cfg, white), pace_noise(cfg, camera)
    assert not nw.correlated and nc.correlated
    assert quickens(cfg, nw) and quickens(cfg) and not quickens(cfg, nc)
    quick = plan_job(cfg, white.shape[:2], 3, device="cpu", noise=nw)
    kept = plan_job(cfg, camera.shape[:2], 3, device="cpu", noise=nc)
    assert quick.mode == kept.mode == "tiles"
    assert quick.quick and not quick.camera_pace and "quick pace" in quick.describe()
    assert not kept.quick and kept.camera_pace and not any(u.quick for u in kept.units)
    assert "one run's pace (the photo's noise is a camera's" in kept.describe()
    assert unit_config(cfg, kept.units[0]) == cfg.replace(seed=kept.units[0].seed)
    # priced at one run's steps, as 'same' is
    same = plan_job(cfg.replace(tile_pace="same"), camera.shape[:2], 3, device="cpu", noise=nc)
    assert kept.seconds == pytest.approx(same.seconds) and kept.tile == same.tile
    assert not same.camera_pace              # chosen by the user, not by the noise
    # the pace the user names holds whatever the noise
    forced = plan_job(cfg.replace(tile_pace="quick"), camera.shape[:2], 3, device="cpu", noise=nc)
    assert forced.quick
    # one run keeps its pace: nothing to say
    assert not plan_job(cfg, (128, 128), 3, device="cpu", noise=nc).camera_pace
    # the noise is measured only where the pace depends on it
    assert pace_noise(cfg.replace(tile_pace="same"), camera) is None
    assert pace_noise(get_config("inpaint-fast", tile_pace="auto"), camera) is None   # a schedule of its own
    assert pace_noise(cfg, camera) == measure_noise(camera)


def test_a_tiled_job_fits_each_unit_with_the_units_own_config():
    rng = np.random.default_rng(1)
    clean = smooth_image(64, 96, seed=3)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    results = {}
    for pace in ("quick", "same"):
        cfg = tiny_config("denoise", iterations=12, stop="never", tile_pace=pace)
        plan = plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu")
        assert len(plan.units) == 2 and plan.quick == (pace == "quick")
        job = TiledRestoration(cfg, plan, noisy, lanes=1)
        list(job.steps())
        job.close()
        results[pace] = job.result()
    # twice the rate after the warm-up: the units fit differently
    assert np.abs(results["quick"] - results["same"]).max() > 1e-3


def test_a_short_bound_still_reaches_the_rate_and_a_failure_names_the_units_rate():
    short = quick_pace(get_config("denoise-fast", iterations=25))
    assert short.lr_warmup == 2 and lr_at(short, 3, 25) == pytest.approx(short.lr, rel=0.02)
    noisy = smooth_image(64, 96, seed=3)
    for pace, rate in (("quick", "0.02"), ("same", "0.01")):
        cfg = tiny_config("denoise", tile_pace=pace)
        job = TiledRestoration(cfg, plan_job(cfg, noisy.shape[:2], 3, tile=64, device="cpu"), noisy)
        job.failed_units = [1]
        assert job.unfit_words() == ("1 of 2 units did not fit their pixels (the first: unit 2): nothing "
                                     f"written; lower the learning rate (now {rate} per unit)")
        job.close()
