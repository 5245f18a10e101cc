"""ImageCanvas driven like a user: raw mouse, wheel and key events on the viewport (labelme style)."""
import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.canvas import ImageCanvas, array_to_qimage, device_sample, outline_pixels
from app.mask_model import MaskModel
from engine.errors import ImageError, MaskError

LEFT = Qt.MouseButton.LeftButton
NO_BUTTON = Qt.MouseButton.NoButton


def _image(h=48, w=64, c=3):
    rng = np.random.default_rng(0)
    return rng.random((h, w, c), dtype=np.float32)


@pytest.fixture
def canvas(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(320, 240)
    c.set_image(_image())
    with qtbot.waitExposed(c):
        c.show()
    c.reset_zoom()
    c.centerOn(32, 24)
    return c


def _mouse(canvas, kind, pos, button=LEFT, buttons=LEFT, modifiers=Qt.KeyboardModifier.NoModifier):
    vp = canvas.viewport()
    p = QPointF(pos)
    ev = QMouseEvent(kind, p, QPointF(vp.mapToGlobal(p.toPoint())), button, buttons, modifiers)
    QApplication.sendEvent(vp, ev)


def _drag(canvas, points, button=LEFT):
    _mouse(canvas, QEvent.Type.MouseButtonPress, points[0], button, button)
    for p in points[1:]:
        _mouse(canvas, QEvent.Type.MouseMove, p, NO_BUTTON, button)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1], button, NO_BUTTON)


