"""The stopping rule's bookkeeping, on made-up score curves (no torch)."""
import numpy as np

from engine.stopping import BestTracker


def _feed(tr, scores, kind="output"):
    for step, s in enumerate(scores, 1):
        tr.offer(step, kind, s)
        if tr.should_stop(step, 0):
            return step
    return None


def test_stops_after_the_look_ahead_past_the_minimum():
    tr = BestTracker("holdout", patience_min=10, patience_ratio=0.0, min_gain_db=0.0)
    curve = [1.0 - 0.01 * i for i in range(50)] + [0.51 + 0.01 * i for i in range(100)]
    stop = _feed(tr, curve)
    assert tr.best[0] == 50 and stop == 60


def test_look_ahead_grows_with_the_step_of_the_best():
    tr = BestTracker("holdout", patience_min=10, patience_ratio=0.5, min_gain_db=0.0)
    curve = [1.0 - 0.001 * i for i in range(400)] + [1.0] * 1000
    assert _feed(tr, curve) == 400 + 200


def test_small_gains_do_not_restart_the_look_ahead_but_still_move_the_best():
    tr = BestTracker("holdout", patience_min=20, patience_ratio=0.0, min_gain_db=0.1)
    # a big drop, then a slow creep of 0.001 dB a step: a plateau by the rule's standard
    curve = [1.0, 0.5] + [0.5 * 10 ** (-0.0001 * i) for i in range(1, 200)]
    stop = _feed(tr, curve)
    assert stop == 2 + 20
    assert tr.best[0] == stop  # the image kept is still the lowest seen


def test_output_and_ema_compete_for_best():
    tr = BestTracker("holdout", 10, 0.0, 0.0)
    assert tr.offer(1, "output", 0.5)
    assert tr.offer(1, "ema", 0.4)
    assert not tr.offer(2, "output", 0.45)
    assert tr.best == (1, 0.4, "ema")
    assert "moving average" in tr.reason(5)


def test_non_finite_scores_are_ignored_and_continue_rearms():
    tr = BestTracker("holdout", 5, 0.0, 0.0)
    assert not tr.offer(1, "output", float("nan"))
    tr.offer(2, "output", 0.3)
    assert tr.should_stop(7, 0)
    assert not tr.should_stop(7, 6)   # a continued run counts its look-ahead from where it began
    assert tr.should_stop(11, 6)


def test_noise_sigma_estimates_gaussian_noise_on_a_smooth_image():
    from engine.stopping import noise_sigma
    from tests.helpers import smooth_image
    clean = smooth_image(128, 128)
    rng = np.random.default_rng(0)
    for sigma in (5 / 255, 25 / 255, 50 / 255):
        noisy = clean + rng.normal(0, sigma, clean.shape)   # unclipped: the estimate's own error
        assert abs(noise_sigma(noisy) - sigma) < 0.1 * sigma
    assert noise_sigma(clean) < 1 / 255


def test_discrepancy_crosses_once_on_the_window_mean():
    from engine.stopping import Discrepancy
    d = Discrepancy(target=1.0, window=3)
    assert not d.feed(1, 0.5) and not d.feed(2, 0.5)       # the window is not full yet
    assert not d.feed(3, 5.0)                              # mean 2.0
    assert not d.feed(4, 0.5) and not d.feed(5, 0.5)       # 5.0 still in the window: mean 2.0
    assert d.feed(6, 0.5) and d.crossed_at == 6            # mean 0.5
    assert not d.feed(7, 0.1) and d.crossed_at == 6        # once


def test_discrepancy_holds_the_stop_until_crossed_or_capped():
    from engine.stopping import DISCREPANCY_CAP, Discrepancy
    d = Discrepancy(target=1.0, window=1)
    assert not d.waiting(10, None)                         # no score yet: nothing to hold
    assert d.waiting(100, 50)
    assert not d.waiting(int(DISCREPANCY_CAP * 50), 50)    # capped: a clean image stops anyway
    d.feed(120, 0.5)
    assert not d.waiting(121, 50)


def test_a_run_waits_for_the_noise_level_and_takes_the_later_pick(monkeypatch):
    """When the fit reaches the noise level after the held-out best (here: the noise
    estimate scaled down, as clipping does on smooth photos), the run goes on to that step
    and picks the moving average there; without the discrepancy it stops at the held-out
    best's look-ahead."""
    import engine.run as run_mod
    from engine.stopping import noise_sigma
    from tests.helpers import smooth_image, tiny_config
    clean = smooth_image(48, 48)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    monkeypatch.setattr(run_mod, "noise_sigma", lambda im: 0.7 * noise_sigma(im))
    # the plain moving average: its held-out best comes early enough here for the wait to show
    kw = dict(iterations=1500, stop_patience=20, stop_patience_ratio=0.0, seed=3, ema_warmup=0)
    alone = run_mod.Restoration(tiny_config("denoise", discrepancy=False, **kw), noisy)
    list(alone.steps())
    both = run_mod.Restoration(tiny_config("denoise", **kw), noisy)
    list(both.steps())
    crossed = both._disc.crossed_at
    assert crossed is not None and crossed > alone.suggested[0]
    assert both.suggested[0] == crossed and both.suggested_kind == "ema"
    assert both.stopped_early and both.step >= crossed and both.step > alone.step
    assert "noise level" in both.stop_reason and "noise level" not in alone.stop_reason


def test_no_noise_level_to_wait_for_on_a_clean_image():
    from engine.run import Restoration
    from tests.helpers import smooth_image, tiny_config
    run = Restoration(tiny_config("denoise", iterations=5), smooth_image(32, 32))
    assert run._disc is None and run.noise_sigma < 2 / 255
    assert Restoration(tiny_config("jpeg", iterations=5), smooth_image(32, 32))._disc is None
