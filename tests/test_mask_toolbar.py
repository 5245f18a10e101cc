"""MaskToolBar driven like a user: clicks on its buttons, raw mouse strokes and keys on the canvas."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QHelpEvent, QKeySequence, QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QSlider, QSpinBox, QToolButton, QToolTip

from app.canvas import ImageCanvas
from app.mask_toolbar import MaskToolBar

LEFT = Qt.MouseButton.LeftButton
NO_BUTTON = Qt.MouseButton.NoButton
KEYS = ("undo", "redo", "clear", "invert", "grow", "shrink", "open", "save")


def _mouse(canvas, kind, pos, button=LEFT, buttons=LEFT):
    vp = canvas.viewport()
    p = QPointF(pos)
    ev = QMouseEvent(kind, p, QPointF(vp.mapToGlobal(p.toPoint())), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def _drag(canvas, points):
    _mouse(canvas, QEvent.Type.MouseButtonPress, points[0], LEFT, LEFT)
    for p in points[1:]:
        _mouse(canvas, QEvent.Type.MouseMove, p, NO_BUTTON, LEFT)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1], LEFT, NO_BUTTON)


def _view_pos(canvas, x, y):
    return QPointF(canvas.mapFromScene(QPointF(x, y)))


class Window(QMainWindow):
    """Stands in for the main window: owns the mask actions and records their slots."""

    def __init__(self, keys=KEYS):
        super().__init__()
        self.canvas = ImageCanvas()
        self.canvas.set_image(np.zeros((64, 64, 3), np.float32))
        self.setCentralWidget(self.canvas)
        self.fired: list[str] = []
        self.acts: dict[str, QAction] = {}
        for key in keys:
            a = QAction(key.capitalize(), self)
            a.triggered.connect(lambda _c=False, k=key: self._run(k))
            self.addAction(a)
            self.acts[key] = a
        if "undo" in self.acts:
            self.acts["undo"].setShortcut(QKeySequence("Ctrl+Z"))
        self.bar = MaskToolBar(self.canvas, self.acts, self)
        self.addToolBar(self.bar)

    def _run(self, key):
        self.fired.append(key)
        if key == "clear":
            self.canvas.mask_model.clear()


def _show(qtbot, w):
    qtbot.addWidget(w)
    w.resize(900, 420)
    with qtbot.waitExposed(w):
        w.show()
    w.canvas.reset_zoom()
    w.canvas.centerOn(32, 32)
    return w


@pytest.fixture
def win(qtbot):
    return _show(qtbot, Window())


def _button(bar, name) -> QToolButton:
    b = bar.findChild(QToolButton, name)
    assert b is not None, name
    return b


def _click(widget):
    QTest.mouseClick(widget, LEFT, Qt.KeyboardModifier.NoModifier, widget.rect().center())


def test_eraser_button_sets_the_tool_and_a_stroke_then_erases(win):
    c, bar = win.canvas, win.bar
    brush, eraser = _button(bar, "maskBrushButton"), _button(bar, "maskEraserButton")
    assert brush.isChecked() and not eraser.isChecked()
    c.set_brush_size(20)
    _drag(c, [_view_pos(c, 32, 32)])
    assert c.mask_model.paint[32, 32]

    _click(eraser)
    assert c.tool == "eraser" and eraser.isChecked() and not brush.isChecked()
    c.set_brush_size(8)
    _drag(c, [_view_pos(c, 32, 32)])
    paint = c.mask_model.paint
    assert not paint[30:35, 30:35].any()
    assert paint[32, 24] and paint[32, 40]  # only the eraser's disc went

    _click(brush)
    assert c.tool == "brush" and brush.isChecked() and not eraser.isChecked()


def test_tool_keys_on_the_canvas_move_the_buttons(win):
    c, bar = win.canvas, win.bar
    c.setFocus()
    QTest.keyClick(c, Qt.Key.Key_E)
    assert c.tool == "eraser"
    assert _button(bar, "maskEraserButton").isChecked() and not _button(bar, "maskBrushButton").isChecked()
    QTest.keyClick(c, Qt.Key.Key_B)
    assert _button(bar, "maskBrushButton").isChecked() and not _button(bar, "maskEraserButton").isChecked()


def test_size_controls_and_canvas_size_follow_each_other(win):
    c, bar = win.canvas, win.bar
    slider = bar.findChild(QSlider, "maskSizeSlider")
    spin = bar.findChild(QSpinBox, "maskSizeSpin")
    assert (slider.minimum(), slider.maximum()) == (1, 300) and (spin.minimum(), spin.maximum()) == (1, 300)
    assert slider.value() == spin.value() == c.brush_size

    slider.setValue(120)
    assert c.brush_size == 120 and spin.value() == 120
    spin.setValue(7)
    assert c.brush_size == 7 and slider.value() == 7
    QTest.keyClick(slider, Qt.Key.Key_End)  # the user's own input on the slider
    assert c.brush_size == 300 and spin.value() == 300

    c.set_brush_size(45)
    assert slider.value() == spin.value() == 45
    c.setFocus()
    QTest.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size > 45 and slider.value() == spin.value() == c.brush_size
    QTest.keyClick(c, Qt.Key.Key_BracketLeft)
    assert slider.value() == spin.value() == 45

    vp = c.viewport()
    p = _view_pos(c, 32, 32)
    QApplication.sendEvent(vp, QWheelEvent(p, QPointF(vp.mapToGlobal(p.toPoint())), QPoint(0, 0),
                                           QPoint(0, 120), NO_BUTTON, Qt.KeyboardModifier.AltModifier,
                                           Qt.ScrollPhase.NoScrollPhase, False))
    assert c.brush_size > 45 and slider.value() == c.brush_size


def test_size_controls_show_the_current_tools_size(win):
    c, bar = win.canvas, win.bar
    slider = bar.findChild(QSlider, "maskSizeSlider")
    c.set_brush_size(20)
    c.set_tool_size("eraser", 200)
    assert slider.value() == 20
    _click(_button(bar, "maskEraserButton"))
    assert slider.value() == bar.findChild(QSpinBox, "maskSizeSpin").value() == 200
    slider.setValue(90)
    assert c.tool_size("eraser") == 90 and c.tool_size("brush") == 20
    QTest.keyClick(c, Qt.Key.Key_B)
    assert slider.value() == 20


def test_opacity_slider_sets_the_overlay_and_reports_it(win, qtbot):
    c, bar = win.canvas, win.bar
    slider = bar.findChild(QSlider, "maskOpacitySlider")
    label = bar.findChild(QLabel, "maskOpacityLabel")
    assert (slider.minimum(), slider.maximum()) == (0, 100)
    assert slider.value() == round(c.overlay_opacity * 100) and label.text() == f"{slider.value()}%"

    with qtbot.waitSignal(bar.opacityChanged, timeout=1000) as blocker:
        slider.setValue(80)
    assert blocker.args[0] == pytest.approx(0.8)
    assert c.overlay_opacity == pytest.approx(0.8) and label.text() == "80%"

    with qtbot.assertNotEmitted(bar.opacityChanged):
        bar.set_opacity(0.25)  # restoring a saved value must not write it back
    assert slider.value() == 25 and label.text() == "25%"
    assert c.overlay_opacity == pytest.approx(0.25)


def test_the_windows_actions_are_on_the_bar_and_run_their_own_slots(win):
    c, bar = win.canvas, win.bar
    for key in KEYS:
        assert win.acts[key] in bar.actions() and bar.window_action(key) is win.acts[key]
        assert bar.widgetForAction(win.acts[key]).objectName() == f"mask{key.capitalize()}Button"
    c.set_brush_size(10)
    _drag(c, [_view_pos(c, 20, 20)])
    assert not c.mask_model.is_empty

    _click(_button(bar, "maskClearButton"))
    assert win.fired == ["clear"] and c.mask_model.is_empty

    # the window's enable rule holds on the bar: a disabled action cannot be run from it
    win.acts["invert"].setEnabled(False)
    invert = _button(bar, "maskInvertButton")
    assert not invert.isEnabled()
    _click(invert)
    assert win.fired == ["clear"]
    win.acts["invert"].setEnabled(True)
    _click(invert)
    assert win.fired == ["clear", "invert"]


def test_missing_action_keys_are_not_shown_and_unknown_ones_are_refused(qtbot):
    w = _show(qtbot, Window(keys=("clear", "save")))
    names = {b.objectName() for b in w.bar.findChildren(QToolButton)}
    assert {"maskClearButton", "maskSaveButton", "maskBrushButton", "maskEraserButton"} <= names
    assert not names & {"maskUndoButton", "maskRedoButton", "maskOpenButton", "maskInvertButton"}
    assert w.bar.window_action("undo") is None
    with pytest.raises(ValueError, match="celar"):
        MaskToolBar(w.canvas, {"celar": QAction("Clear")})


def test_tooltips_name_the_shortcuts(win):
    bar = win.bar
    assert "(B)" in _button(bar, "maskBrushButton").toolTip()
    assert "(E)" in _button(bar, "maskEraserButton").toolTip()
    tip = bar.findChild(QSlider, "maskSizeSlider").toolTip()
    assert "[" in tip and "]" in tip
    # the window's action keeps its own tooltip; the bar adds its shortcut when showing it
    undo = _button(bar, "maskUndoButton")
    win.acts["undo"].setEnabled(False)  # each change of the action resets the button's tooltip
    win.acts["undo"].setEnabled(True)
    QApplication.sendEvent(undo, QHelpEvent(QEvent.Type.ToolTip, QPoint(2, 2), undo.mapToGlobal(QPoint(2, 2))))
    shortcut = QKeySequence("Ctrl+Z").toString(QKeySequence.SequenceFormat.NativeText)
    assert QToolTip.text() == f"Undo ({shortcut})"
    assert win.acts["undo"].toolTip() == "Undo"
    QToolTip.hideText()


def test_disabled_editing_disables_the_brush_controls(win):
    c, bar = win.canvas, win.bar
    brush_controls = [_button(bar, "maskBrushButton"), _button(bar, "maskEraserButton"),
                      bar.findChild(QSlider, "maskSizeSlider"), bar.findChild(QSpinBox, "maskSizeSpin")]
    c.set_painting_enabled(False)   # a run uses the mask: the window turns both off
    bar.set_editing_enabled(False)
    assert not bar.editing_enabled
    assert not any(w.isEnabled() for w in brush_controls)
    assert bar.findChild(QSlider, "maskOpacitySlider").isEnabled()  # a view setting, still usable
    _click(_button(bar, "maskEraserButton"))
    assert c.tool == "brush"

    c.set_tool("eraser")   # the canvas' own E key still works: the bar keeps showing the truth
    assert _button(bar, "maskEraserButton").isChecked()
    bar.set_editing_enabled(True)
    assert all(w.isEnabled() for w in brush_controls)


def test_a_bar_made_while_painting_is_off_starts_disabled(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.set_image(np.zeros((64, 64, 3), np.float32))
    c.set_painting_enabled(False)
    bar = MaskToolBar(c, {})
    qtbot.addWidget(bar)
    assert not bar.editing_enabled and not bar.findChild(QSlider, "maskSizeSlider").isEnabled()


def test_clicking_the_sliders_leaves_the_keys_to_the_canvas(qtbot):
    w = Window()
    qtbot.addWidget(w)
    w.resize(900, 420)
    with qtbot.waitActive(w):
        w.show()
        w.activateWindow()
    w.canvas.setFocus()
    assert w.canvas.hasFocus()
    for name in ("maskSizeSlider", "maskOpacitySlider"):
        _click(w.bar.findChild(QSlider, name))
        assert w.canvas.hasFocus(), name
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_E)
    assert w.canvas.tool == "eraser"