def _wheel(canvas, pos, dy, modifiers=Qt.KeyboardModifier.NoModifier):
    vp = canvas.viewport()
    p = QPointF(pos)
    ev = QWheelEvent(p, QPointF(vp.mapToGlobal(p.toPoint())), QPoint(0, 0), QPoint(0, dy),
                     NO_BUTTON, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def _view_pos(canvas, x, y):
    """Viewport pixel whose centre lands on image point (x, y) (as the canvas maps it)."""
    p = canvas.mapFromScene(QPointF(x, y))
    return QPointF(p)


def _disc(shape, x, y, r):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r


def test_set_image_makes_an_empty_mask_of_its_size(canvas):
    assert canvas.image_size == (64, 48)
    assert canvas.mask_model.shape == (48, 64)
    assert canvas.mask_model.is_empty
    assert canvas.zoom == pytest.approx(1.0)


def test_brush_stroke_paints_around_the_mapped_point_only(canvas, qtbot):
    canvas.set_brush_size(10)
    pos = _view_pos(canvas, 20, 20)
    at = canvas.image_pos(pos)
    with qtbot.waitSignal(canvas.maskChanged, timeout=1000):
        _drag(canvas, [pos])
    paint = canvas.mask_model.paint
    assert paint[_disc(paint.shape, at.x(), at.y(), 4.0)].all()
    assert not paint[~_disc(paint.shape, at.x(), at.y(), 5.5)].any()
    assert abs(at.x() - 20.5) <= 0.5 and abs(at.y() - 20.5) <= 0.5


def test_drag_paints_a_continuous_line(canvas):
    canvas.set_brush_size(4)
    a, b = _view_pos(canvas, 8, 30), _view_pos(canvas, 56, 30)
    _drag(canvas, [a, b])  # one big jump: the capsule must fill it
    paint = canvas.mask_model.paint
    assert paint[30, 9:56].all()
    assert not paint[:25].any() and not paint[36:].any()
    assert canvas.mask_model.undo_count == 1


def test_qtest_mouse_helpers_also_paint(canvas):
    canvas.set_brush_size(6)
    vp = canvas.viewport()
    a, b = _view_pos(canvas, 10, 10).toPoint(), _view_pos(canvas, 30, 10).toPoint()
    QTest.mousePress(vp, LEFT, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, b)
    QTest.mouseRelease(vp, LEFT, Qt.KeyboardModifier.NoModifier, b)
    assert canvas.mask_model.paint[10, 10:30].all()


def test_eraser_removes_paint(canvas, qtbot):
    canvas.set_brush_size(20)
    _drag(canvas, [_view_pos(canvas, 30, 24)])
    assert canvas.mask_model.paint[24, 30]
    with qtbot.waitSignal(canvas.toolChanged, timeout=1000) as blocker:
        QTest.keyClick(canvas, Qt.Key.Key_E)
    assert blocker.args == ["eraser"] and canvas.tool == "eraser"
    canvas.set_brush_size(8)
    _drag(canvas, [_view_pos(canvas, 30, 24)])
    paint = canvas.mask_model.paint
    assert not paint[22:27, 28:33].any()
    assert paint[24, 22] and paint[24, 38]
    QTest.keyClick(canvas, Qt.Key.Key_B)
    assert canvas.tool == "brush" and canvas.brush_size == 20  # each tool keeps its size


def test_bracket_keys_change_the_current_tool_size(canvas, qtbot):
    canvas.set_brush_size(20)
    canvas.setFocus()
    with qtbot.waitSignal(canvas.brushSizeChanged, timeout=1000) as blocker:
        QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert blocker.args[0] > 20 and canvas.brush_size == blocker.args[0]
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == 20
    for _ in range(100):
        QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == 1
    for _ in range(100):
        QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size == 300
    assert canvas.tool_size("eraser") == 30


def test_undo_and_redo(canvas, qtbot):
    canvas.set_brush_size(6)
    _drag(canvas, [_view_pos(canvas, 10, 10)])
    first = canvas.mask_model.paint.copy()
    _drag(canvas, [_view_pos(canvas, 40, 30)])
    with qtbot.waitSignal(canvas.maskChanged, timeout=1000):
        assert canvas.undo()
    assert np.array_equal(canvas.mask_model.paint, first)
    assert canvas.undo() and canvas.mask_model.is_empty
    assert not canvas.undo()
    assert canvas.redo() and np.array_equal(canvas.mask_model.paint, first)
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.mask_model.is_empty
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(canvas.mask_model.paint, first)


def test_overlay_follows_the_mask(canvas):
    canvas.set_brush_size(6)
    _drag(canvas, [_view_pos(canvas, 10, 10)])
    overlay = canvas._overlay._argb
    assert np.array_equal(overlay != 0, canvas.mask_model.paint)
    canvas.undo()
    assert not overlay.any()
    canvas.mask_model.invert()  # edits made on the model directly show up too
    assert (overlay != 0).all()


def test_alt_wheel_changes_size_and_wheel_zooms_under_the_mouse(canvas, qtbot):
    canvas.set_brush_size(20)
    pos = _view_pos(canvas, 16, 12)
    _wheel(canvas, pos, 120, Qt.KeyboardModifier.AltModifier)
    assert canvas.brush_size > 20
    _wheel(canvas, pos, -240, Qt.KeyboardModifier.AltModifier)
    assert canvas.brush_size < 20
    assert canvas.zoom == pytest.approx(1.0)

    before = canvas.image_pos(pos)
    with qtbot.waitSignal(canvas.zoomChanged, timeout=1000) as blocker:
        _wheel(canvas, pos, 120)
    assert blocker.args[0] == pytest.approx(1.25) and canvas.zoom == pytest.approx(1.25)
    after = canvas.image_pos(pos)
    assert abs(after.x() - before.x()) < 1.0 and abs(after.y() - before.y()) < 1.0
    _wheel(canvas, pos, -240)
    assert canvas.zoom < 1.0


def test_zoom_slots_and_fit(canvas):
    canvas.zoom_in()
    assert canvas.zoom == pytest.approx(1.25)
    canvas.zoom_out()
    canvas.zoom_out()
    assert canvas.zoom == pytest.approx(0.8)
    canvas.fit()
    vp = canvas.viewport().rect()
    assert 64 * canvas.zoom <= vp.width() + 1 and 48 * canvas.zoom <= vp.height() + 1
    assert canvas.zoom > 3.0  # 64x48 in a 320x240 view


def test_painting_disabled_ignores_strokes(canvas):
    canvas.painting_enabled = False
    _drag(canvas, [_view_pos(canvas, 20, 20)])
    assert canvas.mask_model.is_empty
    canvas.painting_enabled = True
    _drag(canvas, [_view_pos(canvas, 20, 20)])
    assert not canvas.mask_model.is_empty


def test_middle_button_pans_instead_of_painting(canvas):
    canvas.zoom_in()
    canvas.zoom_in()
    canvas.zoom_in()  # ~1.95x: the image is bigger than the view, so it can scroll
    start = canvas.image_pos(QPointF(160, 120))
    _drag(canvas, [QPointF(160, 120), QPointF(120, 100)], button=Qt.MouseButton.MiddleButton)
    end = canvas.image_pos(QPointF(160, 120))
    assert canvas.mask_model.is_empty
    assert end.x() > start.x() + 10 and end.y() > start.y() + 5


def test_cursor_signal_and_brush_outline(canvas, qtbot):
    canvas.set_brush_size(12)
    pos = _view_pos(canvas, 33, 17)
    with qtbot.waitSignal(canvas.cursorMoved, timeout=1000) as blocker:
        _mouse(canvas, QEvent.Type.MouseMove, pos, NO_BUTTON, NO_BUTTON)
    assert blocker.args == [33, 17]
    cursor = canvas._cursor_item
    assert cursor.isVisible()
    assert cursor.boundingRect().width() >= 12  # scene units = image pixels: true size
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.BlankCursor


def test_set_display_keeps_the_mask_and_compare_splits(canvas):
    canvas.set_brush_size(6)
    _drag(canvas, [_view_pos(canvas, 10, 10)])
    painted = canvas.mask_model.paint.copy()
    odd = np.zeros((60, 80, 1), np.float32)  # not a whole multiple: stretched onto the input
    canvas.set_display(odd)
    assert np.array_equal(canvas.mask_model.paint, painted)
    assert canvas._image_item.sceneBoundingRect().width() == pytest.approx(64)
    assert canvas.image_size == (64, 48) and canvas.display_scale == 1
    canvas.set_compare(_image(), 0.25)
    assert canvas.compare_visible
    assert canvas._compare_clip.rect().width() == pytest.approx(16)
    canvas.set_compare(_image(), None)
    assert not canvas.compare_visible
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_C)
    assert canvas.compare_visible
    QTest.keyRelease(canvas, Qt.Key.Key_C)
    assert not canvas.compare_visible
    canvas.set_compare(None)
    canvas.set_display(None)
    assert not canvas.compare_visible


