"""Held-out strokes (``holdout_shape='strokes'``): inpainting's self-validation on known pixels
shaped like the hole (engine/tasks.py Inpaint.hold_out, stroke_holdout)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.errors import ConfigError
from engine.run import Restoration
from engine.tasks import make_task, stroke_holdout
from tests.helpers import smooth_image, tiny_config


def _strokes(h=64, w=64):
    """Two strokes (a bar and an L) in the upper left, False = to fill."""
    known = np.ones((h, w), bool)
    known[8:11, 6:30] = False
    known[14:30, 20:23] = False
    known[27:30, 20:34] = False
    return known


def _held(task):
    return task.val_weight[0, 0].numpy() > 0.5


def _train(task):
    return task.weight[0, 0].numpy() > 0.5


def _task(known, seed=2, holdout=0.2, shape="strokes", size=None):
    h, w = known.shape
    cfg = tiny_config("inpaint", stop_rule="holdout", holdout=holdout, holdout_shape=shape)
    task = make_task(cfg, smooth_image(h, w), known)
    task.hold_out(holdout, seed)
    return task


def _is_moved_copy(held, hole):
    """``held`` is ``hole`` translated, mirrored or rotated by 180 degrees, pixel for pixel."""
    def shape(m):
        ys, xs = np.nonzero(m)
        return set(zip((ys - ys.min()).tolist(), (xs - xs.min()).tolist()))
    return any(shape(held) == shape(f) for f in (hole, hole[:, ::-1], hole[::-1], hole[::-1, ::-1]))


# ---- the held-out set ---------------------------------------------------------------------

def test_held_strokes_are_known_pixels_out_of_the_data_term():
    known = _strokes()
    task = _task(known)
    held, train = _held(task), _train(task)
    assert held.sum() >= 8
    assert not (held & ~known).any()            # known pixels only
    assert not (held & train).any()             # out of the data term
    assert ((held | train) == known).all()      # and nothing else left it
    assert task.holdout_note and "copy of the mask" in task.holdout_note


def test_held_strokes_are_a_moved_copy_of_the_hole_away_from_it():
    known = _strokes()
    hole = ~known
    held = _held(_task(known))
    # the whole copy fits under the cap (20 % of the known pixels): the same pixel count
    assert held.sum() == hole.sum()
    assert _is_moved_copy(held, hole)
    # and it keeps its distance from the hole (the 2 px margin has room here)
    near = ndimage.binary_dilation(hole, np.ones((5, 5), bool))
    assert not (held & near).any()


def test_held_strokes_keep_their_distance_from_the_hole_whatever_the_seed():
    known = np.ones((64, 64), bool)
    known[10:13, 12:52] = False             # two parallel strokes: a copy moved down by
    known[21:24, 12:52] = False             # 8 px would run 1 px above the lower one
    near = ndimage.binary_dilation(~known, np.ones((5, 5), bool))
    for seed in range(40):
        held, what = stroke_holdout(known, 0.2, seed)
        assert held.sum() == (~known).sum() and "2 px" in what
        assert not (held & near).any(), seed


def test_held_strokes_are_connected_where_random_pixels_are_not():
    known = _strokes(96, 96)
    strokes = _held(_task(known, holdout=0.05))
    pixels = _held(_task(known, holdout=0.05, shape="pixels"))
    eight = np.ones((3, 3), bool)
    n_s = ndimage.label(strokes, eight)[1]
    n_p = ndimage.label(pixels, eight)[1]
    assert strokes.sum() / n_s >= 10       # a few strokes ...
    assert pixels.sum() / n_p < 2          # ... against scattered pixels


def test_the_cap_keeps_whole_stroke_pieces():
    known = np.ones((96, 96), bool)
    for y in range(8, 40, 8):               # four long strokes: a 20 % hole
        known[y:y + 3, 4:92] = False
    known[50:90, 40:44] = False
    n_known = int(known.sum())
    held = _held(_task(known, holdout=0.03))
    assert 0.5 * 0.03 * n_known <= held.sum() <= 0.03 * n_known + 1   # the cap, nearly filled
    assert not (held & ~known).any()
    sizes = np.bincount(ndimage.label(held, np.ones((3, 3), bool))[0].ravel())[1:]
    assert sizes.max() >= 20                # stroke pieces, not thinned pixels


def test_a_scattered_mask_is_thinned_evenly_not_by_tiles():
    rng = np.random.default_rng(3)
    known = rng.random((64, 64)) < 0.5      # half the pixels dropped, as in the paper
    held, what = stroke_holdout(known, 0.05, 1)
    assert "0 px" in what and not (held & ~known).any()
    assert abs(int(held.sum()) - round(0.05 * known.sum())) <= 1
    blocks = held.reshape(4, 16, 4, 16).sum(axis=(1, 3))
    assert (blocks > 0).sum() >= 8 and blocks.max() <= 3 * blocks[blocks > 0].mean()   # spread out


def test_strokes_are_drawn_from_the_seed():
    known = np.ones((96, 96), bool)
    for y in range(8, 40, 8):
        known[y:y + 3, 4:92] = False
    a = _held(_task(known, seed=5, holdout=0.03))
    b = _held(_task(known, seed=5, holdout=0.03))
    assert (a == b).all()
    others = [_held(_task(known, seed=s, holdout=0.03)) for s in range(6)]
    assert len({o.tobytes() for o in others}) > 1


def test_strokes_are_the_fast_inpainting_default_and_pixels_stay_the_fields():
    from engine.config import RunConfig
    from engine.presets import get_config
    assert RunConfig(task="inpaint").holdout_shape == "pixels"       # every other preset: random pixels
    fast = get_config(task="inpaint")
    assert (fast.stop_rule, fast.holdout_shape, fast.pick) == ("holdout", "strokes", "auto")
    assert get_config("sr-fast").stop_rule == "change"                 # nothing to copy: the change stop
    img = smooth_image(48, 48)
    known = _strokes(48, 48)
    cfg = tiny_config("inpaint", iterations=1, stop_rule="holdout", holdout=0.05)
    pixels = Restoration(cfg.replace(holdout_shape="pixels"), img, mask=known)
    again = Restoration(cfg.replace(holdout_shape="pixels"), img, mask=known)
    strokes = Restoration(cfg.replace(holdout_shape="strokes"), img, mask=known)
    assert (_held(again.task) == _held(pixels.task)).all()
    assert not (_held(pixels.task) == _held(strokes.task)).all()
    assert strokes.tracker.held.startswith("held-out strokes") and pixels.tracker.held == "held-out pixels"


def test_the_shape_is_checked():
    with pytest.raises(ConfigError, match="holdout shape"):
        tiny_config("inpaint", holdout_shape="blobs")


# ---- edge cases ---------------------------------------------------------------------------

def test_a_mask_touching_the_border_still_gets_a_copy_on_known_pixels():
    known = np.ones((64, 64), bool)
    known[:, :5] = False                    # a band along the left edge
    known[60:, :] = False                   # and the bottom
    task = _task(known, holdout=0.2)
    held = _held(task)
    assert held.sum() >= 8 and not (held & ~known).any() and not (held & _train(task)).any()
    assert "copy of the mask" in task.holdout_note


def test_no_room_for_a_copy_falls_back_to_random_pixels_and_says_so():
    known = np.ones((48, 48), bool)
    known[20:22, 30:33] = False             # a speck: no copy of it has enough pixels to score
    assert stroke_holdout(known, 0.05, 0)[0] is None
    task = _task(known, holdout=0.05)
    held = _held(task)
    assert held.sum() >= 8 and not (held & ~known).any() and not (held & _train(task)).any()
    assert "no room" in task.holdout_note and "random pixels" in task.holdout_note


def test_a_hole_over_most_of_the_frame_holds_out_what_is_left_near_the_border():
    known = np.zeros((48, 48), bool)
    known[:, :6] = True                     # a hole over seven eighths of the frame
    held, what = stroke_holdout(known, 0.1, 0)
    assert held is not None and not (held & ~known).any()
    assert 8 <= held.sum() <= 0.1 * known.sum() + 1


def test_too_few_known_pixels_hold_nothing_out():
    known = np.zeros((16, 16), bool)
    known[:4, :4] = True                    # 16 known pixels
    task = _task(known)
    assert task.val_weight is None
    assert "nothing held out" in task.holdout_note


def test_a_tiny_image_with_a_stroke():
    known = np.ones((12, 12), bool)
    known[5:7, 2:10] = False
    task = _task(known, holdout=0.2)
    held = _held(task)
    assert 8 <= held.sum() <= 0.2 * known.sum() + 1
    assert not (held & ~known).any() and not (held & _train(task)).any()


# ---- a run ---------------------------------------------------------------------------------

def _case(h=48, w=48):
    img = smooth_image(h, w)
    known = _strokes(h, w)
    return img * known[:, :, None], known, img


def test_an_inpainting_run_scores_the_held_strokes_and_keeps_known_pixels():
    image, known, clean = _case()
    cfg = tiny_config("inpaint", iterations=40, stop="never", stop_rule="holdout", holdout=0.1,
                      holdout_shape="strokes", pick="auto", ema=0.9)
    run = Restoration(cfg, image, mask=known)
    held = _held(run.task)
    recs = list(run.steps())
    assert all(r.val is not None and np.isfinite(r.val["output"]) for r in recs)
    assert all(np.isfinite(r.val["ema"]) for r in recs[1:])
    assert recs[-1].val["ema"] < recs[1].val["ema"]     # the net learns to predict the unseen strokes
    assert run.suggested is not None and run.suggested_kind == "ema"
    out = run.result("auto")
    # known pixels -- held-out ones too -- are the photo's, whatever the net made of them
    assert held.any()
    assert np.array_equal(out[known], image[known])
    raw = run.result("auto", raw=True)
    assert not np.allclose(raw[held], image[held], atol=1e-3)
    run.close()


def test_the_holdout_rule_stops_on_held_strokes():
    image, known, _ = _case()
    cfg = tiny_config("inpaint", iterations=400, stop="auto", stop_rule="holdout", holdout=0.1,
                      holdout_shape="strokes", stop_patience=10, stop_patience_ratio=0.0,
                      stop_min_gain_db=3.0, ema=0.9)
    run = Restoration(cfg, image, mask=known)
    for _ in run.steps():
        pass
    assert run.stopped_early and run.step < 400
    assert run.suggested[0] <= run.step and "held-out" in run.stop_reason
    assert np.array_equal(run.result("auto")[known], image[known])
    run.close()
