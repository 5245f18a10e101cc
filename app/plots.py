"""Live curves of a run: the loss (log scale) and, with a known reference, PSNR.

Data arrives in batches from the worker. It is appended to NumPy buffers that grow by
doubling, and each batch redraws with ``setData`` over views of the whole buffers;
pyqtgraph downsamples to the screen and clips to the view, so a 10k+ step curve costs
about as much to draw as a short one.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

# log10 of 0 is -inf; MSE never reaches this but a perfect fit might
_LOSS_FLOOR = 1e-12


class GrowingSeries:
    """Two parallel arrays (x, y) with amortised O(1) appends of whole batches."""

    def __init__(self, capacity: int = 1024, x_dtype=np.int64, y_dtype=np.float64):
        self._x = np.empty(capacity, dtype=x_dtype)
        self._y = np.empty(capacity, dtype=y_dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, xs, ys) -> None:
        xs = np.asarray(xs).ravel()
        ys = np.asarray(ys).ravel()
        k = len(xs)
        if k != len(ys):
            raise ValueError("x and y batches differ in length")
        need = self._n + k
        if need > len(self._x):
            cap = max(len(self._x), 1)
            while cap < need:
                cap *= 2
            # np.resize would repeat the data; keep the prefix and leave the tail empty
            x = np.empty(cap, dtype=self._x.dtype)
            y = np.empty(cap, dtype=self._y.dtype)
            x[:self._n], y[:self._n] = self._x[:self._n], self._y[:self._n]
            self._x, self._y = x, y
        self._x[self._n:need] = xs
        self._y[self._n:need] = ys
        self._n = need

    @property
    def x(self) -> np.ndarray:
        return self._x[:self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self._n]

    def clear(self) -> None:
        self._n = 0

    def truncate_after(self, x_max) -> None:
        """Drop points with x > x_max (a run restarted from an earlier state)."""
        if self._n and self._x[self._n - 1] > x_max:
            self._n = int(np.searchsorted(self._x[:self._n], x_max, side="right"))


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

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.loss_plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.psnr_plot: pg.PlotItem = self.view.addPlot(row=0, col=1)
        for p, label in ((self.loss_plot, "loss"), (self.psnr_plot, "PSNR (dB)")):
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setLabel("left", label)
            p.setLabel("bottom", "step")
            p.setMenuEnabled(False)
            p.getViewBox().setMouseEnabled(x=True, y=False)
        self.loss_plot.setLogMode(x=False, y=True)
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
            s = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#2ca02c", width=2))
            v = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ff7f0e", width=1, style=Qt.DashLine))
            for line in (s, v):
                line.setVisible(False)
                p.addItem(line, ignoreBounds=True)
            self._suggested_lines.append(s)
            self._shown_lines.append(v)
        self.suggested_step: int | None = None
        self.shown_step: int | None = None

        self.view.scene().sigMouseClicked.connect(self._on_click)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.set_reference_known(False)

    # ---- data ------------------------------------------------------------------------
    def reset(self, reference_known: bool = False) -> None:
        for s in (self.loss, self.psnr_out, self.psnr_ema):
            s.clear()
        self.psnr_input = None
        self.input_line.setVisible(False)
        for c in (self.loss_curve, self.psnr_out_curve, self.psnr_ema_curve):
            c.setData([], [])
        self.set_suggested(None)
        self.set_shown(None)
        self.set_reference_known(reference_known)

    def set_reference_known(self, known: bool) -> None:
        self.psnr_plot.setVisible(known)

    def append_losses(self, steps: np.ndarray, losses: np.ndarray) -> None:
        if len(steps) == 0:
            return
        self.loss.append(steps, np.maximum(losses, _LOSS_FLOOR))
        self.loss_curve.setData(self.loss.x, self.loss.y)

    def add_psnr(self, step: int, values: dict) -> None:
        if "output" in values:
            self.psnr_out.append([step], [values["output"]])
            self.psnr_out_curve.setData(self.psnr_out.x, self.psnr_out.y)
        if values.get("ema") is not None:
            self.psnr_ema.append([step], [values["ema"]])
            self.psnr_ema_curve.setData(self.psnr_ema.x, self.psnr_ema.y)
        if values.get("input") is not None and self.psnr_input != values["input"]:
            self.psnr_input = float(values["input"])
            self.input_line.setValue(self.psnr_input)
            self.input_line.setVisible(np.isfinite(self.psnr_input))
        if not self.psnr_plot.isVisible():
            self.set_reference_known(True)

    def set_suggested(self, step: int | None) -> None:
        self.suggested_step = step
        for line in self._suggested_lines:
            line.setVisible(step is not None)
            if step is not None:
                line.setValue(step)

    def set_shown(self, step: int | None) -> None:
        """The marker at the snapshot the canvas shows (None: the live preview)."""
        self.shown_step = step
        for line in self._shown_lines:
            line.setVisible(step is not None)
            if step is not None:
                line.setValue(step)

    def loss_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.loss.x.copy(), self.loss.y.copy()

    def psnr_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {"output": (self.psnr_out.x.copy(), self.psnr_out.y.copy()),
                "ema": (self.psnr_ema.x.copy(), self.psnr_ema.y.copy())}

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
