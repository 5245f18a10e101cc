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
