"""The noise measured on the photo itself (engine/noise.py) and the held-out blocks that real,
spatially correlated noise needs (engine/tasks.block_holdout): issue 20."""
from __future__ import annotations

import numpy as np
import torch
import pytest

from engine.noise import NoiseProfile, measure_noise
from engine.tasks import block_holdout
from tests.helpers import blurred_noise, flat_scene


def test_white_noise_level_and_no_correlation():
    clean = flat_scene()
    noisy = clean + np.random.default_rng(0).normal(0, 10 / 255, clean.shape)
    p = measure_noise(noisy)
    assert 255 * p.sigma == pytest.approx(10, rel=0.15)
    assert abs(p.rho[0]) < 0.15
    assert not p.correlated and p.length == 0
    assert "independent from pixel to pixel" in p.words()
    assert "about 10 levels" in p.words()


def test_correlated_noise_is_told_apart_and_its_level_found():
    clean = flat_scene()
    noisy = clean + blurred_noise(clean.shape, 6 / 255, 1)
    p = measure_noise(noisy)
    assert p.correlated and p.rho[0] > 0.5
    assert p.length >= 1
    assert 255 * p.sigma == pytest.approx(6, rel=0.3)
    assert "correlated over ~" in p.words()
    # the finest-scale wavelet estimate sees far less of it: why the profile exists
    from engine.stopping import noise_sigma
    assert noise_sigma(noisy) < 0.6 * p.sigma


def test_clean_and_tiny_images():
    assert measure_noise(flat_scene()).words() == "no noise to speak of"
    tiny = measure_noise(np.zeros((8, 8, 3)))
    assert tiny == NoiseProfile(0.0, (), 0, 0) and not tiny.correlated
    grey = measure_noise(np.full((40, 40), 0.5) + np.random.default_rng(2).normal(0, 0.02, (40, 40)))
    assert 255 * grey.sigma == pytest.approx(5.1, rel=0.25)


def test_block_holdout_geometry():
    held, dist = block_holdout(96, 96, 0.05, 7, seed=3)
    assert 0.025 < held.mean() < 0.08
    assert dist.max() == 4 and (dist > 0).sum() == held.sum()
    # every block is a whole 7 x 7 square whose centre is 4 px from anything fitted
    centres = np.argwhere(dist == 4)
    for y, x in centres:
        assert held[y - 3:y + 4, x - 3:x + 4].all()
        assert (dist[y - 3:y + 4, x - 3:x + 4] >= 1).all()
    assert len(centres) * 49 == held.sum()


def test_block_holdout_avoids_and_is_seeded():
    avoid = np.zeros((64, 64), bool)
    avoid[:, :32] = True
    held, _ = block_holdout(64, 64, 0.2, 5, seed=1, avoid=avoid)
    assert held.any() and not (held[:, :33]).any()
    a, _ = block_holdout(64, 64, 0.1, 5, seed=7)
    b, _ = block_holdout(64, 64, 0.1, 5, seed=7)
    c, _ = block_holdout(64, 64, 0.1, 5, seed=8)
    assert (a == b).all() and not (a == c).all()


# ---- in a run: what is held out follows the noise ---------------------------------------
from engine.config import RunConfig  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.presets import get_config  # noqa: E402
from engine.run import Restoration  # noqa: E402
from tests.helpers import tiny_config  # noqa: E402


def _photos(n: int = 64):
    clean = flat_scene(n).astype(np.float32)
    white = np.clip(clean + np.random.default_rng(4).normal(0, 12 / 255, clean.shape), 0, 1).astype(np.float32)
    camera = np.clip(clean + blurred_noise(clean.shape, 8 / 255, 5), 0, 1).astype(np.float32)
    return clean, white, camera


def test_denoise_presets_choose_by_the_noise():
    assert get_config("denoise-fast").holdout_shape == "auto"
    assert get_config("denoise").holdout_shape == "auto"
    assert RunConfig(task="inpaint").holdout_shape == "pixels"


def scored_count(task) -> int:
    return int((task.val_weight > 0).sum())


