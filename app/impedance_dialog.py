"""Help > "Why early stopping works": the paper's noise-impedance figure, live.

The same small network (same seed) is fitted to four targets made from the open image (or
the sample): the image, the image plus noise, the image with its pixels shuffled, and pure
noise. The natural image is fitted fastest and noise slowest: the network reproduces
structure before it reproduces noise, which is why the best restoration is an early iterate.
The dialog says how long it will take before it starts; the fits run in a thread of their
own (engine/experiments.py ImpedanceDemo) and the four loss curves grow in one plot.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QThread, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget,
)

from engine.degrade import resize
from engine.experiments import IMPEDANCE_KINDS, ImpedanceDemo, impedance_seconds

from .plots import LogLossAxis
from .qimage import array_to_qimage
from engine.durations import format_duration

DEMO_SIDE = 96        # the longer side of the copy the four nets fit
DEMO_STEPS = 600
EMIT_EVERY = 10       # steps per batch of curve points sent to the GUI
COLOURS = {"image": "#1f77b4", "image + noise": "#2ca02c", "image shuffled": "#ff7f0e", "noise": "#d62728"}
THUMB = 128


def demo_image(image: np.ndarray, side: int = DEMO_SIDE) -> np.ndarray:
    """A copy of ``image`` whose longer side is at most ``side`` (colour, float32)."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    h, w = img.shape[:2]
    f = side / max(h, w)
    if f < 1:
        img = resize(img, max(8, round(w * f)), max(8, round(h * f)))
    return img


class ImpedanceThread(QThread):
    """Builds and steps the four fits (torch stays off the GUI thread)."""

    curves = Signal(object)        # {kind: (steps array, losses array)} since the last batch
    outputs = Signal(object)       # {kind: H x W x 3 float32}
    failed = Signal(str)

    def __init__(self, image: np.ndarray, steps: int, parent=None):
        super().__init__(parent)
        self.image = image
        self.steps = steps
        self.demo: ImpedanceDemo | None = None
        self._stop = False

    def request_stop(self) -> None:
        self._stop = True
        if self.demo is not None:
            self.demo.request_stop()

    def run(self) -> None:   # noqa: D401 - QThread's entry point
        try:
            self.demo = ImpedanceDemo(self.image, steps=self.steps)
            if self._stop:
                return
            batch: dict[str, list] = {k: [] for k in IMPEDANCE_KINDS}
            steps: list[int] = []
            for rec in self.demo.steps():
                steps.append(rec.step)
                for k, v in rec.losses.items():
                    batch[k].append(v)
                if rec.step % EMIT_EVERY == 0 or rec.step == self.steps:
                    self.curves.emit({k: (np.array(steps), np.array(v)) for k, v in batch.items()})
                    batch = {k: [] for k in IMPEDANCE_KINDS}
                    steps = []
                if rec.step % (EMIT_EVERY * 10) == 0:
                    self.outputs.emit(self.demo.outputs())
            self.outputs.emit(self.demo.outputs())
        except Exception as exc:   # noqa: BLE001 - shown to the user in one line
            self.failed.emit(" ".join(str(exc).split()) or type(exc).__name__)


