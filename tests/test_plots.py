"""The loss plot's log axis: the labels pyqtgraph really draws stay few, short, distinct
and apart, whatever the loss spans."""
import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtGui import QImage, QPainter

from app.plots import LogLossAxis, RunPlots, log_tick_labels


@pytest.fixture
def plots(qtbot):
    p = RunPlots()
    qtbot.addWidget(p)
    p.resize(600, 250)
    with qtbot.waitExposed(p):
        p.show()
    return p


def _feed(plots, qtbot, hi, lo, n=1000):
    """A loss curve falling from 10**hi to 10**lo, drawn."""
    plots.reset(total=n)
    plots.append_losses(np.arange(1, n + 1), np.logspace(hi, lo, n))
    plots.flush()
    qtbot.wait(20)


def _drawn(plots):
    """The loss axis's labels as pyqtgraph lays them out: [(log10 at its position, text, rect)]."""
    ax = plots.loss_plot.getAxis("left")
    img = QImage(16, 16, QImage.Format.Format_ARGB32)
    painter = QPainter(img)
    try:
        specs = ax.generateDrawSpecs(painter)
    finally:
        painter.end()
    assert specs is not None
    r0, r1 = ax.range
    height = ax.mapRectFromParent(ax.geometry()).height()
    out = []
    for rect, _flags, text in specs[2]:
        y = rect.center().y()
        out.append((r0 + (height - y) * (r1 - r0) / height, text, rect))
    return out


def _check_readable(labels, min_gap):
    texts = [t for _, t, _ in labels]
    assert len(set(texts)) == len(texts), texts
    # each label names the value where it is drawn (within a few pixels' worth)
    for at, text, _ in labels:
        assert abs(math.log10(float(text)) - at) < 0.08, (text, at)
    # no two labels closer than the minimum spacing, so none overlap
    ys = sorted(rect.center().y() for _, _, rect in labels)
    assert all(b - a >= min_gap - 0.5 for a, b in zip(ys, ys[1:])), ys


@pytest.mark.parametrize("hi, lo", [(-1, -4), (-2, -3), (-1.3, -2.7), (-1.6, -2.4), (0, -6)])
def test_loss_axis_labels_are_few_short_and_apart(plots, qtbot, hi, lo):
    _feed(plots, qtbot, hi, lo)
    labels = _drawn(plots)
    texts = [t for _, t, _ in labels]
    assert 2 <= len(texts) <= 6, texts
    assert all(len(t) <= 5 for t in texts), texts    # "1e-3", "5e-2": no "0.0001"
    _check_readable(labels, plots.loss_plot.getAxis("left").min_spacing)


def test_wide_span_labels_only_decades(plots, qtbot):
    _feed(plots, qtbot, -1, -4)
    values = [float(t) for _, t, _ in _drawn(plots)]
    assert all(abs(math.log10(v) - round(math.log10(v))) < 1e-9 for v in values), values
    assert {1e-1, 1e-2, 1e-3, 1e-4} <= set(values)


def test_under_two_decades_adds_2_and_5(plots, qtbot):
    _feed(plots, qtbot, -2, -3)
    texts = [t for _, t, _ in _drawn(plots)]
    assert "2e-3" in texts and "5e-3" in texts


@pytest.mark.parametrize("hi, lo", [(-3.0, -3.2), (math.log10(1.02e-3), -3.0)])
def test_short_span_still_has_two_distinct_labels(plots, qtbot, hi, lo):
    _feed(plots, qtbot, hi, lo)
    labels = _drawn(plots)
    assert len(labels) >= 2, [t for _, t, _ in labels]
    _check_readable(labels, plots.loss_plot.getAxis("left").min_spacing)


def test_short_axis_thins_decades(plots, qtbot):
    plots.resize(600, 130)
    qtbot.wait(20)
    _feed(plots, qtbot, 0, -8)
    labels = _drawn(plots)
    assert 2 <= len(labels) <= 4, [t for _, t, _ in labels]
    _check_readable(labels, plots.loss_plot.getAxis("left").min_spacing)


def test_log_tick_labels_stay_distinct_and_short():
    assert log_tick_labels([-3, math.log10(2e-3), math.log10(5e-3), -2, -1, 0, 1]) == \
        ["1e-3", "2e-3", "5e-3", "1e-2", "1e-1", "1", "10"]
    assert log_tick_labels([math.log10(v) for v in (1.5, 2.5, 50)]) == ["1.5", "2.5", "50"]
    close = [math.log10(v) for v in (1.05e-3, 1.1e-3, 1.15e-3)]
    assert log_tick_labels(close) == ["1.05e-3", "1.1e-3", "1.15e-3"]


def test_axis_is_plain_outside_log_mode():
    ax = LogLossAxis("left")
    ax.setLogMode(False)
    levels = ax.tickValues(0.0, 10.0, 200)
    assert levels and any(2.0 in vals or 5.0 in vals for _, vals in levels)
    assert ax.tickStrings([2.0, 4.0], 1.0, 2.0) == ["2", "4"]


@pytest.mark.parametrize("step", [3, 50, 97, 100])
def test_best_marker_label_stays_inside_the_plot(plots, qtbot, step):
    """The best iterate's label reads whole wherever the marker is: near the right edge it
    sits left of the line (it used to be cut off there, reading "be")."""
    _feed(plots, qtbot, 0, -2, n=100)
    plots.set_suggested(step, f"best @{step} (avg)")
    plots.flush()
    qtbot.wait(20)
    for plot, line in zip((plots.loss_plot, plots.psnr_plot), plots._suggested_lines):
        if not plot.isVisible():
            continue
        view = plot.getViewBox().sceneBoundingRect()
        label = line.label.sceneBoundingRect()
        assert line.label.toPlainText() == f"best @{step} (avg)"
        assert view.left() - 1 <= label.left() and label.right() <= view.right() + 1, (label, view)
    # the label follows the view: narrowing the x axis to the left keeps it inside
    plots.set_total(step + 2)
    qtbot.wait(20)
    view = plots.loss_plot.getViewBox().sceneBoundingRect()
    label = plots._suggested_lines[0].label.sceneBoundingRect()
    assert view.left() - 1 <= label.left() and label.right() <= view.right() + 1, (label, view)