def test_correlated_noise_holds_out_blocks_and_scores_their_centres():
    _, _, camera = _photos()
    run = Restoration(tiny_config("denoise", holdout_shape="auto"), camera)
    t = run.task
    assert run.noise.correlated
    held = (t.weight[0, 0] == 0).numpy()
    scored = (t.val_weight[0, 0] > 0).numpy()
    assert "7x7 px blocks" in t.holdout_note and f"{int(scored_count(t))} scored" in t.holdout_note
    assert scored.sum() < held.sum() and not (scored & ~held).any()
    # every scored pixel lies at least 3 px (Chebyshev) from anything the network fits
    for y, x in np.argwhere(scored):
        assert held[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3].all()
    assert run._disc is None     # the fine-scale noise level is 3-4x low here: no wait for it
    assert "held-out blocks' centres" in run.tracker.held and "correlated over" in run.tracker.held
    finals = [run.stop_reason for rec in run.steps() if rec.final]
    assert finals == [run.stop_reason] and run.stop_reason     # said by the time the last record is out
    assert "held-out blocks' centres" in run.stop_reason or "step limit" in run.stop_reason


def test_white_noise_keeps_random_pixels_as_before():
    _, white, _ = _photos()
    auto = Restoration(tiny_config("denoise", holdout_shape="auto"), white)
    pixels = Restoration(tiny_config("denoise", holdout_shape="pixels"), white)
    assert not auto.noise.correlated
    assert torch.equal(auto.task.val_weight, pixels.task.val_weight)
    assert torch.equal(auto.task.weight, pixels.task.weight)
    assert auto._disc is not None and auto.task.held_words == "held-out pixels"


def test_blocks_on_request_and_fallback_on_a_tiny_frame():
    _, white, _ = _photos()
    run = Restoration(tiny_config("denoise", holdout_shape="blocks", holdout_block=9, holdout_gap=4,
                                  holdout_block_share=0.1), white)
    scored = (run.task.val_weight[0, 0] > 0).numpy()
    assert "9x9 px blocks" in run.task.holdout_note and scored.sum() >= 16
    tiny = Restoration(tiny_config("denoise", holdout_shape="blocks"), white[:20, :20])
    assert "random pixels" in tiny.task.holdout_note     # no room for blocks: random pixels


@pytest.mark.parametrize("field,value", [("holdout_block", 2), ("holdout_block", 40), ("holdout_gap", 0),
                                         ("holdout_gap", 5), ("holdout_block_share", 0.0),
                                         ("holdout_block_share", 0.6)])
def test_block_settings_are_checked(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value}).validate()


def test_blocks_count_only_once_the_fit_nears_the_noise_level():
    """Scores taken while the picture is still forming do not compete: the held-out blocks'
    best is chosen among steps after the data term came within 2x the measured noise level."""
    from engine.stopping import BLOCK_GATE
    _, _, camera = _photos()
    run = Restoration(tiny_config("denoise", holdout_shape="auto", iterations=150, stop="never", lr=0.02), camera)
    gate = run._gate
    assert gate is not None and gate.target == pytest.approx(
        BLOCK_GATE * run.noise.sigma ** 2 * run.task.fitted_fraction)
    for _ in run.steps():
        pass
    assert gate.crossed_at is not None, "the tiny net fits that far in about 100 steps"
    assert run.suggested[0] >= gate.crossed_at
    assert gate.waiting(run.step, run.tracker.gain_step) is False
    # white noise keeps no gate
    _, white, _ = _photos()
    assert Restoration(tiny_config("denoise", holdout_shape="auto"), white)._gate is None


def test_a_clean_smooth_picture_is_not_taken_for_camera_noise():
    """Structure that survives the plane fit keeps its correlation at 3 px and has almost
    nothing at the finest scale: no noise, no blocks, the noise-level floor as before."""
    from tests.helpers import smooth_image
    p = measure_noise(smooth_image(64, 64))
    assert p.structure and not p.correlated and p.words() == "no noise to speak of"
    _, _, camera = _photos()
    assert not measure_noise(camera).structure


# ---- the fit's slowing (engine/stopping.Slowing) ------------------------------------------
def test_slowing_is_the_first_check_where_the_residual_keeps_most_of_its_value():
    from engine.stopping import Slowing
    sl = Slowing(ratio=0.92, lag=50, every=25, start=100)
    # falls by half every 50 steps to step 300, then by 5 % per 50 steps
    resid = {s: (0.5 ** (s / 50) if s <= 300 else 0.5 ** 6 * 0.95 ** ((s - 300) / 50)) for s in range(25, 601, 25)}
    for s, v in resid.items():
        sl.feed(s, v)
    assert sl.crossed_at == 350          # 0.95 of step 300's: the first ratio over 0.92 (325 still halves)
    for s in range(300, 701, 25):
        sl.keep_copy(s, torch.full((1, 1, 2, 2), float(s)))
    assert sl.pick(500) == 425           # sqrt(500 x 350) = 418: the nearest kept step
    assert float(sl.copy(425)[0, 0, 0, 0]) == 425
    assert Slowing().pick(500) is None   # never slowed: no pick