class ImpedanceDialog(QDialog):
    def __init__(self, image: np.ndarray, source: str, parent: QWidget | None = None,
                 steps: int = DEMO_STEPS, side: int = DEMO_SIDE):
        super().__init__(parent)
        self.setWindowTitle("Why early stopping works")
        self.image = demo_image(image, side)
        self.steps = steps
        self.thread_: ImpedanceThread | None = None
        h, w = self.image.shape[:2]
        self.seconds = impedance_seconds(h, w, steps)
        col = QVBoxLayout(self)
        self.intro = QLabel(
            "<p>The same small network is fitted to four targets: <b>the image</b>, the image <b>plus noise</b>, "
            "the image with its <b>pixels shuffled</b>, and <b>pure noise</b>. It reproduces the natural image "
            "fastest and noise slowest: structure comes before noise, so a restoration is best some time "
            "before the network has fitted its input exactly.</p>"
            f"<p>This fits four networks for {steps} steps on a {w}x{h} copy of {source}: "
            f"<b>about {format_duration(self.seconds)}</b> on this computer.</p>")
        self.intro.setWordWrap(True)
        col.addWidget(self.intro)

        self.plot = pg.PlotWidget(background="w", axisItems={"left": LogLossAxis("left")})
        self.plot.setLogMode(y=True)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setLabel("left", "MSE")
        self.plot.setLabel("bottom", "step")
        self.plot.addLegend(offset=(10, -10))   # lower left: under the curves' fast early fall
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumSize(520, 260)
        self.lines = {k: self.plot.plot([], [], pen=pg.mkPen(COLOURS[k], width=2), name=k) for k in IMPEDANCE_KINDS}
        self.data: dict[str, tuple[list, list]] = {k: ([], []) for k in IMPEDANCE_KINDS}
        col.addWidget(self.plot, 1)

        grid = QGridLayout()
        self.thumbs: dict[str, QLabel] = {}
        for i, k in enumerate(IMPEDANCE_KINDS):
            title = QLabel(k)
            title.setAlignment(Qt.AlignCenter)
            title.setStyleSheet(f"color: {COLOURS[k]}; font-weight: bold;")
            pic = QLabel()
            pic.setAlignment(Qt.AlignCenter)
            pic.setMinimumSize(THUMB, THUMB)
            grid.addWidget(title, 0, i)
            grid.addWidget(pic, 1, i)
            self.thumbs[k] = pic
        col.addLayout(grid)
        self.status = QLabel("")
        col.addWidget(self.status)

        buttons = QDialogButtonBox()
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        buttons.addButton(self.start_button, QDialogButtonBox.AcceptRole)
        self.close_button = buttons.addButton(QDialogButtonBox.Close)
        self.close_button.clicked.connect(self.close)
        col.addWidget(buttons)
        self._show_targets()

    def _show_targets(self) -> None:
        from engine.experiments import impedance_targets

        for k, t in impedance_targets(self.image).items():
            self._show(k, t)

    def _show(self, kind: str, array: np.ndarray) -> None:
        pix = QPixmap.fromImage(array_to_qimage(array))
        self.thumbs[kind].setPixmap(pix.scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.FastTransformation))

    @property
    def running(self) -> bool:
        return self.thread_ is not None and self.thread_.isRunning()

    def start(self) -> None:
        if self.running:
            return
        for k in IMPEDANCE_KINDS:
            self.data[k] = ([], [])
            self.lines[k].setData([], [])
        self.start_button.setEnabled(False)
        self.status.setText("fitting\u2026 (the pictures show the targets, then the four outputs)")
        self._t0 = time.monotonic()
        t = self.thread_ = ImpedanceThread(self.image, self.steps, self)
        t.curves.connect(self._on_curves)
        t.outputs.connect(self._on_outputs)
        t.failed.connect(self._on_failed)
        t.finished.connect(self._on_finished)
        t.start()

    def _on_curves(self, batch: dict) -> None:
        for k, (steps, losses) in batch.items():
            xs, ys = self.data[k]
            xs.extend(steps.tolist())
            ys.extend(np.clip(losses, 1e-12, None).tolist())
            self.lines[k].setData(xs, ys)
        n = len(self.data[IMPEDANCE_KINDS[0]][0])
        spent = time.monotonic() - self._t0
        left = spent / max(n, 1) * (self.steps - n)
        self.status.setText(f"step {n} of {self.steps}, about {format_duration(left)} left")

    def _on_outputs(self, outs: dict) -> None:
        for k, a in outs.items():
            self._show(k, a)

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"failed: {message}")

    def _on_finished(self) -> None:
        self.start_button.setEnabled(True)
        self.start_button.setText("Run again")
        if not self.status.text().startswith("failed"):
            order = self.order()
            self.status.setText("done: fitted fastest to slowest: " + ", ".join(order))

    def order(self) -> list[str]:
        """The four targets from best fitted to worst (mean log loss over the run)."""
        score = {k: float(np.mean(np.log10(ys))) for k, (_, ys) in self.data.items() if ys}
        return sorted(score, key=score.get)

    def stop(self, wait_ms: int = 10000) -> None:
        if self.thread_ is not None:
            self.thread_.request_stop()
            self.thread_.wait(wait_ms)

    def closeEvent(self, event) -> None:   # noqa: N802
        self.stop()
        super().closeEvent(event)

    def reject(self) -> None:
        self.stop()
        super().reject()
