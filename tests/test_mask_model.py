"""MaskModel: round-brush strokes, whole-mask edits, and bounded undo/redo."""
import numpy as np
import pytest

from app.mask_model import MaskModel, dilate
from engine.errors import MaskError


def disc_reference(h, w, x, y, r):
    """Pixels whose centre lies within r of (x, y): the brush's documented footprint."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r


def disc_offsets(r):
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return xx ** 2 + yy ** 2 <= r * r


def stroke(model, points, radius, tool="brush"):
    model.begin_stroke(tool)
    for x, y in points:
        model.stroke_to(x, y, radius)
    return model.end_stroke()


def test_starts_empty_and_known_is_not_paint():
    m = MaskModel(20, 30)
    assert m.shape == (20, 30) and m.paint.dtype == bool
    assert m.is_empty and m.known.all()
    stroke(m, [(10.5, 8.5)], 3)
    assert not m.is_empty
    assert np.array_equal(m.known, ~m.paint)
    assert m.known.dtype == bool


def test_disc_stroke_paints_the_disc_and_nothing_else():
    m = MaskModel(40, 50)
    stroke(m, [(20.5, 15.5)], 6.0)
    expected = disc_reference(40, 50, 20.5, 15.5, 6.0)
    assert np.array_equal(m.paint, expected)
    assert m.paint[15, 20] and m.paint[15, 26] and not m.paint[15, 27]
    assert m.paint.sum() == expected.sum() > 100


def test_off_centre_point_follows_pixel_centre_rule():
    m = MaskModel(30, 30)
    stroke(m, [(10.0, 12.0)], 4.0)
    assert np.array_equal(m.paint, disc_reference(30, 30, 10.0, 12.0, 4.0))


def test_one_pixel_brush_always_paints_the_pixel_under_the_point():
    m = MaskModel(10, 10)
    stroke(m, [(3.0, 4.0)], 0.5)  # exactly on a pixel corner
    assert m.paint[4, 3]
    assert m.paint.sum() <= 4


def test_capsule_between_far_points_has_no_gaps():
    m = MaskModel(60, 200)
    stroke(m, [(5.5, 10.5), (190.5, 50.5)], 3.0)
    # every pixel centre within r of the segment is painted
    yy, xx = np.mgrid[0:60, 0:200]
    px, py = xx + 0.5, yy + 0.5
    ax, ay, bx, by = 5.5, 10.5, 190.5, 50.5
    vx, vy = bx - ax, by - ay
    t = np.clip(((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy), 0, 1)
    d2 = (px - ax - t * vx) ** 2 + (py - ay - t * vy) ** 2
    assert np.array_equal(m.paint, d2 <= 9.0)
    # and every column the segment spans has paint
    assert m.paint[:, 6:190].any(axis=0).all()


def test_thin_capsule_is_connected():
    m = MaskModel(50, 50)
    stroke(m, [(1.5, 1.5), (48.2, 30.7)], 0.5)
    cols = np.flatnonzero(m.paint.any(axis=0))
    assert cols[0] == 1 and cols[-1] == 48 and len(cols) == 48


def test_points_outside_the_image_are_clipped():
    m = MaskModel(10, 10)
    stroke(m, [(-20.0, -20.0), (-5.0, 5.0)], 6.0)
    assert m.paint[:, 0].any() and not m.paint[:, 6:].any()
    stroke(m, [(100.0, 100.0)], 4.0)  # fully outside: nothing, and no undo step
    assert m.undo_count == 1


def test_eraser_clears_only_its_disc():
    m = MaskModel(40, 40)
    stroke(m, [(5.5, 20.5), (34.5, 20.5)], 5.0)
    before = m.paint.copy()
    stroke(m, [(20.5, 20.5)], 3.0, tool="eraser")
    hole = disc_reference(40, 40, 20.5, 20.5, 3.0)
    assert not m.paint[hole].any()
    assert np.array_equal(m.paint, before & ~hole)


def test_each_stroke_is_one_undo_step_and_redo_restores_it():
    m = MaskModel(30, 30)
    stroke(m, [(5.5, 5.5), (10.5, 5.5), (20.5, 9.5)], 2.0)
    after_one = m.paint.copy()
    stroke(m, [(5.5, 25.5), (25.5, 25.5)], 2.0)
    after_two = m.paint.copy()
    assert m.undo_count == 2
    assert m.undo()
    assert np.array_equal(m.paint, after_one)
    assert m.undo()
    assert m.is_empty and not m.undo()
    assert m.redo() and np.array_equal(m.paint, after_one)
    assert m.redo() and np.array_equal(m.paint, after_two)
    assert not m.redo()


def test_new_edit_drops_the_redo_stack():
    m = MaskModel(20, 20)
    stroke(m, [(5.5, 5.5)], 2.0)
    m.undo()
    assert m.can_redo
    stroke(m, [(15.5, 15.5)], 2.0)
    assert not m.can_redo


def test_noop_stroke_adds_no_step():
    m = MaskModel(20, 20)
    assert not stroke(m, [(10.5, 10.5)], 3.0, tool="eraser")
    assert m.undo_count == 0


@pytest.mark.parametrize("op", ["clear", "invert", "grow", "shrink", "load"])
def test_whole_mask_edits_are_undoable(op):
    m = MaskModel(30, 40)
    stroke(m, [(10.5, 10.5), (25.5, 18.5)], 4.0)
    before = m.paint.copy()
    if op == "clear":
        assert m.clear()
    elif op == "invert":
        assert m.invert()
    elif op == "grow":
        assert m.grow(2)
    elif op == "shrink":
        assert m.shrink(2)
    else:
        known = np.ones((30, 40), bool)
        known[:5, :7] = False
        assert m.set_from_known(known)
        assert np.array_equal(m.known, known)
    after = m.paint.copy()
    assert not np.array_equal(after, before)
    assert m.undo()
    assert np.array_equal(m.paint, before)
    assert m.redo()
    assert np.array_equal(m.paint, after)


def test_clear_and_invert():
    m = MaskModel(10, 12)
    stroke(m, [(3.5, 3.5)], 2.0)
    painted = m.paint.copy()
    m.invert()
    assert np.array_equal(m.paint, ~painted)
    m.clear()
    assert m.is_empty
    assert not m.clear()  # already empty: no new step


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_grow_single_pixel_gives_a_disc(n):
    m = MaskModel(21, 21)
    stroke(m, [(10.5, 10.5)], 0.5)
    assert m.paint.sum() == 1
    m.grow(n)
    expected = np.zeros((21, 21), bool)
    expected[10 - n:11 + n, 10 - n:11 + n] = disc_offsets(n)
    assert np.array_equal(m.paint, expected)


def test_grow_and_shrink_square():
    m = MaskModel(40, 40)
    sq = np.zeros((40, 40), bool)
    sq[10:30, 12:28] = True
    m.set_paint(sq)
    m.shrink(3)
    expected = np.zeros((40, 40), bool)
    expected[13:27, 15:25] = True
    assert np.array_equal(m.paint, expected)
    m.undo()
    m.grow(3)
    assert m.paint[7:33, 12:28].all() and m.paint[10:30, 9:31].all()  # straight edges move by 3
    assert not m.paint[6, 20] and not m.paint[20, 8]
    assert not m.paint[7, 9]  # corners are rounded (disc), not square
    assert m.paint[8, 10]  # distance (2, 2) from the corner pixel: sqrt 8 <= 3


def test_shrink_removes_thin_parts_and_keeps_border_contact():
    m = MaskModel(20, 20)
    p = np.zeros((20, 20), bool)
    p[:, :6] = True  # a band touching the left border
    p[10, 6:18] = True  # a 1 px line
    m.set_paint(p)
    m.shrink(2)
    assert not m.paint[10, 9:].any()
    away = np.r_[0:8, 13:20]  # rows far from the line's junction with the band
    assert m.paint[away, :4].all() and not m.paint[away, 4:].any()


def test_dilate_matches_brute_force_shifts():
    rng = np.random.default_rng(3)
    a = rng.random((25, 31)) < 0.05
    for r in (1, 2, 4):
        brute = np.zeros_like(a)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if dx * dx + dy * dy <= r * r:
                    shifted = np.zeros_like(a)
                    ys, yd = (slice(0, 25 - dy), slice(dy, 25)) if dy >= 0 else (slice(-dy, 25), slice(0, 25 + dy))
                    xs, xd = (slice(0, 31 - dx), slice(dx, 31)) if dx >= 0 else (slice(-dx, 31), slice(0, 31 + dx))
                    shifted[yd, xd] = a[ys, xs]
                    brute |= shifted
        assert np.array_equal(dilate(a, r), brute), r


def test_history_is_bounded_by_count():
    m = MaskModel(30, 30, max_steps=5)
    for k in range(12):
        stroke(m, [(2.5 + 2 * k, 15.5)], 1.0)
    assert m.undo_count == 5
    while m.undo():
        pass
    assert m.paint.sum() > 0  # the oldest strokes are no longer undoable


def test_history_is_bounded_by_bytes_and_stores_only_changed_boxes():
    m = MaskModel(3000, 4000, max_steps=1000, max_bytes=200_000)
    for k in range(50):
        stroke(m, [(100.5 + 70 * k, 300.5), (100.5 + 70 * k, 2700.5)], 10.0)
    assert m.history_nbytes <= 200_000
    assert 1 <= m.undo_count < 50
    # one stroke of 21 x ~2421 px is a few KB bit-packed, not a 12 MB copy
    m2 = MaskModel(3000, 4000)
    for k in range(50):
        stroke(m2, [(100.5 + 70 * k, 300.5), (100.5 + 70 * k, 2700.5)], 10.0)
    assert m2.undo_count == 50
    assert m2.history_nbytes < 50 * 21 * 2421 / 8 + 50 * 64


def test_changed_callbacks_get_dirty_rects():
    m = MaskModel(40, 40)
    rects = []
    m.changed.connect(rects.append)
    stroke(m, [(20.5, 20.5)], 3.0)
    assert rects and all(len(r) == 4 for r in rects)
    x0, y0, x1, y1 = rects[0]
    ys, xs = np.nonzero(m.paint)
    assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    rects.clear()
    m.undo()
    assert rects == [(x0, y0, x1, y1)]
    rects.clear()
    m.clear()  # empty already: no callback
    assert rects == []


def test_set_from_known_rejects_wrong_shape():
    m = MaskModel(10, 10)
    with pytest.raises(MaskError):
        m.set_from_known(np.ones((10, 11), bool))


def test_stroke_to_without_begin_is_an_error():
    with pytest.raises(RuntimeError):
        MaskModel(5, 5).stroke_to(1, 1, 1)