def test_the_blocks_are_awaited_at_most_three_times_the_slowing():
    from engine.stopping import SLOWING_CAP, Slowing
    sl = Slowing()
    assert not sl.overdue(10_000)              # never slowed: the bound is the only cap
    sl.crossed_at = 350
    assert SLOWING_CAP == 3 and not sl.overdue(1049) and sl.overdue(1050)
    assert not sl.overdue(1100, began=1050)      # a call begun past the cap (a continued run)


def _camera_run(**kw):
    """A camera-noise run whose held-out look-ahead never ends it (only the cap or the bound)."""
    _, _, camera = _photos()
    cfg = tiny_config("denoise", holdout_shape="auto", lr=0.05, pick="auto", stop_patience=5000, **kw)
    return Restoration(cfg, camera)


def test_a_run_still_improving_its_blocks_stops_at_three_times_the_slowing():
    run = _camera_run(iterations=1250)
    last = list(run.steps())[-1]
    q = run._slowing.crossed_at
    assert run.stopped_early and run.step == 3 * q < 1250, (run.step, q, run.stop_reason)
    e, _, p = run._slowing.picked
    assert run._slowing.capped_at == run.step and last.suggested[0] == p and run.suggested[0] == p
    assert f"still improving at step {run.step}, 3x the step the fit slowed" in run.stop_reason
    # a run continued past the cap stops on its look-ahead (here: never), not at once
    run.extend(20)
    list(run.steps())
    assert run.step == 1270 and not run.stopped_early


def test_at_the_bound_the_slowing_still_weighs_the_pick():
    """A run that reaches its step bound after the fit slowed writes the slowing's pick too, in
    a lone run and in a grouped one (engine/group.py), and says both."""
    from engine.group import GroupRun
    run = _camera_run(iterations=500)
    last = list(run.steps())[-1]
    assert not run.stopped_early and run._slowing.crossed_at is not None
    e, q, p = run._slowing.picked
    assert last.suggested[0] == p == run.suggested[0]
    assert run.stop_reason.startswith("reached the step limit (500); the moving average at step")
    assert "no gain" not in run.stop_reason and "still improving" not in run.stop_reason
    group = GroupRun([run.cfg], [_photos()[2]])
    for _ in group.steps():
        pass
    m = group.members[0]
    assert m.run._slowing.picked is not None and m.suggested[0] == m.run._slowing.picked[2]
    assert m.stop_reason.startswith("reached the step limit (500); the moving average at step")


def test_slowing_copies_are_thinned_and_the_newest_kept():
    from engine.stopping import SLOWING_BYTES, Slowing
    sl = Slowing(every=25, copy_bytes=SLOWING_BYTES // 4)     # room for 4 copies
    for s in range(25, 26 * 25, 25):
        sl.keep_copy(s, torch.zeros(1))
    assert len(sl._copies) <= 4 and max(sl._copies) == 25 * 25


def test_camera_noise_picks_between_the_blocks_best_and_the_slowing():
    """A run on correlated noise that stops by itself writes the kept moving average nearest
    the geometric mean of the blocks' best step and the step the fit slowed, and says so."""
    import math
    _, _, camera = _photos()
    cfg = tiny_config("denoise", holdout_shape="auto", iterations=1200, lr=0.02, pick="auto",
                      stop_patience=50, stop_patience_ratio=0.25)
    run = Restoration(cfg, camera)
    assert run._slowing is not None
    last = [rec for rec in run.steps()][-1]
    assert run.stopped_early, run.stop_reason
    e, q, p = run._slowing.picked
    assert last.final and last.suggested[0] == p      # what the app's plots mark
    assert q == run._slowing.crossed_at and q >= 100 and q % 25 == 0
    kept = sorted(run._slowing._copies)
    assert p in kept and abs(p - math.sqrt(e * q)) == min(abs(s - math.sqrt(e * q)) for s in kept)
    assert run.suggested[0] == p and "the fit slowed" in run.stop_reason and f"step {p}" in run.stop_reason
    written = run.task.finalize(run._slowing.copy(p)).squeeze(0).permute(1, 2, 0).numpy()
    assert np.array_equal(run.result("auto"), written)
    off = Restoration(cfg.replace(slowing=False), camera)
    assert off._slowing is None


def test_no_slowing_for_white_noise_or_a_scheduled_rate():
    _, white, camera = _photos()
    assert Restoration(tiny_config("denoise", holdout_shape="auto"), white)._slowing is None
    assert Restoration(tiny_config("denoise", holdout_shape="auto", lr_schedule="cosine"), camera)._slowing is None
