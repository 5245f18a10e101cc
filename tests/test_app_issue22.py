"""The app's items of issue 22: the pre-image curve's axis reads the values the Progress plot
reads; the time is one estimate in one wording; the run list and the Batch window say what a
tiled run and a photo's units did; an interrupted tiled job reopened from a project says why
Continue is off."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from app.classifier_fields import ExperimentCurve
from tests.qt_helpers import answers, window  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def _labels(curve):
    ax = curve.getAxis("left")
    lo, hi = curve.getViewBox().viewRange()[1]
    levels = ax.tickValues(lo, hi, 150)
    return [s for _, vals in levels[:1] for s in ax.tickStrings(vals, ax.autoSIPrefixScale * ax.scale, 1)]


def test_the_preimage_curve_labels_its_own_values_after_an_actmax_run(qtbot):
    curve = ExperimentCurve()
    qtbot.addWidget(curve)
    curve.resize(300, 160)
    curve.show()
    curve.reset("actmax")                             # activations up to 33 on a linear axis
    curve.append(np.arange(1, 41), -np.linspace(1.0, 33.0, 40))
    qtbot.wait(50)
    curve.reset("preimage")                           # then a pre-image: log axis
    qtbot.wait(50)
    assert _labels(curve) and all(float(s) <= 10 for s in _labels(curve)), _labels(curve)
    curve.append(np.arange(1, 41), np.linspace(0.08, 0.07, 40))
    qtbot.wait(50)
    labels = _labels(curve)
    assert labels and all(s.endswith("e-2") for s in labels), labels


def test_the_time_is_one_estimate_in_one_wording(qtbot, window, tmp_path, monkeypatch):
    """The panel said "about 5 h 30 min, at most 22 h 10 min" while the status bar said "These
    settings may take 1331 min" for the same plan."""
    import dataclasses

    from PIL import Image

    from app import job_plan
    from engine.tiling import LONG_PLAN_S
    from tests.helpers import TINY_QT, smooth_image, tiny_config

    real = job_plan.plan_job
    monkeypatch.setattr(job_plan, "plan_job", lambda *a, **k: dataclasses.replace(
        real(*a, **k), unit_seconds=tuple(LONG_PLAN_S for _ in real(*a, **k).units),
        unit_seconds_max=tuple(4 * LONG_PLAN_S for _ in real(*a, **k).units)))
    w = window
    w.panel.set_config(tiny_config("denoise", **TINY_QT, iterations=12))
    w.panel.set_tile(64)
    path = tmp_path / "photo.png"
    Image.fromarray((smooth_image(96, 128) * 255).astype(np.uint8)).save(path)
    assert w.open_path(str(path))
    status = w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: "tiles of" in w.panel.wall_time_label.text(), timeout=5_000)
    shown = w.panel.wall_time_label.text().rstrip(".")
    assert "about 6 h, at most 24 h" in shown
    assert shown[1:] in status and " min on this device" not in status