def test_mask_model_swap_and_validation(canvas):
    m = MaskModel(48, 64)
    known = np.ones((48, 64), bool)
    known[5:9, 5:9] = False
    m.set_from_known(known)
    canvas.set_mask_model(m)
    assert canvas.mask_model is m
    assert np.array_equal(canvas._overlay._argb != 0, ~known)
    with pytest.raises(MaskError):
        canvas.set_mask_model(MaskModel(10, 10))
    with pytest.raises(ImageError):
        canvas.set_image(np.zeros((4, 4, 2), np.float32))


def test_array_to_qimage_grey_and_rgb():
    g = array_to_qimage(np.full((3, 5, 1), 0.5, np.float32))
    assert (g.width(), g.height()) == (5, 3) and g.pixelColor(1, 1).red() == 128
    c = array_to_qimage(np.dstack([np.ones((3, 5)), np.zeros((3, 5)), np.zeros((3, 5))]).astype(np.float32))
    assert c.pixelColor(4, 2).red() == 255 and c.pixelColor(4, 2).green() == 0
    odd = array_to_qimage(np.array([[[np.nan], [np.inf], [-np.inf], [2.0], [-1.0]]], np.float32))
    assert [odd.pixelColor(i, 0).red() for i in range(5)] == [0, 255, 0, 255, 0]


def test_stroke_on_a_large_image(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.set_image(np.full((3000, 4000, 1), 0.5, np.float32))
    with qtbot.waitExposed(c):
        c.show()
    c.fit()
    c.set_brush_size(100)
    points = [QPointF(50 + 10 * k, 60 + 5 * k) for k in range(30)]
    _drag(c, points)
    qtbot.wait(10)
    first, last = c.image_pos(points[0]), c.image_pos(points[-1])
    paint = c.mask_model.paint
    assert paint[int(first.y()), int(first.x())] and paint[int(last.y()), int(last.x())]
    assert not paint[2900:, :200].any()
    assert c.mask_model.undo_count == 1


def test_double_click_still_paints(canvas):
    canvas.set_brush_size(4)
    a, b = _view_pos(canvas, 10, 10), _view_pos(canvas, 40, 30)
    _drag(canvas, [a])
    _mouse(canvas, QEvent.Type.MouseButtonDblClick, b)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, b, LEFT, NO_BUTTON)
    paint = canvas.mask_model.paint
    assert paint[10, 10] and paint[30, 40]
    assert canvas.mask_model.undo_count == 2


