"""ImageCanvas driven like a user: raw mouse, wheel and key events on the viewport (labelme style)."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.canvas import ImageCanvas, array_to_qimage
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
    big = np.zeros((96, 128, 1), np.float32)  # e.g. a 2x super-resolved output
    canvas.set_display(big)
    assert np.array_equal(canvas.mask_model.paint, painted)
    assert canvas._image_item.sceneBoundingRect().width() == pytest.approx(64)
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
