"""Live curves of a run: the loss (log scale) and, with a known reference, PSNR.

Data arrives in batches from the worker. It is appended to NumPy buffers that grow by
doubling; a redraw calls ``setData`` with views of the whole buffers and pyqtgraph
downsamples to the screen and clips to the view, so a 10k+ step curve costs about as much
to draw as a short one.

Drawing is what costs: a pyqtgraph repaint runs Python for ~30 ms (axes, curves) while it
holds the GIL the engine's worker thread needs between torch ops. So redraws are
coalesced to a few per second, the axes are cached as pixmaps (re-rendered only when a
range changes), and the ranges are set by hand with slack instead of auto-ranging on every
batch, which would re-render both axes each time.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from .curves import GrowingSeries

# log10 of 0 is -inf; MSE never reaches this but a perfect fit might. For the drawing only:
# the run's own curves (app/curves.py) keep the raw values
_LOSS_FLOOR = 1e-12
REFRESH_MS = 400          # at most this often a redraw while data streams in


def _short_number(value: float, digits: int) -> str:
    """``value`` rounded to ``digits`` significant digits in a short form: 1, 20, 1.5 in
    1..99, else 1e-3, 2.5e-4, 5e-1 (no "+", no zero padding in the exponent), so the
    labels below 1 all read alike."""
    text = f"{value:.{max(digits - 1, 0)}e}"
    mantissa, exp = text.split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    e = int(exp)
    if 0 <= e <= 1:   # plain is as short as an exponent here
        frac = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return f"{float(text):.{max(0, frac - e)}f}"
    return f"{mantissa}e{e}"


def log_tick_labels(values: list[float]) -> list[str]:
    """Labels for tick values given as log10 of the value: short, and distinct however
    close the ticks are (more digits only where they are needed)."""
    vals = [10.0 ** v for v in values]
    labels = [_short_number(v, 1) for v in vals]
    for digits in range(2, 8):
        if len(set(labels)) == len(labels):
            break
        labels = [_short_number(v, digits) for v in vals]
    return labels


class LogLossAxis(pg.AxisItem):
    """A log-scale axis whose labels never crowd: decades only when the range spans two
    or more (every n-th decade when even those would crowd), 1-2-5 under two decades
    (or where decades alone would give fewer than three labels),
    1..9 or plain linear steps on a short range, always at least ``min_spacing`` pixels
    apart and at most ``max_labels`` of them. The other mantissas get short unlabelled
    ticks where there is room for them."""

    def __init__(self, orientation: str = "left", max_labels: int = 6, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.max_labels = int(max_labels)
        # only the first level gets text: the minor ticks are bare
        self.setStyle(maxTextLevel=0)

    def updateAutoSIPrefix(self) -> None:  # noqa: N802 - pyqtgraph's name
        if self.autoSIPrefix:
            super().updateAutoSIPrefix()
            return
        # pyqtgraph 0.14 works out a prefix scale even with the prefix turned off, from whatever
        # range the axis had (an activation curve's 33 read on a log axis: 1e33): a curve then
        # labelled 0.08 as 8e-29. Off means a scale of one.
        self.autoSIPrefixScale = 1.0
        self.labelUnitPrefix = ""
        self._updateLabel()

    @property
    def min_spacing(self) -> float:
        """Pixels between two labels: a bit under two lines of the tick font."""
        font = self.style.get("tickFont") or QFont()
        return max(18.0, 1.8 * QFontMetricsF(font).height())

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802 - pyqtgraph's name
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = sorted((float(minVal), float(maxVal)))
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or size <= 0:
            return []
        major = self._major(lo, hi, float(size))
        minor = self._minor(lo, hi, float(size), major)
        spacing = float(np.min(np.diff(major))) if len(major) > 1 else hi - lo
        levels = [(spacing, major)]
        if minor:
            levels.append((None, minor))
        return levels

    def tickStrings(self, values: list[float], scale: float, spacing: float):  # noqa: N802
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        return log_tick_labels([v + math.log10(scale) if scale > 0 else v for v in values])

    def _fits(self, ticks: list[float], lo: float, hi: float, size: float) -> bool:
        if len(ticks) > self.max_labels:
            return False
        if len(ticks) < 2:
            return True
        gap = float(np.min(np.diff(ticks))) * size / (hi - lo)
        return gap >= self.min_spacing

    def _major(self, lo: float, hi: float, size: float) -> list[float]:
        span = hi - lo
        # decades, thinned to every 2nd, 3rd, 5th... until they fit
        decades: list[float] = []
        for step in (1, 2, 3, 5, 10, 20, 50, 100):
            decades = [float(e) for e in range(math.ceil(lo / step) * step, math.floor(hi) + 1, step)]
            if self._fits(decades, lo, hi, size):
                break
        chosen = decades
        candidates = []
        if span < 2.0 or len(decades) < 3:   # two labels on a tall axis say too little
            candidates.append((1, 2, 5))
        if span < 1.0:
            candidates.append((1, 2, 3, 4, 5, 6, 7, 8, 9))
        for mantissas in candidates:   # from sparse to dense: keep the densest that fits
            ticks = _mantissa_ticks(lo, hi, mantissas)
            if len(ticks) >= 2 and self._fits(ticks, lo, hi, size):
                chosen = ticks
        if len(chosen) < 2:
            linear = self._linear(lo, hi, size)
            if len(linear) > len(chosen):
                chosen = linear
        return chosen

    def _linear(self, lo: float, hi: float, size: float) -> list[float]:
        """Evenly spaced values (1, 2, 5 x 10^n apart) for a range too short for decades."""
        vlo, vhi = 10.0 ** lo, 10.0 ** hi
        n0 = math.floor(math.log10(vhi - vlo)) - 2
        fallback: list[float] = []
        for n in range(n0, n0 + 4):    # from fine to coarse: the first that fits
            for m in (1, 2, 5):
                step = m * 10.0 ** n
                k = np.arange(math.ceil(vlo / step), math.floor(vhi / step) + 1)
                ticks = [math.log10(v) for v in k * step if v > 0]
                if len(ticks) >= 2 and self._fits(ticks, lo, hi, size):
                    return ticks
                if ticks and not fallback:
                    fallback = ticks[:1]   # an axis too short for two labels still gets one
        return fallback

    def _minor(self, lo: float, hi: float, size: float, major: list[float]) -> list[float]:
        ticks = [t for t in _mantissa_ticks(lo, hi, range(1, 10))
                 if all(abs(t - m) > 1e-9 for m in major)]
        # 9 -> 10 is the tightest pair of the 1..9 ticks; leave them out when it would smear
        if ticks and math.log10(10 / 9) * size / (hi - lo) < 3.0:
            return [t for t in range(math.ceil(lo), math.floor(hi) + 1) if all(abs(t - m) > 1e-9 for m in major)]
        return ticks


def _mantissa_ticks(lo: float, hi: float, mantissas) -> list[float]:
    """log10 of m x 10^e for the given mantissas m, within [lo, hi]."""
    out = []
    for e in range(math.floor(lo), math.ceil(hi) + 1):
        for m in mantissas:
            t = e + math.log10(m)
            if lo - 1e-9 <= t <= hi + 1e-9:
                out.append(t)
    return out


class RunPlots(QWidget):
    """Loss and PSNR curves with markers; clicking a plot emits the step under the mouse."""

    stepClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False)
        self.loss = GrowingSeries()
        self.psnr_out = GrowingSeries(256, y_dtype=np.float64)
        self.psnr_ema = GrowingSeries(256, y_dtype=np.float64)
        self.psnr_input: float | None = None
        self.suggested_step: int | None = None
        self.suggested_label = ""       # the text on the marker
        self.suggested_tip = ""         # what the marker means, with the rule's score
        self.stop_reason: str | None = None
        self.shown_step: int | None = None
        self._total = 0
        self._dirty: set[str] = set()
        self._ranges: dict[str, tuple[float, float] | None] = {"x": None, "loss": None, "psnr": None}
        self.redraws = 0    # how many coalesced redraws happened (benchmarks, tests)
        self.title: str | None = None

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.loss_plot: pg.PlotItem = self.view.addPlot(row=0, col=0, axisItems={"left": LogLossAxis("left")})
        self.psnr_plot: pg.PlotItem = self.view.addPlot(row=0, col=1)
        for p, label in ((self.loss_plot, "loss"), (self.psnr_plot, "PSNR (dB)")):
            p.showGrid(x=False, y=False)
            p.setLabel("left", label)
            p.setLabel("bottom", "step")
            p.setMenuEnabled(False)
            p.hideButtons()
            vb = p.getViewBox()
            vb.setMouseEnabled(x=True, y=False)
            vb.disableAutoRange()
            for name in ("left", "bottom"):
                # the axes (with their grid lines) become pixmaps, redrawn on range changes only
                p.getAxis(name).setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.loss_plot.setLogMode(x=False, y=True)
        # an SI prefix on a log axis reads as "loss (x0.001)" over "5x10^1": show plain values
        self.loss_plot.getAxis("left").enableAutoSIPrefix(False)
        self.psnr_plot.setXLink(self.loss_plot)
        self.psnr_plot.addLegend(offset=(-10, 10))

        def curve(plot: pg.PlotItem, color: str, name: str | None = None) -> pg.PlotDataItem:
            item = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5), name=name,
                                   autoDownsample=True, downsampleMethod="peak", clipToView=True)
            plot.addItem(item)
            return item

        self.loss_curve = curve(self.loss_plot, "#1f77b4")
        self.psnr_out_curve = curve(self.psnr_plot, "#1f77b4", "output")
        self.psnr_ema_curve = curve(self.psnr_plot, "#d62728", "EMA")
        self.input_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen("#888888", style=Qt.DashLine),
                                          label="input", labelOpts={"position": 0.05, "color": "#888888"})
        self.input_line.setVisible(False)
        self.psnr_plot.addItem(self.input_line, ignoreBounds=True)

        self._suggested_lines = []
        self._shown_lines = []
        for p in (self.loss_plot, self.psnr_plot):
            # the label says which iterate the stopping rule keeps ("best @640 (avg)")
            sug = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#2ca02c", width=2),
                                  label="", labelOpts={"position": 0.92, "color": "#2ca02c",
                                                       "anchors": [(0, 0), (0, 0)]})
            shown = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ff7f0e", width=1, style=Qt.DashLine))
            for line in (sug, shown):
                line.setVisible(False)
                p.addItem(line, ignoreBounds=True)
            self._suggested_lines.append(sug)
            self._shown_lines.append(shown)
            # the label flips to the line's left near the right edge (else it reads "be")
            p.getViewBox().sigXRangeChanged.connect(self._place_marker_labels)
            p.getViewBox().sigResized.connect(self._place_marker_labels)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.flush)

        self.view.scene().sigMouseClicked.connect(self._on_click)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.set_reference_known(False)
        self._apply_x_range(100)

    # ---- data ------------------------------------------------------------------------
    def reset(self, reference_known: bool = False, total: int | None = None) -> None:
        self._timer.stop()
        self._dirty.clear()
        for s in (self.loss, self.psnr_out, self.psnr_ema):
            s.clear()
        self.psnr_input = None
        self.input_line.setVisible(False)
        for c in (self.loss_curve, self.psnr_out_curve, self.psnr_ema_curve):
            c.setData([], [])
        self._ranges = {"x": None, "loss": None, "psnr": None}
        self.set_suggested(None)
        self.set_shown(None)
        self.set_reference_known(reference_known)
        self.set_total(total or 100)

    def set_title(self, text: str | None) -> None:
        """A line over the loss plot (a tiled run: whose curve it shows); None: no title."""
        if text != self.title:
            self.title = text
            self.loss_plot.setTitle(text, size="9pt", color="#555555")

    def set_total(self, total: int) -> None:
        """The run's length: the x axis spans it, so it need not move while the run goes."""
        self._total = int(total)
        self._apply_x_range(self._total)

    def set_reference_known(self, known: bool) -> None:
        self.psnr_plot.setVisible(known)

    def append_losses(self, steps: np.ndarray, losses: np.ndarray) -> None:
        if len(steps) == 0:
            return
        self.loss.append(steps, np.maximum(losses, _LOSS_FLOOR))
        self._schedule("loss")

    def add_psnr(self, step: int, values: dict) -> None:
        if values.get("output") is not None:
            self.psnr_out.append([step], [values["output"]])
        if values.get("ema") is not None:
            self.psnr_ema.append([step], [values["ema"]])
        if values.get("input") is not None and self.psnr_input != values["input"]:
            self.psnr_input = float(values["input"])
        if not self.psnr_plot.isVisible():
            self.set_reference_known(True)
        self._schedule("psnr")

    def set_suggested(self, step: int | None, label: str | None = None, tip: str = "") -> None:
        """The marker at the stopping rule's best iterate, with ``label`` on the line
        (default "best @step"); it moves with the next redraw."""
        self.suggested_step = step
        if step is None:
            self.suggested_label = self.suggested_tip = ""
            self.stop_reason = None
            self._update_tooltip()
            for line in self._suggested_lines:
                line.setVisible(False)
        else:
            self.suggested_label = label if label is not None else f"best @{step}"
            self.suggested_tip = tip
            self._update_tooltip()
            self._schedule("suggested")

    def set_stop_reason(self, reason: str | None) -> None:
        """Why the run ended (the engine's line), shown in the curves' tooltip."""
        self.stop_reason = reason
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        parts = [t for t in (self.suggested_tip, self.stop_reason and f"Run ended: {self.stop_reason}") if t]
        parts.append("Click a curve to show the snapshot nearest that step.")
        self.view.setToolTip("\n".join(parts))

    def set_shown(self, step: int | None) -> None:
        """The marker at the snapshot the canvas shows (None: the live preview); at once."""
        self.shown_step = step
        for line in self._shown_lines:
            line.setVisible(step is not None)
            if step is not None:
                line.setValue(step)

    def flush(self) -> None:
        """Draw everything received so far (the timer calls it; so does the end of a run)."""
        self._timer.stop()
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        self.redraws += 1
        last = 0
        if "loss" in dirty and len(self.loss):
            self.loss_curve.setData(self.loss.x, self.loss.y)
            y = self.loss.y
            y = y[y > 0]   # a log axis: activation maximisation's loss is negative (its own curve shows it)
            if y.size:
                self._apply_y_range("loss", self.loss_plot, math.log10(float(y.min())), math.log10(float(y.max())))
        if len(self.loss):
            last = int(self.loss.x[-1])
        if "psnr" in dirty and len(self.psnr_out):
            self.psnr_out_curve.setData(self.psnr_out.x, self.psnr_out.y)
            if len(self.psnr_ema):
                self.psnr_ema_curve.setData(self.psnr_ema.x, self.psnr_ema.y)
            vals = [self.psnr_out.y, self.psnr_ema.y]
            if self.psnr_input is not None and np.isfinite(self.psnr_input):
                vals.append(np.array([self.psnr_input]))
                self.input_line.setValue(self.psnr_input)
                self.input_line.setVisible(True)
            allv = np.concatenate(vals)
            allv = allv[np.isfinite(allv)]
            if allv.size:
                self._apply_y_range("psnr", self.psnr_plot, float(allv.min()), float(allv.max()))
        if "suggested" in dirty and self.suggested_step is not None:
            for line in self._suggested_lines:
                line.setValue(self.suggested_step)
                line.setVisible(True)   # first: a hidden label does not take new text
                line.label.setFormat(self.suggested_label.replace("{", "{{").replace("}", "}}"))
            self._place_marker_labels()
        if last > self._total:   # a continued run outgrew the axis
            self.set_total(last)

    def _place_marker_labels(self, *_args) -> None:
        """Keep the best iterate's label inside its plot: right of the line, or left of it
        where the text would run past the plot's right edge."""
        for plot, line in zip((self.loss_plot, self.psnr_plot), self._suggested_lines):
            if not line.isVisible():
                continue
            vb = plot.getViewBox()
            (x0, x1), _ = vb.viewRange()
            width = vb.width()
            if x1 <= x0 or width <= 0:
                continue
            at = (line.value() - x0) / (x1 - x0) * width        # the line, in pixels from the left
            text_w = line.label.boundingRect().width()
            left = at + text_w + 2 > width and at - text_w >= 0 or at > width
            anchor = (1, 0) if left else (0, 0)
            if line.label.anchors[0] != anchor:
                line.label.anchors = [anchor, anchor]
                line.label.updatePosition()

    def show_record(self, rec) -> None:
        """A recorded run's loss curve (an app.runs.RunRecord), marked at its picked step."""
        steps = np.asarray(rec.curve_steps)
        self.reset(reference_known=False, total=max(int(rec.steps), int(steps[-1]) if len(steps) else 0, 1))
        if len(steps):
            self.append_losses(steps, np.asarray(rec.curve_loss))
        curves = getattr(rec, "curve_psnr", None) or {}
        for key, series in (("output", self.psnr_out), ("ema", self.psnr_ema)):
            if key in curves and len(curves[key][0]):
                series.append(*curves[key])
        if len(self.psnr_out):
            self.set_reference_known(True)
            self._schedule("psnr")
        if rec.result_step is not None:
            self.set_suggested(int(rec.result_step), f"result @{rec.result_step}",
                               f"{rec.label}: its result is {rec.result_what or 'the iterate'}")
        self.set_stop_reason(rec.stop_reason or None)
        self.flush()

    def loss_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.loss.x.copy(), self.loss.y.copy()

    def psnr_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {"output": (self.psnr_out.x.copy(), self.psnr_out.y.copy()),
                "ema": (self.psnr_ema.x.copy(), self.psnr_ema.y.copy())}

    # ---- ranges ----------------------------------------------------------------------
    def _schedule(self, what: str) -> None:
        self._dirty.add(what)
        if not self._timer.isActive():
            self._timer.start()

    def _apply_x_range(self, total: int) -> None:
        rng = (0.0, float(max(total, 1)))
        if self._ranges["x"] != rng:
            self._ranges["x"] = rng
            self.loss_plot.setXRange(*rng, padding=0.02)

    def _apply_y_range(self, key: str, plot: pg.PlotItem, lo: float, hi: float) -> None:
        """Move the y range only when the data leaves it or fills less than a third of it;
        then leave slack, so a slowly falling curve re-renders the axis rarely."""
        cur = self._ranges[key]
        span = max(hi - lo, 0.05 if key == "loss" else 0.5)
        if cur is not None and cur[0] <= lo and hi <= cur[1] and (cur[1] - cur[0]) <= 3 * span:
            return
        new = (lo - 0.35 * span, hi + 0.15 * span)
        self._ranges[key] = new
        plot.setYRange(*new, padding=0)

    # ---- interaction -----------------------------------------------------------------
    def _on_click(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return
        pos = event.scenePos()
        for plot in (self.loss_plot, self.psnr_plot):
            vb = plot.getViewBox()
            if plot.isVisible() and vb.sceneBoundingRect().contains(pos):
                step = int(round(vb.mapSceneToView(pos).x()))
                self.stepClicked.emit(max(step, 0))
                event.accept()
                return