def test_canvas_keys_win_over_window_shortcuts_while_focused(qtbot):
    from PySide6.QtGui import QKeySequence, QShortcut
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    c = ImageCanvas(window)
    QVBoxLayout(window).addWidget(c)
    fired = []
    QShortcut(QKeySequence("E"), window).activated.connect(lambda: fired.append("E"))
    QShortcut(QKeySequence("X"), window).activated.connect(lambda: fired.append("X"))
    c.set_image(_image())
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    c.setFocus()
    QTest.keyClick(c, Qt.Key.Key_X)
    assert fired == ["X"]  # shortcuts are live in this window
    QTest.keyClick(c, Qt.Key.Key_E)
    assert c.tool == "eraser" and fired == ["X"]


def test_signals_do_not_drain_the_bool_refcount(canvas):
    # PySide6 6.12.0 + CPython 3.11 drops a reference to True per Python-side emit, and a
    # long painting session then aborts the interpreter; pyproject.toml excludes it.
    import sys
    canvas.set_brush_size(2)
    moves = [_view_pos(canvas, 5 + k % 50, 5 + k % 40) for k in range(300)]
    before = sys.getrefcount(True)
    for p in moves:
        _mouse(canvas, QEvent.Type.MouseMove, p, NO_BUTTON, NO_BUTTON)  # emits cursorMoved
        canvas.set_brush_size(3 if canvas.brush_size == 2 else 2)  # emits brushSizeChanged
    assert sys.getrefcount(True) >= before - 5


# ------------------------------------------------------------------ overlay outline
def _grab(canvas):
    """What the viewport shows, as an HxWx3 uint8 RGB array."""
    img = canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, :3 * w].reshape(h, w, 3).copy()


@pytest.fixture
def grey(qtbot):
    """A flat grey image with a painted 20x20 square at x 20..40, y 10..30."""
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(320, 240)
    c.set_image(np.full((48, 64, 3), 0.5, np.float32))
    with qtbot.waitExposed(c):
        c.show()
    paint = np.zeros((48, 64), bool)
    paint[10:30, 20:40] = True
    c.mask_model.set_paint(paint)
    c.set_overlay_opacity(0.5)
    return c


def _changed(canvas, shot, axis_value, horizontal=True):
    """Viewport pixels over the image, on one scanline (through image y or x = axis_value),
    that are not the image's grey."""
    tr = canvas.viewportTransform()
    w, h = canvas.image_size
    if horizontal:
        line = shot[int(tr.map(QPointF(0, axis_value)).y())]
        lo, hi = tr.map(QPointF(0, 0)).x(), tr.map(QPointF(w, 0)).x()
    else:
        line = shot[:, int(tr.map(QPointF(axis_value, 0)).x())]
        lo, hi = tr.map(QPointF(0, 0)).y(), tr.map(QPointF(0, h)).y()
    on_image = np.zeros(line.shape[0], bool)
    on_image[max(0, math.ceil(lo)):max(0, math.floor(hi))] = True
    assert on_image.any()
    return np.flatnonzero(on_image & (np.abs(line.astype(int) - 128).max(axis=1) > 8))


@pytest.mark.parametrize("zoom", [4.0, 1.0, 0.5])
def test_outline_style_draws_a_one_screen_pixel_boundary(grey, qtbot, zoom):
    grey.set_zoom(zoom)
    grey.centerOn(32, 24)
    fill = _changed(grey, _grab(grey), 20.5)
    assert fill.size >= 20 * zoom - 1    # the fill tints the whole row of the square
    with qtbot.waitSignal(grey.overlayStyleChanged, timeout=1000) as blocker:
        grey.set_overlay_style("outline")
    assert blocker.args == ["outline"] and grey.overlay_style == "outline"
    shot = _grab(grey)
    for horizontal, through in ((True, 20.5), (False, 30.5)):
        marked = _changed(grey, shot, through, horizontal)
        assert marked.size == 2, marked      # one pixel at each edge, whatever the zoom
        lo, hi = (20, 40) if horizontal else (10, 30)
        tr = grey.viewportTransform()
        edge0 = tr.map(QPointF(lo, lo)).x() if horizontal else tr.map(QPointF(lo, lo)).y()
        edge1 = tr.map(QPointF(hi, hi)).x() if horizontal else tr.map(QPointF(hi, hi)).y()
        assert abs(marked[0] - edge0) <= 1.0 and abs(marked[1] - (edge1 - 1)) <= 1.0
    # the square's inside shows the image untouched
    inside = grey.viewportTransform().mapRect(QRectF(22, 12, 16, 16)).toAlignedRect()
    assert (shot[inside.top():inside.bottom(), inside.left():inside.right()] == 128).all()


