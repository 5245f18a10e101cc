"""The app under faults (issue 7): Continue after a cancelled close, Ctrl+Z while Undo is
disabled, no waits on the GUI thread, and the autosave of the mask and the result."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.main_window import MainWindow
from app.controller import RunController
from engine.run import Restoration
from tests.helpers import TINY_QT as TINY, smooth_image, tiny_config
from tests.qt_helpers import answers, window  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.usefixtures("restore_torch_threads")

LEFT = Qt.MouseButton.LeftButton


def _cfg(task="denoise", **kw):
    base = dict(TINY, iterations=30, preview_every=5, snapshot_every=5, es_window=5, seed=1, stop="never")
    base.update(kw)
    return tiny_config(task, **base)


def _png(path: Path, seed=0) -> Path:
    img = smooth_image(32, 32, seed=seed)
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def _mouse(canvas, kind, pos, button, buttons):
    vp = canvas.viewport()
    p = QPointF(pos)
    QApplication.sendEvent(vp, QMouseEvent(kind, p, QPointF(vp.mapToGlobal(p.toPoint())), button, buttons,
                                           Qt.KeyboardModifier.NoModifier))


def _stroke(canvas, x0, y0, x1, y1):
    """A brush stroke dragged over image points (x0, y0) -> (x1, y1) with raw mouse events."""
    a, b = QPointF(canvas.mapFromScene(QPointF(x0, y0))), QPointF(canvas.mapFromScene(QPointF(x1, y1)))
    _mouse(canvas, QEvent.Type.MouseButtonPress, a, LEFT, LEFT)
    _mouse(canvas, QEvent.Type.MouseMove, b, Qt.MouseButton.NoButton, LEFT)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, b, LEFT, Qt.MouseButton.NoButton)


def _slow_steps(monkeypatch, seconds: float):
    """Every Adam step takes ``seconds`` (a large image on a slow device)."""
    real = Restoration._one_step

    def slow(self):
        time.sleep(seconds)
        return real(self)

    monkeypatch.setattr(Restoration, "_one_step", slow)


# ---- Continue after a cancelled close --------------------------------------------------
def test_continue_after_a_close_cancelled_on_save_runs(qtbot, window, answers, tmp_path):
    """Run, Continue, close, "Stop it?" Yes, "Save?" Cancel, Continue: it must run."""
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_config(_cfg(iterations=5))
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        window.start_run()
    window.continue_spin.setValue(1_000_000)
    assert window.continue_run()
    qtbot.waitUntil(lambda: window.controller.run.step >= 8, timeout=30_000)
    answers.answer = lambda text: QMessageBox.Yes if "running" in text else QMessageBox.Cancel
    window.close()
    qtbot.waitUntil(lambda: any("not been saved" in q for q in answers.questions), timeout=30_000)
    assert window.isVisible()
    assert window.controller.state == "stopped" and window.act_continue.isEnabled()
    at = window.controller.run.step
    window.continue_spin.setValue(4)
    with qtbot.waitSignal(window.controller.finished, timeout=20_000) as blocker:
        assert window.continue_run()
    assert blocker.args == ["done"]
    assert window.controller.run.step == at + 4
    assert window.controller.state == "done"


def test_continue_after_shutdown_restarts_the_thread(qtbot):
    ctl = RunController()
    try:
        with qtbot.waitSignal(ctl.ready, timeout=60_000):
            ctl.start(_cfg(iterations=100_000), smooth_image(32, 32))
        qtbot.waitUntil(lambda: ctl.run.step >= 2, timeout=30_000)
        assert ctl.shutdown(10_000)
        assert ctl.can_continue
        at = ctl.run.step
        with qtbot.waitSignal(ctl.finished, timeout=20_000) as blocker:
            ctl.continue_run(3)
        assert blocker.args == ["done"] and ctl.run.step == at + 3
    finally:
        ctl.shutdown(10_000)
        ctl.discard(10_000)


# ---- Ctrl+Z while the Undo action is disabled ----------------------------------------
def _painted_window(window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_config(_cfg("inpaint", iterations=100_000))
    window.canvas.set_brush_size(6)
    _stroke(window.canvas, 8, 8, 24, 8)
    assert window.canvas.mask_model.undo_count == 1
    window.activateWindow()
    window.canvas.setFocus()
    return window.canvas.mask_model.paint.copy()


def test_ctrl_z_does_not_undo_the_mask_during_a_run(qtbot, window, tmp_path):
    painted = _painted_window(window, tmp_path)
    assert painted.any()
    with qtbot.waitSignal(window.controller.ready, timeout=60_000):
        assert window.start_run()
    assert not window.act_undo.isEnabled()
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.canvas.mask_model.paint, painted)
    with qtbot.waitSignal(window.controller.finished, timeout=30_000):
        window.stop_run()
    # after the run the action is back, and the key undoes the stroke
    assert window.act_undo.isEnabled()
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.canvas.mask_model.paint.any()


def test_ctrl_z_does_not_undo_the_mask_outside_inpainting(qtbot, window, tmp_path):
    painted = _painted_window(window, tmp_path)
    window.panel.set_task("denoise")
    assert not window.act_undo.isEnabled()
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.canvas.mask_model.paint, painted)


# ---- no waits on the GUI thread -------------------------------------------------------
def test_opening_another_image_mid_step_does_not_block_the_window(qtbot, window, answers, tmp_path, monkeypatch):
    window.open_path(str(_png(tmp_path / "in.png")))
    _slow_steps(monkeypatch, 2.0)
    window.panel.set_config(_cfg(iterations=100_000))
    with qtbot.waitSignal(window.controller.ready, timeout=60_000):
        window.start_run()
    qtbot.wait(300)   # the first (slow) step is in flight
    other = _png(tmp_path / "other.png", seed=5)
    answers.answer = lambda text: QMessageBox.Yes if "running" in text else QMessageBox.Discard
    t0 = time.monotonic()
    window.open_path(str(other))
    assert time.monotonic() - t0 < 1.0            # no wait for the step in flight
    assert any("running" in q for q in answers.questions)
    # the image opens once the run has ended
    qtbot.waitUntil(lambda: window.doc.loaded is not None and Path(window.doc.loaded.path).name == "other.png",
                    timeout=30_000)
    assert not window.controller.active


def test_closing_mid_step_does_not_block_the_window(qtbot, answers, tmp_path, monkeypatch):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_path(str(_png(tmp_path / "in.png")))
    _slow_steps(monkeypatch, 2.0)
    w.panel.set_config(_cfg(iterations=100_000))
    with qtbot.waitSignal(w.controller.ready, timeout=60_000):
        w.start_run()
    qtbot.wait(300)
    answers.answer = lambda text: QMessageBox.Yes if "running" in text else QMessageBox.Discard
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 1.0
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)
    assert w.controller.thread_finished()


def test_discard_mid_step_returns_at_once_and_frees_the_run_later(qtbot, monkeypatch):
    _slow_steps(monkeypatch, 2.0)
    ctl = RunController()
    with qtbot.waitSignal(ctl.ready, timeout=60_000):
        ctl.start(_cfg(iterations=100_000), smooth_image(32, 32))
    run = ctl.run
    qtbot.wait(300)
    t0 = time.monotonic()
    ctl.discard()
    assert time.monotonic() - t0 < 1.0
    assert ctl.state == "idle" and ctl.run is None and ctl.orphans == 1
    qtbot.waitUntil(lambda: ctl.orphans == 0, timeout=30_000)
    assert run.net is None    # closed once its thread ended


# ---- autosave of the mask and the result ----------------------------------------------
def test_a_painted_mask_survives_a_killed_app(qtbot, answers, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_path(str(_png(tmp_path / "in.png")))
    w.panel.set_task("inpaint")
    w.canvas.set_brush_size(6)
    _stroke(w.canvas, 4, 20, 28, 20)
    painted = w.canvas.mask_model.paint.copy()
    assert painted.any()
    qtbot.waitUntil(w.autosave.exists, timeout=5_000)   # written a moment after the stroke
    # the app is killed here (no closeEvent); the next start offers the work back
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    answers.answer = QMessageBox.Yes
    assert w2.offer_restore()
    assert any("in.png" in q and "mask" in q for q in answers.questions)
    assert Path(w2.doc.loaded.path).name == "in.png"
    assert w2.panel.task() == "inpaint"
    np.testing.assert_array_equal(w2.canvas.mask_model.paint, painted)


def test_an_unsaved_result_survives_a_killed_app_and_a_clean_close_forgets(qtbot, answers, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_path(str(_png(tmp_path / "in.png")))
    w.panel.set_config(_cfg(iterations=10))
    with qtbot.waitSignal(w.controller.finished, timeout=60_000):
        w.start_run()
    result = w.result.copy()
    assert w.autosave_now()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    answers.answer = QMessageBox.Yes
    assert w2.offer_restore()
    np.testing.assert_array_equal(w2.result, result)
    assert w2.dirty and w2.act_save.isEnabled()
    # saving it, the result leaves the autosave; a clean close removes the rest
    assert w2.save_result(str(tmp_path / "out.png"))
    assert w2.autosave_now()
    assert not w2.autosave.exists()      # no mask painted, result saved: nothing to keep
    answers.answer = QMessageBox.Discard
    w.controller.discard()
    assert w.close()
    w3 = MainWindow()
    qtbot.addWidget(w3)
    assert not w3.autosave.exists() and not w3.offer_restore()


def test_declining_the_restore_forgets_it(qtbot, answers, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.open_path(str(_png(tmp_path / "in.png")))
    w.panel.set_task("inpaint")
    known = np.ones((32, 32), bool)
    known[4:9, 4:9] = False
    w.canvas.mask_model.set_from_known(known)
    assert w.autosave_now() and w.autosave.exists()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    answers.answer = QMessageBox.No
    assert not w2.offer_restore()
    assert not w2.autosave.exists()


# ---- previews are converted for the screen in the worker, not on the GUI thread ---------
def test_live_previews_reach_the_canvas_as_ready_qimages(qtbot, window, tmp_path, monkeypatch):
    import threading

    import app.canvas as canvas_mod
    from PySide6.QtGui import QImage

    gui = threading.get_ident()
    gui_conversions: list[tuple] = []
    real_convert = canvas_mod.display_qimage

    def convert(array):
        if threading.get_ident() == gui:
            gui_conversions.append(np.shape(array))
        return real_convert(array)

    window.open_path(str(_png(tmp_path / "in.png")))
    monkeypatch.setattr(canvas_mod, "display_qimage", convert)
    given: list = []
    real_set = window.canvas.set_display
    window.canvas.set_display = lambda a: (given.append(a), real_set(a))
    window.panel.set_config(_cfg(iterations=40, stop="auto", pick="auto"))
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        window.start_run()
    live = [a for a in given if a is not None]
    assert len(live) >= 2
    assert all(isinstance(a, QImage) for a in live)      # previews and the final result
    assert gui_conversions == []
    # and the image is right: the last one is the result, at 8 bits
    img = live[-1].convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    raw = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, img.bytesPerLine())
    np.testing.assert_allclose(raw[:, :w * 3].reshape(h, w, 3) / 255.0, window.result, atol=0.5 / 255 + 1e-6)
