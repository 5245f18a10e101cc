"""The stopping rule's bookkeeping, on made-up score curves (no torch)."""
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