def test_outline_keeps_a_thin_region_visible_when_zoomed_out(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(200, 150)
    c.set_image(np.full((600, 800, 1), 0.5, np.float32))
    with qtbot.waitExposed(c):
        c.show()
    c.fit()   # 0.24x: a one-pixel column is a quarter of a screen pixel
    paint = np.zeros((600, 800), bool)
    paint[100:500, 401] = True
    c.mask_model.set_paint(paint)
    c.set_overlay_style("outline")
    marked = _changed(c, _grab(c), 300.5)
    assert marked.size == 1


def test_outline_follows_mask_edits_incrementally(grey):
    grey.set_zoom(2.0)
    grey.centerOn(32, 24)
    grey.set_overlay_style("outline")
    _grab(grey)
    overlay = grey._overlay
    full = overlay.outline_pixels_computed
    m = grey.mask_model
    m.begin_stroke("brush")
    m.stroke_to(52.0, 40.0, 3.0)
    m.end_stroke()
    after_edit = _grab(grey)
    assert overlay.outline_pixels_computed - full < full / 4   # only around the new dab
    assert _changed(grey, after_edit, 40.5).size == 2          # the dab's two edges
    assert _changed(grey, after_edit, 20.5).size == 2          # the square's, untouched
    # a from-scratch outline draws exactly the same
    grey.set_overlay_style("fill")
    grey.set_overlay_style("outline")
    assert np.array_equal(_grab(grey), after_edit)
    assert grey.undo()
    assert _changed(grey, _grab(grey), 40.5).size == 0


def test_painting_a_stroke_switches_outline_back_to_fill(grey, qtbot):
    grey.set_zoom(4.0)
    grey.centerOn(32, 24)
    grey.set_overlay_style("outline")
    grey.set_brush_size(4)
    with qtbot.waitSignal(grey.overlayStyleChanged, timeout=1000) as blocker:
        _drag(grey, [_view_pos(grey, 50, 40)])
    assert blocker.args == ["fill"] and grey.overlay_style == "fill"
    assert grey.mask_model.paint[40, 50]
    # a fill again: the inside of the square is tinted
    assert _changed(grey, _grab(grey), 20.5).size >= 70
    with pytest.raises(ValueError):
        grey.set_overlay_style("dotted")


def test_outline_style_while_painting_is_off_stays(grey):
    grey.set_overlay_style("outline")
    grey.painting_enabled = False   # e.g. during a run: clicks do not paint, nor switch
    _drag(grey, [_view_pos(grey, 50, 40)])
    assert grey.overlay_style == "outline"


def test_device_sample_magnified_and_minified():
    paint = np.zeros((8, 10), bool)
    paint[2:4, 3] = True
    up = device_sample(paint, 0, 0, 30, 24, 3.0, 3.0, 0.0, 0.0)
    assert np.array_equal(up, np.repeat(np.repeat(paint, 3, 0), 3, 1))
    # a quarter-size view still sees the one-pixel column (any of its pixels counts)
    down = device_sample(paint, 0, 0, 3, 2, 0.25, 0.25, 0.0, 0.0)
    assert down.tolist() == [[True, False, False], [False, False, False]]
    # off the image is False; the offset moves the image
    shifted = device_sample(paint, 0, 0, 14, 10, 1.0, 1.0, 4.0, 2.0)
    assert shifted[4, 7] and shifted[5, 7] and shifted.sum() == 2
    square = np.pad(np.ones((3, 3), bool), 1)   # with its frame of context
    assert outline_pixels(square).tolist() == [[True] * 3, [True, False, True], [True] * 3]
    assert not outline_pixels(np.ones((5, 5), bool)).any()   # the region goes on past the frame


# ------------------------------------------------------------------- split line
def _split_x(canvas):
    return canvas.viewportTransform().map(QPointF(canvas.compare_split * canvas.image_size[0], 0)).x()


def test_split_line_has_a_handle_and_a_split_cursor(canvas):
    canvas.set_compare(_image(), 0.5)
    assert canvas.split_visible and canvas._split_handle.isVisible()
    x = _split_x(canvas)
    _mouse(canvas, QEvent.Type.MouseMove, QPointF(x + 2, 120), NO_BUTTON, NO_BUTTON)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.SplitHCursor
    assert not canvas._cursor_item.isVisible()
    _mouse(canvas, QEvent.Type.MouseMove, QPointF(x - 30, 120), NO_BUTTON, NO_BUTTON)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.BlankCursor   # the brush again


def test_dragging_the_split_moves_it_and_never_paints(canvas, qtbot):
    canvas.set_compare(_image(), 0.5)
    x = _split_x(canvas)
    target = _view_pos(canvas, 48, 24)
    seen = []
    canvas.splitChanged.connect(seen.append)
    _drag(canvas, [QPointF(x, 120), QPointF((x + target.x()) / 2, 110), QPointF(target.x(), 100)])
    assert canvas.mask_model.is_empty
    assert len(seen) == 2 and seen[0] < seen[1]     # it follows the mouse
    assert seen[-1] == pytest.approx(0.75, abs=1.5 / 64)
    assert canvas.compare_split == pytest.approx(0.75, abs=1.5 / 64)
    assert canvas._compare_clip.rect().width() == pytest.approx(canvas.compare_split * 64)
    assert canvas._split_line.line().x1() == pytest.approx(canvas.compare_split * 64)
    # grabbing it a few pixels off does not make it jump
    before = canvas.compare_split
    x = _split_x(canvas)
    _drag(canvas, [QPointF(x + 4, 120), QPointF(x + 4, 90)])
    assert canvas.compare_split == pytest.approx(before, abs=1e-6)
    # away from the line the left button paints as before
    _drag(canvas, [_view_pos(canvas, 10, 10)])
    assert not canvas.mask_model.is_empty


def test_split_drag_works_while_painting_is_off_and_clamps(canvas, qtbot):
    canvas.painting_enabled = False
    canvas.set_compare(_image(), 0.5)
    x = _split_x(canvas)
    _drag(canvas, [QPointF(x, 120), QPointF(5, 120)])   # past the image's left edge
    assert canvas.compare_split == 0.0
    assert canvas.compare_visible   # still split mode, the line at the edge


def test_set_compare_split_and_hold_c_still_work(canvas, qtbot):
    canvas.set_compare(_image(), 0.5)
    with qtbot.waitSignal(canvas.splitChanged, timeout=1000) as blocker:
        canvas.set_compare_split(0.25)
    assert blocker.args == [0.25]
    assert canvas._compare_clip.rect().width() == pytest.approx(16)
    canvas.set_compare_split(None)
    assert not canvas.compare_visible and not canvas.split_visible
    x = _view_pos(canvas, 16, 24)
    _drag(canvas, [x])    # no line to grab any more: this paints
    assert not canvas.mask_model.is_empty
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_C)
    assert canvas.compare_visible
    QTest.keyRelease(canvas, Qt.Key.Key_C)
    assert not canvas.compare_visible


