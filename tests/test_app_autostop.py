"""The app and the automatic stop (issue 6): the check box, the marker and its reason, the
best iterate as the result, Continue after a stop, the user's pick winning, a run that
never fitted."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from app.main_window import MainWindow
from app.settings_panel import SettingsPanel
from app.controller import RunController
from tests.helpers import TINY_QT as TINY, smooth_image, tiny_config
from tests.test_main_window import _spy_display
from tests.qt_helpers import Answers, window  # noqa: F401  (window: a pytest fixture)

pytestmark = pytest.mark.usefixtures("restore_torch_threads")

# a look-ahead short enough that a tiny run stops by itself after ~100 steps (< 1 s)
QUICK_STOP = dict(stop_patience=10, stop_patience_ratio=0.0)


def _cfg(task="denoise", **kw):
    base = dict(TINY, iterations=400, preview_every=5, snapshot_every=5, es_window=5, seed=1, **QUICK_STOP)
    base.update(kw)
    return tiny_config(task, **base)


def _noisy(h=32, w=32, seed=0) -> np.ndarray:
    img = smooth_image(h, w)
    return np.clip(img + np.random.default_rng(seed).normal(0, 0.1, img.shape), 0, 1).astype(np.float32)


def _png(path: Path) -> Path:
    Image.fromarray((_noisy() * 255 + 0.5).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def answers(monkeypatch):
    return Answers(monkeypatch, question=QMessageBox.Discard)


def _run(qtbot, w, cfg, timeout=60_000) -> str:
    w.panel.set_config(cfg)
    with qtbot.waitSignal(w.controller.finished, timeout=timeout) as blocker:
        assert w.start_run()
    return blocker.args[0]


# ---- the check box ------------------------------------------------------------------
def test_the_check_box_sets_the_stop_mode_and_is_remembered(qtbot, tmp_path):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert panel.auto_stop_check.isChecked() and panel.config().stop == "auto"
    assert panel._form.labelForField(panel.iterations_spin).text() == "Max steps:"
    qtbot.mouseClick(panel.auto_stop_check, Qt.LeftButton, pos=QPoint(6, panel.auto_stop_check.height() // 2))
    assert not panel.auto_stop_check.isChecked()
    assert panel.config().stop == "never"
    assert panel._form.labelForField(panel.iterations_spin).text() == "Steps:"
    # another preset keeps the user's choice
    panel.preset_combo.setCurrentIndex(panel.preset_combo.count() - 1)
    assert panel.config().stop == "never"
    s = QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat)
    panel.save_state(s)
    s.sync()
    other = SettingsPanel()
    qtbot.addWidget(other)
    assert other.config().stop == "auto"
    other.restore_state(QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat))
    assert not other.auto_stop_check.isChecked() and other.config().stop == "never"


def test_the_check_box_survives_a_restart_of_the_window(qtbot, answers, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.panel.auto_stop_check.setChecked(False)
    assert w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert not w2.panel.auto_stop_check.isChecked()
    w2.use_sample_settings()   # the sample's preset does not switch it back on
    assert w2.panel.config().stop == "never"


# ---- the worker -----------------------------------------------------------------------
def test_the_worker_reports_the_best_iterate_its_kind_and_why_it_stopped(qtbot):
    ctl = RunController()
    got: list[tuple] = []
    results: list[tuple] = []
    ctl.suggested.connect(lambda s, v, k: got.append((s, v, k)))
    ctl.result.connect(lambda s, a: results.append((s, a)))
    try:
        with qtbot.waitSignal(ctl.finished, timeout=60_000) as blocker:
            ctl.start(_cfg(), _noisy())
        run = ctl.run
        assert blocker.args == ["done"]          # it ended by itself, not on request
        assert run.stopped_early and run.step < 400
        assert got and got[-1][0] == run.suggested[0] and got[-1][2] == run.suggested_kind
        assert got[-1][1] == pytest.approx(run.suggested[1])
        info = ctl.last_summary
        assert info["how"] == "rule" and info["reason"] == run.stop_reason
        assert info["suggested"][0] == run.suggested[0] and not info["failed_to_fit"]
        # the result is the best iterate, and reports its step
        assert results[-1][0] == run.suggested[0]
        np.testing.assert_array_equal(results[-1][1], run.result("auto"))
    finally:
        ctl.shutdown(10_000)
        ctl.discard(10_000)


def test_a_user_stop_is_not_reported_as_the_rule(qtbot):
    ctl = RunController()
    try:
        with qtbot.waitSignal(ctl.ready, timeout=60_000):
            ctl.start(_cfg(iterations=100_000, stop="never"), _noisy())
        qtbot.waitUntil(lambda: ctl.run.step >= 3, timeout=30_000)
        with qtbot.waitSignal(ctl.finished, timeout=30_000) as blocker:
            ctl.stop()
        assert blocker.args == ["stopped"]
        assert ctl.last_summary["how"] == "request"
    finally:
        ctl.shutdown(10_000)
        ctl.discard(10_000)


# ---- the window ---------------------------------------------------------------------
def test_a_run_that_stops_by_itself_shows_its_best_iterate_and_why(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    shown = _spy_display(window)
    assert _run(qtbot, window, _cfg()) == "done"
    run = window.controller.run
    best, _score = run.suggested
    assert run.stopped_early and run.step < 400
    # the result is the rule's best iterate, and the canvas shows it
    assert window.doc.result.step == best
    np.testing.assert_array_equal(window.result, run.result("auto"))
    np.testing.assert_allclose(shown[-1], window.result, atol=0.5 / 255 + 1e-6)
    kind = "moving average" if run.suggested_kind == "ema" else "output"
    assert f"best iterate ({kind}) at step {best}" in window.result_label.text()
    assert window.act_show_ema.isChecked() == (run.suggested_kind == "ema")   # the view says which
    # the status bar says where and why
    msg = window.statusBar().currentMessage()
    assert msg.startswith(f"Stopped at the best iterate (step {best}")
    assert run.stop_reason in msg
    # the marker sits at the best step with its label; the tooltip explains
    window.plots.flush()
    assert window.plots.suggested_step == best
    line = window.plots._suggested_lines[0]
    assert line.isVisible() and line.value() == best
    short = "avg" if run.suggested_kind == "ema" else "out"
    assert line.label.toPlainText() == f"best @{best} ({short})"
    assert run.stop_reason in window.plots.view.toolTip()
    assert "stopped by itself" in window.progress_bar.format()
    assert window.act_save.isEnabled() and window.act_continue.isEnabled()


def test_continue_after_an_automatic_stop_goes_on(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run(qtbot, window, _cfg())
    run = window.controller.run
    at = run.step
    window.continue_spin.setValue(15)
    with qtbot.waitSignal(window.controller.finished, timeout=60_000) as blocker:
        assert window.continue_run()
    assert blocker.args == ["done"]
    assert at < run.step <= at + 15
    assert window.plots.loss_data()[0].tolist() == list(range(1, run.step + 1))
    assert window.doc.result.step == run.suggested[0]


def test_the_users_pick_wins_over_the_rule_after_continue(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run(qtbot, window, _cfg())
    hist = window.controller.history
    mine = hist.steps[2]
    assert mine != window.controller.run.suggested[0]
    assert window.show_snapshot(mine)
    window.timeline.use_button.click()
    chosen = window.result.copy()
    assert window.doc.result.step == mine
    window.continue_spin.setValue(15)
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.continue_run()
    assert window.doc.result.step == mine
    np.testing.assert_array_equal(window.result, chosen)
    assert "your choice" in window.result_label.text()


def test_stop_never_runs_every_step_but_still_marks_the_best(qtbot, window, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    window.panel.set_config(_cfg(iterations=120))
    window.panel.auto_stop_check.setChecked(False)
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.start_run()
    run = window.controller.run
    assert run.step == 120 and not run.stopped_early
    window.plots.flush()
    assert window.plots.suggested_step == run.suggested[0]
    assert window.statusBar().currentMessage().startswith("Done: 120 steps")


def test_a_run_that_never_fitted_is_not_presented_as_a_result(qtbot, window, answers, tmp_path):
    window.open_path(str(_png(tmp_path / "in.png")))
    _run(qtbot, window, _cfg(iterations=60, lr=10.0, backtrack_db=None))
    assert window.controller.run.failed_to_fit
    assert answers.warnings and "did not fit" in answers.warning_titles[-1]
    assert window.result is None and not window.act_save.isEnabled()
    assert "did not fit" in window.result_label.text()
    assert "failed to fit" in window.progress_bar.format()


def test_the_change_rule_shows_how_much_the_fill_still_moves_and_why_it_stopped(qtbot, window, tmp_path):
    """Noise-free inpainting (issue 14): while it runs the status bar says how much the filled
    area still changes; at the end it says the visible-change reason. The look-back it names is
    the one the stop uses: 42 asked is 40 used (a multiple of 4)."""
    window.open_path(str(_png(tmp_path / "in.png")))
    known = np.ones((32, 32), bool)
    known[10:20, 10:20] = False
    window.canvas.mask_model.set_from_known(known)
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    cfg = _cfg("inpaint", iterations=600, stop_rule="change", change_steps=42, change_db=36.0,
               holdout=0.0, pick="ema", lr_schedule="cosine")
    assert _run(qtbot, window, cfg) == "done"
    moving = [m for m in messages if m.startswith("The filled area still changes")]
    assert moving and "per 40 steps" in moving[0] and "stops once that is under 1.6 %" in moving[0]
    assert window.controller.run.stopped_early
    assert "the filled area changed by less than" in window.statusBar().currentMessage()


# ---- seeds averaged after the watched run (app/seed_worker.py) --------------------------
def test_seeds_run_after_the_watched_one_and_the_result_is_their_mean(qtbot, window, tmp_path):
    from engine.run import Restoration
    from engine.seeds import member_seed

    w = window
    w.open_path(str(_png(tmp_path / "in.png")))
    noisy = w.doc.image
    cfg = _cfg(seeds=3)
    seen, statuses = [], []
    w.controller.seeds.connect(lambda d, t, s: seen.append((d, t, s)))
    w.controller.seeds.connect(lambda *_: statuses.append(w.statusBar().currentMessage()))
    assert _run(qtbot, w, cfg) == "done"
    assert seen[0] == (1, 3, 0) and seen[-1] == (3, 3, -1)
    assert any(s.startswith("Averaging 3 seeds") for s in statuses)
    assert w.controller.last_summary["seeds"] == 3
    # the result is the mean of the three seeds' picks, each what it is alone
    picks = []
    for k in range(3):
        run = Restoration(cfg.replace(seed=member_seed(cfg.seed, k)), noisy)
        for _ in run.steps():
            pass
        picks.append(run.result(cfg.pick))
    np.testing.assert_allclose(w.doc.result.array, np.mean(picks, axis=0), atol=2e-3)
    assert "the mean of 3 seeds" in w.doc.result.what
    assert "mean of 3 seeds" in w.statusBar().currentMessage()
    # the run list's time holds the seeds' phase too
    assert w.doc.runs.records[-1].seconds > w.controller.run.elapsed > 0


def test_a_stop_while_seeds_run_keeps_the_watched_seeds_result(qtbot, window, tmp_path, monkeypatch):
    import app.seed_worker as seed_mod
    from engine.seeds import Seeds

    w = window

    class StoppedMidway(Seeds):
        def steps(self):
            for i, item in enumerate(super().steps()):
                if i == 3:   # Stop lands while the extra seeds run (the worker's stop is thread-safe)
                    w.controller._worker.request_stop()
                yield item

    monkeypatch.setattr(seed_mod, "Seeds", StoppedMidway)
    w.open_path(str(_png(tmp_path / "in.png")))
    cfg = _cfg(seeds=4)
    assert _run(qtbot, w, cfg) == "done"
    run = w.controller.run
    np.testing.assert_array_equal(w.doc.result.array, run.result(cfg.pick))
    assert w.controller.last_summary["seeds"] == 1
    assert "mean of" not in w.doc.result.what


def test_a_failing_extra_seed_keeps_the_watched_seeds_result(qtbot, window, tmp_path, monkeypatch):
    import app.seed_worker as seed_mod

    def broken(*a, **k):
        raise MemoryError("no room for three more networks")

    monkeypatch.setattr(seed_mod, "Seeds", broken)
    w = window
    w.open_path(str(_png(tmp_path / "in.png")))
    cfg = _cfg(seeds=2)
    assert _run(qtbot, w, cfg) == "done"
    np.testing.assert_array_equal(w.doc.result.array, w.controller.run.result(cfg.pick))
    assert w.controller.last_summary["seeds"] == 1 and w.controller.state == "done"