def test_a_stopped_tiled_run_says_where_it_stopped_and_keeps_its_thumbnail(qtbot, window, tmp_path):
    """The run list said "you stopped it at 784" (the steps of all tiles summed) while the
    progress bar said tile 3 at step 109; run 1's thumbnail turned to "no image" once run 2
    took the memory budget."""
    from PIL import Image

    from app.run_list import COL_PSNR, COL_RUN, COL_STOP, COL_TIME
    from app.runs import stop_summary
    from tests.helpers import TINY_QT, smooth_image, tiny_config

    w = window
    path = tmp_path / "photo.png"
    Image.fromarray((smooth_image(96, 128) * 255).astype(np.uint8)).save(path)
    assert w.open_path(str(path))
    w.panel.set_config(tiny_config("denoise", **TINY_QT, iterations=60, stop="never", preview_every=5))
    w.panel.set_tile(64)
    qtbot.waitUntil(lambda: "tiles of" in w.panel.wall_time_label.text(), timeout=5_000)
    assert w.start_run()
    qtbot.waitUntil(lambda: w.controller.run is not None and w.controller.run.done_units >= 1
                    and w.controller.run.run is not None and w.controller.run.run.step >= 5, timeout=120_000)
    with qtbot.waitSignal(w.controller.finished, timeout=60_000):
        w.stop_run()
    job = w.controller.run
    i = job.states.index("running")
    (rec,) = w.doc.runs.records
    assert stop_summary(rec) == f"you stopped it in tile {i + 1}/6 at step {job.run.step}"
    view = w.run_list
    item = view.tree.topLevelItem(0)
    assert item.text(COL_STOP) == stop_summary(rec)
    thumb = item.icon(COL_RUN).cacheKey()
    assert thumb != view._placeholder.cacheKey()
    # reopened from a project, Continue is off and says why (the project keeps no networks)
    from app.main_window import MainWindow

    proj = tmp_path / "stopped.dipproj"
    assert w.save_project(str(proj))
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    assert w2.open_path(str(proj))
    assert not w2.act_continue.isEnabled()
    why = w2.continue_button.toolTip()
    assert f"stopped in tile {i + 1}/6 at step {job.run.step}" in why and "not its networks" in why
    assert "not its networks" in w2.statusBar().currentMessage()
    assert w2.doc.runs.records[0].stop_where == rec.stop_where
    w2.close()
    w.doc.runs.budget_bytes = rec.nbytes            # room for one image: the next run's takes it
    from app.runs import RunRecord
    w.doc.runs.add(RunRecord(id=0, config=rec.config, result=rec.result.copy(), steps=3, stop_how="limit"))
    assert w.doc.runs.records[0].result is None
    assert view.tree.topLevelItem(0).icon(COL_RUN).cacheKey() == thumb
    # time and PSNR in view without scrolling sideways in the dock's width
    header = view.tree.header()
    for col in (COL_TIME, COL_PSNR):             # within a 360 px dock (a laptop's), whatever else
        assert header.sectionPosition(col) + header.sectionSize(col) <= 340


def test_the_batch_window_says_which_seed_runs_and_shows_a_whole_failure_reason(qtbot):
    """A photo's step count went backwards (488, then 338) without saying a new seed or unit
    began; failure reasons were cut off in the narrow column."""
    from app.batch_window import BatchWindow
    from tests.helpers import TINY_QT, tiny_config

    w = BatchWindow(lambda: tiny_config("denoise", **TINY_QT), None)
    qtbot.addWidget(w)
    w.resize(700, 400)
    w.show()
    base = {"kind": "progress", "job": 0, "name": "p.png", "unit": 0, "count": 1, "total": 3000, "loss": 0.1,
            "best": None, "state": "running", "seconds": 1.0, "seeds": 4, "pid": 1}
    w._on_event({**base, "step": 488, "seed_index": 0})
    assert w.table.item(0, 2).text().startswith("seed 1/4: step 488/3000")
    w._on_event({**base, "step": 338, "seed_index": 1})
    assert w.table.item(0, 2).text().startswith("seed 2/4: step 338/3000")
    w._on_event({**base, "count": 6, "unit": 2, "step": 12, "seed_index": 0, "seeds": 1})
    assert w.table.item(0, 2).text().startswith("tile 3/6: step 12/3000")
    reason = ("mask /photos/masks/p_mask.png is 640x480 but the image is 4000x3000 (W x H); every photo needs a "
              "mask of its own size")
    w._on_event({"kind": "image", "index": 1, "name": "q.png", "status": "failed", "reason": reason,
                 "output": "", "steps": [], "seconds": 0.0, "units": 0, "units_done": 0})
    item = w.table.item(1, 2)
    assert item.text() == reason and item.toolTip() == reason
    rect = w.table.visualItemRect(item)
    needed = w.table.fontMetrics().boundingRect(
        0, 0, rect.width(), 10_000, int(item.textAlignment()) | 0x1000, reason).height()   # 0x1000: word wrap
    assert rect.height() >= needed - 2
    w.shutdown()