def test_split_handle_stays_in_view_when_scrolled(canvas):
    canvas.set_compare(_image(), 0.5)
    canvas.set_zoom(8.0)
    canvas.centerOn(32, 40)
    handle = canvas._split_handle.pos()
    assert handle.x() == pytest.approx(32)
    assert abs(handle.y() - canvas.view_center().y()) < 1.0
    _drag(canvas, [QPointF(160, 120), QPointF(160, 200)], button=Qt.MouseButton.MiddleButton)
    assert abs(canvas._split_handle.pos().y() - canvas.view_center().y()) < 1.0


# ------------------------------------------------------------ super-resolution geometry
def test_sr_result_is_shown_at_its_own_pixels(canvas, qtbot):
    canvas.set_brush_size(6)
    _drag(canvas, [_view_pos(canvas, 10, 10)])
    centre_before = canvas.view_center()
    sr = np.zeros((96, 128, 3), np.float32)   # 2x
    with qtbot.waitSignal(canvas.zoomChanged, timeout=1000) as blocker:
        canvas.set_display(sr)
    assert blocker.args[0] == pytest.approx(0.5)
    assert canvas.image_size == (128, 96) and canvas.display_scale == 2
    assert canvas.input_size == (64, 48)
    # the same area stays in view
    c = canvas.view_center()
    assert abs(c.x() - 2 * centre_before.x()) <= 1.0 and abs(c.y() - 2 * centre_before.y()) <= 1.0
    # 100% = one result pixel per screen pixel
    canvas.reset_zoom()
    assert canvas._image_item.sceneBoundingRect().width() == pytest.approx(128)
    pos = _view_pos(canvas, 100, 70)
    with qtbot.waitSignal(canvas.cursorMoved, timeout=1000) as moved:
        _mouse(canvas, QEvent.Type.MouseMove, pos, NO_BUTTON, NO_BUTTON)
    assert moved.args == [100, 70]
    p = canvas.image_pos(pos)
    assert 100 <= p.x() < 101 and 70 <= p.y() < 71
    # no mask over it, and no blind painting
    assert not canvas._overlay.isVisible() and canvas.overlay_visible
    painted = canvas.mask_model.paint.copy()
    _drag(canvas, [_view_pos(canvas, 60, 40)])
    assert np.array_equal(canvas.mask_model.paint, painted)


