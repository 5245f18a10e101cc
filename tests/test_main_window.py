"""The main window end to end: open, run, scrub, use an iterate, save, close mid-run."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from app.main_window import MainWindow
from engine.imageio import load_image
from tests.helpers import TINY_QT as TINY, smooth_image, tiny_config
from tests.qt_helpers import answers, window  # noqa: F401  (pytest fixtures)



pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def _cfg(task="denoise", **kw):
    base = dict(TINY, iterations=30, preview_every=5, snapshot_every=5, es_window=5, seed=1, pick="ema")
    base.update(kw)
    return tiny_config(task, **base)


def _png(path: Path, h=32, w=32, seed=0) -> Path:
    img = smooth_image(h, w, seed=seed)
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def _run_to_end(qtbot, w, cfg, timeout=60_000):
    w.panel.set_config(cfg)
    with qtbot.waitSignal(w.controller.finished, timeout=timeout) as blocker:
        assert w.start_run()
    return blocker.args[0]


def qimage_array(img: QImage) -> np.ndarray:
    """A QImage back as float32 HxWx3 in [0, 1] (8-bit, so within 0.5/255 of its source)."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    raw = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, img.bytesPerLine())
    return raw[:, :w * 3].reshape(h, w, 3).astype(np.float32) / 255.0


def _spy_display(w):
    """What the canvas was given to show; the worker's QImages come back as arrays."""
    shown: list[np.ndarray | None] = []
    original = w.canvas.set_display

    def spy(array):
        shown.append(qimage_array(array) if isinstance(array, QImage) else array)
        original(array)

    w.canvas.set_display = spy
    return shown


def test_opening_an_image_sets_title_size_and_recent(window, tmp_path):
    p = _png(tmp_path / "cat.png", 32, 48)
    assert window.open_path(str(p))
    assert window.windowTitle() == "cat.png - DIP Studio"
    assert window.size_label.text().startswith("48 x 32")
    assert window.canvas.image_size == (48, 32)
    assert window.recent.paths()[0] == str(p.resolve())
    assert window.act_run.isEnabled() and not window.act_save.isEnabled()


def test_the_panels_settings_reach_the_document_at_once_and_an_invalid_one_is_refused(window, answers, tmp_path):
    # the rooms read the settings from the document: every edit in the panel is there at once
    window.panel.iterations_spin.setValue(77)
    assert window.doc.config().iterations == 77
    window.panel.set_config(_cfg(iterations=12))
    assert window.doc.config() == window.panel.config()
    window.panel.advanced_box.lr_edit.setText("fast")
    assert window.doc.settings is None and not window.panel.is_valid()
    assert window.open_path(str(_png(tmp_path / "a.png")))
    assert not window.start_run()
    assert answers.warning_titles == ["Settings"] and answers.warnings == [window.panel.error_message()]


def test_an_unreadable_file_is_reported_and_loses_nothing(window, answers, tmp_path):
    good = _png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    assert window.open_path(str(good))
    assert not window.open_path(str(bad))
    assert answers.warnings and "bad.png" in answers.warnings[-1]
    assert window.windowTitle() == "good.png - DIP Studio"
    assert window.canvas.image_size == (32, 32)


def test_a_short_run_fills_the_loss_curve_and_the_preview(qtbot, window, tmp_path):
    p = _png(tmp_path / "in.png")
    window.open_path(str(p))
    shown = _spy_display(window)
    # stop 'never': every step, and the config's own pick (EMA) is the result
    assert _run_to_end(qtbot, window, _cfg(stop="never")) == "done"
    steps, losses = window.plots.loss_data()
    assert steps.tolist() == list(range(1, 31))
    assert np.isfinite(losses).all()
    assert len(window.plots.loss_curve.getData()[0]) > 0
    # the canvas showed the live preview, ending with the last step
    assert shown and shown[-1] is not None and shown[-1].shape == (32, 32, 3)
    run = window.controller.run
    np.testing.assert_allclose(shown[-1], run.result("last"), atol=0.5 / 255 + 1e-6)
    # the preset's pick (EMA) is the result, unsaved
    np.testing.assert_allclose(window.result, run.result("ema"), atol=1e-6)
    assert window.windowTitle() == "in.png* - DIP Studio"
    assert window.timeline.steps() == window.controller.history.steps
    assert window.act_save.isEnabled() and window.act_continue.isEnabled()
    assert window.progress_bar.value() == 30


