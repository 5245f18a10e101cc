"""SideBySideView driven like a user: wheel and middle-button drags on either side."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.compare_view import SideBySideView

LEFT = Qt.MouseButton.LeftButton
MIDDLE = Qt.MouseButton.MiddleButton
NO_BUTTON = Qt.MouseButton.NoButton


def _image(h=60, w=80, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _mouse(canvas, kind, pos, button, buttons):
    vp = canvas.viewport()
    p = QPointF(pos)
    ev = QMouseEvent(kind, p, QPointF(vp.mapToGlobal(p.toPoint())), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def _drag(canvas, points, button):
    _mouse(canvas, QEvent.Type.MouseButtonPress, points[0], button, button)
    for p in points[1:]:
        _mouse(canvas, QEvent.Type.MouseMove, p, NO_BUTTON, button)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1], button, NO_BUTTON)


def _wheel(canvas, pos, dy):
    vp = canvas.viewport()
    p = QPointF(pos)
    ev = QWheelEvent(p, QPointF(vp.mapToGlobal(p.toPoint())), QPoint(0, 0), QPoint(0, dy),
                     NO_BUTTON, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


@pytest.fixture
def view(qtbot):
    v = SideBySideView()
    qtbot.addWidget(v)
    v.resize(640, 300)
    v.set_images(_image(seed=1), _image(seed=2), "run 1", "run 2")
    with qtbot.waitExposed(v):
        v.show()
    return v


def _centres_match(view, tol=1.0):
    a, b = view.left.view_center(), view.right.view_center()
    return abs(a.x() - b.x()) <= tol and abs(a.y() - b.y()) <= tol


def test_titles_and_fit_on_first_show(view):
    assert view.left_title.text() == "run 1" and view.right_title.text() == "run 2"
    for canvas in (view.left, view.right):
        vp = canvas.viewport().rect()
        assert canvas.is_fitted
        assert 80 * canvas.zoom <= vp.width() and 60 * canvas.zoom <= vp.height()
        assert max(80 * canvas.zoom / vp.width(), 60 * canvas.zoom / vp.height()) > 0.9
    assert view.left.zoom == pytest.approx(view.right.zoom)


def test_shown_before_images_fits_too(qtbot):
    v = SideBySideView()
    qtbot.addWidget(v)
    v.resize(640, 300)
    with qtbot.waitExposed(v):
        v.show()
    v.set_images(_image(), _image(seed=3))
    assert v.left.zoom > 2.0 and v.left.zoom == pytest.approx(v.right.zoom)
    assert not v.left_title.isVisible()


@pytest.mark.parametrize("src_name", ["left", "right"])
def test_wheel_zoom_and_pan_follow_on_the_other_side(view, src_name):
    src = getattr(view, src_name)
    dst = view.right if src is view.left else view.left
    pos = QPointF(src.viewport().width() * 0.3, src.viewport().height() * 0.4)
    fitted = src.zoom
    _wheel(src, pos, 360)
    assert src.zoom == pytest.approx(fitted * 1.25 ** 3) and dst.zoom == pytest.approx(src.zoom)
    assert not dst.is_fitted
    assert _centres_match(view)
    before = dst.view_center()
    _drag(src, [QPointF(150, 120), QPointF(110, 90)], MIDDLE)
    after = dst.view_center()
    assert after.x() > before.x() + 3 and after.y() > before.y() + 2
    assert _centres_match(view)


def test_fit_and_different_sizes_keep_the_same_area(view, qtbot):
    view.set_images(_image(60, 80), _image(120, 160, seed=4))   # e.g. a 2x result on the right
    view.left.set_zoom(view.left.zoom * 2)
    assert view.right.zoom == pytest.approx(view.left.zoom / 2)
    a, b = view.left.view_center(), view.right.view_center()
    assert abs(2 * a.x() - b.x()) <= 2.0 and abs(2 * a.y() - b.y()) <= 2.0
    view.right.fit()
    assert view.left.is_fitted


def test_sides_are_read_only(view):
    for canvas in (view.left, view.right):
        _drag(canvas, [QPointF(100, 100), QPointF(140, 120)], LEFT)
        assert canvas.mask_model.is_empty
        assert not canvas._overlay.isVisible()


def test_qimage_inputs(view):
    img = QImage(40, 30, QImage.Format.Format_RGB32)
    img.fill(Qt.GlobalColor.red)
    view.set_images(img, img)
    assert view.left.image_size == (40, 30) and view.right.image_size == (40, 30)