def test_sr_compare_shows_the_upscaled_input(canvas):
    canvas.set_display(np.zeros((144, 192, 3), np.float32))   # 3x
    canvas.set_compare(_image(), 0.5)
    assert canvas._compare_item.sceneBoundingRect().width() == pytest.approx(192)
    assert canvas._compare_clip.rect().width() == pytest.approx(96)
    x = _split_x(canvas)
    _drag(canvas, [QPointF(x, 120), QPointF(x - 20, 120)])
    assert canvas.compare_split == pytest.approx(0.5 - 20 / canvas.zoom / 192, abs=0.01)
    canvas.set_compare(_image(), None)
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_C)
    assert canvas.compare_visible and canvas._compare_clip.rect().width() == pytest.approx(192)
    QTest.keyRelease(canvas, Qt.Key.Key_C)


def test_back_to_the_input_geometry(canvas, qtbot):
    canvas.set_zoom(2.0)
    canvas.centerOn(20, 30)
    before = canvas.view_center()
    canvas.set_compare(_image(), 0.5)
    canvas.set_display(np.zeros((96, 128, 1), np.float32))
    assert canvas.zoom == pytest.approx(1.0)
    canvas.set_display(np.zeros((96, 128, 1), np.float32))   # another preview: nothing moves
    assert canvas.zoom == pytest.approx(1.0)
    canvas.set_display(None)
    assert canvas.image_size == (64, 48) and canvas.display_scale == 1
    assert canvas.zoom == pytest.approx(2.0)
    c = canvas.view_center()
    assert abs(c.x() - before.x()) <= 1.0 and abs(c.y() - before.y()) <= 1.0
    assert canvas._overlay.isVisible()
    assert canvas._compare_clip.rect().width() == pytest.approx(32)
    # a fitted view stays fitted through both switches
    canvas.fit()
    canvas.set_display(np.zeros((96, 128, 1), np.float32))
    assert canvas.is_fitted and 128 * canvas.zoom <= canvas.viewport().width()
    canvas.set_image(_image(30, 40))
    assert canvas.image_size == (40, 30) and canvas.display_scale == 1
    assert canvas.mask_model.shape == (30, 40)


def test_overlay_hidden_over_sr_stays_as_set(canvas):
    canvas.set_display(np.zeros((96, 128, 1), np.float32))
    assert not canvas._overlay.isVisible()
    canvas.set_overlay_visible(False)
    canvas.set_display(None)
    assert not canvas._overlay.isVisible()
    canvas.set_overlay_visible(True)
    assert canvas._overlay.isVisible()