def test_scrub_use_this_iterate_and_save_exactly_that_snapshot(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run_to_end(qtbot, window, _cfg())
    hist = window.controller.history
    assert len(hist.steps) >= 3
    window.act_show_ema.setChecked(False)  # the run ended on its best iterate, an average: show outputs
    shown = _spy_display(window)
    # scrub with the slider to the second kept snapshot
    window.timeline.slider.setValue(1)
    step = hist.steps[1]
    assert window.timeline.current_step() == step
    assert f"step {step} of 30" in window.timeline.label.text()
    snap = hist.get(step)
    np.testing.assert_array_equal(shown[-1], snap.output)
    assert window.plots.shown_step == step

    window.timeline.use_button.click()
    assert window.windowTitle() == "in.png* - DIP Studio"
    out = tmp_path / "result.png"
    assert window.save_result(str(out))
    assert window.windowTitle() == "in.png - DIP Studio"
    saved = load_image(out).array
    assert saved.shape == snap.output.shape
    assert np.abs(saved - snap.output).max() <= 1 / 255 + 1e-6


def test_clicking_the_curve_jumps_to_the_nearest_snapshot(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run_to_end(qtbot, window, _cfg())
    hist = window.controller.history
    # a snapshot with an EMA (the pinned suggested iterate may carry none)
    target = next(s for s in hist.steps[1:] if hist.get(s).ema is not None)
    window.plots.stepClicked.emit(target)
    assert window.plots.shown_step == target
    assert window.timeline.current_step() == target
    # the EMA toggle shows (and "use" takes) the EMA of that snapshot
    window.act_show_ema.setChecked(True)
    assert window.use_iterate()
    np.testing.assert_array_equal(window.result, hist.get(target).ema)


def test_stop_then_continue_extends_the_curve(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_config(_cfg(iterations=100_000))
    with qtbot.waitSignal(window.controller.ready, timeout=60_000):
        window.start_run()
    qtbot.waitUntil(lambda: len(window.plots.loss) >= 3, timeout=30_000)
    with qtbot.waitSignal(window.controller.finished, timeout=30_000) as blocker:
        window.act_stop.trigger()
    assert blocker.args == ["stopped"]
    stopped_at = window.controller.run.step
    assert window.result is not None and window.timeline.isEnabled()
    window.continue_spin.setValue(6)
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.continue_run()
    assert window.controller.run.step == stopped_at + 6
    assert window.plots.loss_data()[0].tolist() == list(range(1, stopped_at + 7))


def test_inpaint_needs_painted_pixels_and_then_runs_on_the_mask(qtbot, window, answers, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_config(_cfg("inpaint", iterations=10))
    assert window.canvas.painting_enabled
    assert not window.start_run()
    assert answers.warnings and "Paint" in answers.warnings[-1]
    known = np.ones((32, 32), bool)
    known[10:20, 10:20] = False
    window.canvas.mask_model.set_from_known(known)
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.start_run()
    assert not window.canvas.painting_enabled or window.panel.task() == "inpaint"
    np.testing.assert_array_equal(window.controller.run.task.known, known)


def test_a_failed_run_shows_the_message_and_keeps_the_image(qtbot, window, answers, tmp_path, monkeypatch):
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_config(_cfg())
    from engine.errors import OutOfMemory
    from engine.run import Restoration

    def boom(*_a, **_k):
        raise OutOfMemory("cpu ran out of memory at 32x32: try a smaller image")

    monkeypatch.setattr(Restoration, "__init__", boom)
    with qtbot.waitSignal(window.controller.failed, timeout=30_000):
        window.start_run()
    assert answers.warnings and "ran out of memory" in answers.warnings[-1]
    assert window.controller.state == "failed"
    assert window.canvas.image_size == (32, 32) and window.act_run.isEnabled()


def test_region_result_is_pasted_back_into_the_whole_image(qtbot, window, tmp_path):
    p = _png(tmp_path / "big.png", 48, 48, seed=3)
    window.open_path(str(p))
    assert window.set_region(8, 16, 32, 24)
    assert window.canvas.image_size == (32, 24)
    _run_to_end(qtbot, window, _cfg(iterations=10))
    out = tmp_path / "pasted.png"
    assert window.save_result(str(out))
    saved = load_image(out).array
    full = load_image(p).array
    assert saved.shape == full.shape
    outside = np.ones(full.shape[:2], bool)
    outside[16:40, 8:40] = False
    np.testing.assert_array_equal(saved[outside], full[outside])
    assert np.abs(saved[16:40, 8:40] - window.result).max() <= 1 / 255 + 1e-6


def test_closing_mid_run_stops_the_thread_cleanly(qtbot, answers, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_path(str(_png(tmp_path / "in.png")))
    w.panel.set_config(_cfg(iterations=100_000))
    with qtbot.waitSignal(w.controller.ready, timeout=60_000):
        w.start_run()
    run = w.controller.run
    qtbot.waitUntil(lambda: run.step >= 2, timeout=30_000)
    answers.answer = lambda text: QMessageBox.Yes if "running" in text else QMessageBox.Discard
    # the window does not wait for the step in flight: it stops the run, closes once it ended
    assert not w.close()
    assert any("running" in q for q in answers.questions)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)
    assert w.controller.thread_finished()
    assert not w.controller.active


def test_closing_with_an_unsaved_result_can_be_cancelled(qtbot, window, answers, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run_to_end(qtbot, window, _cfg(iterations=5))
    answers.answer = QMessageBox.Cancel
    assert not window.close()
    assert window.isVisible() and window.result is not None
    assert any("not been saved" in q for q in answers.questions)


def test_a_known_reference_fills_the_psnr_curve(qtbot, window, tmp_path):
    clean = _png(tmp_path / "clean.png", seed=5)
    noisy_arr = np.clip(load_image(clean).array + np.random.default_rng(0).normal(0, 0.1, (32, 32, 3)), 0, 1)
    noisy = tmp_path / "noisy.png"
    Image.fromarray((noisy_arr * 255 + 0.5).astype(np.uint8)).save(noisy)
    assert window.open_path(str(noisy), str(clean))
    _run_to_end(qtbot, window, _cfg())
    ps = window.plots.psnr_data()
    assert ps["output"][0].tolist() == [5, 10, 15, 20, 25, 30]
    assert len(ps["ema"][0]) == 6 and np.isfinite(ps["output"][1]).all()
    assert window.plots.psnr_plot.isVisible()
    assert window.plots.psnr_input is not None
    assert "PSNR" in window.progress_label.text()
    # the CSV has one row per step, with PSNR where it was measured
    csv = tmp_path / "loss.csv"
    assert window.export_csv(str(csv))
    rows = csv.read_text().splitlines()
    assert rows[0] == "step,loss,psnr_output,psnr_ema" and len(rows) == 31
    assert rows[5].split(",")[0] == "5" and rows[5].split(",")[2] != ""
    assert rows[4].split(",")[2] == ""


def test_arrow_keys_step_through_snapshots(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run_to_end(qtbot, window, _cfg())
    hist = window.controller.history
    steps = hist.steps
    window.act_show_ema.setChecked(False)  # the run ended on its best iterate, an average: show outputs
    shown = _spy_display(window)
    window.timeline.slider.setFocus()
    qtbot.keyClick(window.timeline.slider, Qt.Key_Home)
    assert window.timeline.current_step() == steps[0]
    qtbot.keyClick(window.timeline.slider, Qt.Key_Right)
    assert window.timeline.current_step() == steps[1]
    np.testing.assert_array_equal(shown[-1], hist.get(steps[1]).output)
    assert window.timeline.label.text() == f"step {steps[1]} of 30 (snapshot 2/{len(steps)})"


def test_curves_keep_every_point_of_a_long_run_and_redraw_in_batches(qtbot):
    from app.plots import RunPlots

    plots = RunPlots()
    qtbot.addWidget(plots)
    plots.reset(total=20_000)
    rng = np.random.default_rng(0)
    losses = np.exp(-np.linspace(0, 5, 20_000)) * (1 + 0.1 * rng.random(20_000))
    for k in range(0, 20_000, 100):
        plots.append_losses(np.arange(k + 1, k + 101), losses[k:k + 100])
    plots.flush()
    steps, got = plots.loss_data()
    assert steps.tolist() == list(range(1, 20_001))
    np.testing.assert_allclose(got, losses)
    assert plots.redraws == 1          # 200 batches, one redraw
    x, _ = plots.loss_curve.getData()
    assert len(x) > 0


def test_recent_files_keep_eight_most_recent_without_duplicates(tmp_path):
    from app.recent import RecentFiles

    r = RecentFiles()
    for i in range(10):
        r.add(str(tmp_path / f"{i}.png"))
    r.add(str(tmp_path / "5.png"))
    paths = r.paths()
    assert len(paths) == 8
    assert Path(paths[0]).name == "5.png" and Path(paths[1]).name == "9.png"
    assert len(set(paths)) == 8


def test_dropping_an_image_opens_it(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    p = _png(tmp_path / "dropped.png", 40, 24)
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p))])
    ev = QDropEvent(QPointF(10, 10), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(ev)
    qtbot.waitUntil(lambda: window.windowTitle() == "dropped.png - DIP Studio", timeout=5_000)
    assert window.canvas.image_size == (24, 40)


def test_simulated_dropout_sets_inpainting_with_its_mask_and_reference(qtbot, window, tmp_path):
    from app.simulate_dialog import simulate

    window.open_path(str(_png(tmp_path / "clean.png")))
    sim = simulate(window.doc.image, "drop", fraction=0.3, seed=1)
    window.apply_simulated(sim)
    assert window.panel.task() == "inpaint"
    np.testing.assert_array_equal(window.canvas.mask_model.known, sim.mask)
    assert window.doc.reference() is not None
    assert window.canvas.painting_enabled


def test_preferences_survive_a_restart(qtbot, answers, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_path(str(_png(tmp_path / "in.png")))
    w.canvas.set_brush_size(17)
    w.act_show_ema.setChecked(True)
    assert w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.canvas.brush_size == 17
    assert w2.act_show_ema.isChecked()
    assert w2.files.last_dir() == str(tmp_path.resolve())
    assert Path(w2.recent.paths()[0]).name == "in.png"


def test_a_wrong_size_mask_is_refused_and_the_painted_one_kept(window, answers, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_task("inpaint")
    known = np.ones((32, 32), bool)
    known[:4, :4] = False
    window.canvas.mask_model.set_from_known(known)
    small = tmp_path / "mask.png"
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(small)
    assert not window.open_mask(str(small))
    assert answers.warnings and "16x16" in answers.warnings[-1]
    np.testing.assert_array_equal(window.canvas.mask_model.known, known)
    # a mask of the right size replaces it
    good = tmp_path / "good.png"
    m = np.full((32, 32), 255, np.uint8)
    m[20:, 20:] = 0
    Image.fromarray(m).save(good)
    assert window.open_mask(str(good))
    np.testing.assert_array_equal(window.canvas.mask_model.known, m > 127)


def test_dragging_a_region_on_the_canvas_crops_the_work_image(qtbot, window, tmp_path):
    from PySide6.QtCore import QPointF

    window.resize(900, 700)
    window.open_path(str(_png(tmp_path / "big.png", 48, 64)))
    qtbot.wait(50)
    window.act_region.trigger()
    assert window.region_picker.active
    vp = window.canvas.viewport()
    a = window.canvas.mapFromScene(QPointF(10, 8))
    b = window.canvas.mapFromScene(QPointF(42, 40))
    qtbot.mousePress(vp, Qt.LeftButton, pos=a)
    qtbot.mouseMove(vp, pos=b)
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=b)
    assert not window.region_picker.active
    x, y, w, h = window.doc.region
    assert abs(x - 10) <= 1 and abs(y - 8) <= 1 and abs(x + w - 42) <= 1 and abs(y + h - 40) <= 1
    assert window.canvas.image_size == (w, h)
    assert window.act_whole.isEnabled()
    window.act_whole.trigger()
    assert window.doc.region is None and window.canvas.image_size == (64, 48)


def test_bundled_sample_opens_ready_to_run(window):
    from app.main_window import SAMPLE_IMAGE, SAMPLE_REFERENCE
    assert window.open_path(str(SAMPLE_IMAGE), str(SAMPLE_REFERENCE))
    window.use_sample_settings()
    cfg = window.panel.config()
    assert cfg.task == "denoise" and cfg.preset == "denoise-fast"
    assert "sample_noisy" in window.windowTitle()


@pytest.mark.parametrize("task", ["denoise", "superres", "flash"])
def test_the_wall_time_sentence_is_visible_without_scrolling_at_1000_px(qtbot, window, tmp_path, task):
    """On a 1000 px high screen the sentence used to sit below the settings column's fold
    (flash and its guide row pushed it out of sight; other tasks ended at the edge)."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QScrollArea

    window.resize(1280, 1000)
    window.open_path(str(_png(tmp_path / "in.png", 96, 128)))
    window.panel.set_task(task)
    label = window.panel.wall_time_label
    qtbot.waitUntil(lambda: label.isVisible() and "about" in label.text(), timeout=5_000)
    qtbot.wait(50)
    scroll = window.panel.findChild(QScrollArea)
    viewport = scroll.viewport()
    assert scroll.verticalScrollBar().value() == 0
    top_left = label.mapTo(viewport, QPoint(0, 0))
    shown = QRect(top_left, label.size())
    assert viewport.rect().contains(shown), (shown, viewport.rect())


def test_the_panel_says_what_noise_the_photo_has(window, tmp_path):
    """Issue 20: the noise measured on the opened photo is shown for denoising, in words."""
    from PIL import Image
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:96] / 96
    clean = np.stack([0.3 + 0.3 * x, 0.5 - 0.2 * y, 0.45 + 0 * x], -1)
    n = rng.normal(size=(98, 98, 3))
    corr = sum(n[i:i + 96, j:j + 96] for i in range(3) for j in range(3))
    noisy = np.clip(clean + corr / corr.std() * 8 / 255, 0, 1)
    p = tmp_path / "camera.png"
    Image.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(p)
    assert window.open_path(str(p))
    panel = window.panel
    assert panel.task() == "denoise" and panel.noise_label.isVisible()
    text = panel.noise_label.text()
    assert "correlated over ~" in text and "held-out blocks" in text
    panel.set_task("inpaint")
    assert not panel.noise_label.isVisible()
    panel.set_task("denoise")
    assert panel.noise_label.isVisible()
    white = np.clip(clean + rng.normal(0, 20 / 255, clean.shape), 0, 1)
    q = tmp_path / "added.png"
    Image.fromarray((white * 255 + 0.5).astype(np.uint8)).save(q)
    assert window.open_path(str(q))
    assert "independent from pixel to pixel" in panel.noise_label.text()
