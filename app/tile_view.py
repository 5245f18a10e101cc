"""A photo restored in tiles or crops, as the user watches it (the GUI side of
app/tile_worker.py): the grid of units on the canvas with their state, each running
unit's live preview in place, each finished unit painted into the shown image, the
progress bar as "tile 17/48 · step 340/3000 · best 280 · ETA 1h05m", and the loss plot
showing the running tile's curve (it starts again with each tile; its title says so).

:class:`~app.run_view.RunView` is handed one and passes it what is particular to a tiled job:
its start, its result (the photo with the finished units in and the input elsewhere) and its
end. There is no snapshot history: scrubbing stays off for a tiled run. It shares the run's
:class:`~app.session.RunSession` and paints through the one :class:`~app.result_painter.ResultPainter`.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar

from engine.durations import format_clock
from engine.tiling import Plan

from .canvas import ImageCanvas
from .document import Document
from .plots import RunPlots
from .result_painter import ResultPainter
from .session import RunSession
from .tile_overlay import TileOverlay
from .tile_worker import TILED_STEP, box_tuple
from .ui_port import UiPort
from .controller import RunController

PROGRESS_MS = 300


def unit_cell(unit, factor: int) -> tuple[int, int, int, int]:
    """The unit's box less half of each overlap with a neighbour (left, top, w, h): the
    cells of a grid tile the photo with one line between neighbours."""
    left, top, w, h = box_tuple(unit.out_box(factor))
    rt, rb, rl, rr = (r * factor for r in unit.ramps)
    return left + rl // 2, top + rt // 2, w - rl // 2 - rr // 2, h - rt // 2 - rb // 2


def unit_word(plan: Plan | None) -> str:
    return "crop tile" if plan is not None and plan.mode == "crops" else "tile"


class TileView(QObject):
    def __init__(self, doc: Document, session: RunSession, controller: RunController, port: UiPort,
                 canvas: ImageCanvas, painter: ResultPainter, plots: RunPlots, progress_bar: QProgressBar,
                 device_label: QLabel, parent: QObject | None = None):
        super().__init__(parent)
        self.doc = doc
        self.s = session
        self.controller = controller
        self.ui = port
        self.painter = painter
        self.plots = plots
        self.bar = progress_bar
        self.device_label = device_label
        self.overlay = TileOverlay(canvas)
        self.plan: Plan | None = None
        self.index: int | None = None     # the unit whose curve the plots show
        self.last: dict | None = None     # the newest unit info
        self.live_shown = 0               # live tile previews shown (tests, benchmarks)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROGRESS_MS)
        self._timer.timeout.connect(self.show_progress)
        c = controller
        c.unit.connect(self._on_unit)
        c.tile_image.connect(self._on_tile_image)

    @property
    def active(self) -> bool:
        """The run on screen is a tiled job."""
        return self.s.tiled

    # ------------------------------------------------------------------ a job starts / ends
    def begin(self, plan: Plan) -> None:
        self.s.tiled = True
        self.plan = plan
        self.index = None
        self.last = None
        f = plan.factor
        self.overlay.show_plan([box_tuple(u.out_box(f)) for u in plan.units],
                               [box_tuple(b.scaled(f)) for b in plan.crops],
                               [unit_cell(u, f) for u in plan.units])
        n = len(plan.units)
        self.plots.set_title(f"loss of the running {unit_word(plan)} (each starts a new curve)")
        bar = self.bar
        bar.setRange(0, max(n, 1))
        bar.setValue(0)
        bar.setFormat(f"{n} {unit_word(plan)}s: building the first...")

    def clear(self) -> None:
        """No tiled job on screen any more (a new image, a run of the whole image)."""
        self.s.tiled = False
        self.plan = None
        self.index = None
        self.last = None
        self._timer.stop()
        self.overlay.clear()
        self.plots.set_title(None)

    def show_grid(self, shown: bool) -> None:
        """The grid over the tiled run's own result; hidden while another run's is shown."""
        self.overlay.grid.setVisible(shown and self.active)
        if not shown:
            self.overlay.hide_live()

    # ------------------------------------------------------------------ the worker's signals
    def _on_unit(self, info: dict) -> None:
        if not self.active:
            return
        if info["index"] != self.index:
            self.index = info["index"]
            plots = self.plots
            plots.reset(reference_known=plots.psnr_plot.isVisible(), total=info["total"])
            self.s.curves.clear()   # the record keeps the last unit's curve, as the plot shows
            plots.set_title(f"{unit_word(self.plan)} {info['index'] + 1}/{info['count']}: loss "
                            "(each tile starts a new curve)")
        self.overlay.set_states(info["states"])
        self.last = info
        if not self._timer.isActive():
            self._timer.start()

    def _on_tile_image(self, box: tuple, image, kind: str) -> None:
        if not self.active:
            return
        if kind == "base":                 # super-resolution: the result's geometry first
            self.painter.show(image)
        elif kind == "live":
            self.overlay.show_live(box, image)
            self.live_shown += 1
        else:                              # "done": the photo so far inside the unit's box
            self.painter.paint_into(box[0], box[1], image)
            if self.overlay.live_box == tuple(box):
                self.overlay.hide_live()
        if not self.s.showing_result:
            self.painter.mark_showing()    # the mask as an outline, compare against the input

    def show_progress(self) -> None:
        self._timer.stop()
        info = self.last
        if info is None:
            return
        bar = self.bar
        bar.setRange(0, max(1, info["count"]))
        bar.setValue(info["done"])
        text = (f"{unit_word(self.plan)} {info['index'] + 1}/{info['count']} \u00b7 "
                f"step {info['step']}/{info['total']}")
        if info.get("best") is not None:
            text += f" \u00b7 best {info['best']}"
        if info["eta"] > 0:
            text += f" \u00b7 job ETA {format_clock(info['eta'])}"
        if self.controller.state == "paused":
            text += " \u00b7 paused"
        bar.setFormat(text)

    # ------------------------------------------------------------------ from RunView
    def on_ready(self, info: dict) -> None:
        self.device_label.setText(info["device"])
        if self.plan is not None:
            kept, n = info.get("kept", 0), len(self.plan.units)
            self.ui.status(f"Going on from {kept} of {n} {unit_word(self.plan)}s an earlier run of this photo "
                           "finished (kept on disk as each ended)" if kept else self.plan.describe(), 10000)

    def on_continue(self) -> None:
        self.bar.setFormat("continuing the interrupted tile...")
        self.overlay.grid.setVisible(True)

    def on_result(self, step: int, array: np.ndarray) -> None:
        """The job's result: the finished units in, the input elsewhere; Save writes it."""
        doc = self.doc
        run = self.controller.run
        done = run.done_units if run is not None else 0
        n = len(self.plan.units) if self.plan is not None else done
        word = unit_word(self.plan)
        # plain data only here (the GUI thread runs no torch kernel): the job's states
        running = [i for i, st in enumerate(run.states) if st == "running"] if run is not None else []
        kept = "".join(f" and {word} {i + 1} as far as it got" for i in running)
        what = f"the result of {n} {word}s" if done == n else \
            f"{done} of {n} {word}s restored{kept}, the input elsewhere"
        doc.set_result(array, None, what, run_id=self.s.record_id)
        ready = self.s.ready_image(TILED_STEP, "result")
        self.overlay.hide_live()
        self.painter.show(ready if ready is not None else array)
        if run is not None:
            self.overlay.set_states(list(run.states))

    def on_finished(self, reason: str, info: dict) -> str:
        """Progress and status after the job's steps() call ended; returns the status text."""
        self.show_progress()
        done, n = info.get("done", 0), info.get("units", 0)
        word = unit_word(self.plan)
        bar = self.bar
        bar.setRange(0, max(n, 1))
        bar.setValue(done)
        if info.get("how") == "request":
            partial = info.get("partial") or []
            kept = "".join(f", {word} {i + 1} kept at step {step}" for i, step in partial)
            bar.setFormat(f"stopped: {done} of {n} {word}s done{kept}")
            running = f"the running {word}" + ("s" if len(partial) > 1 else "")   # lanes: two at once
            what = "them" if not partial else (f"them and the best so far of {running}" if done else
                                               f"the best so far of {running}")
            text = (f"Stopped with {done} of {n} {word}s done{kept}: Save writes {what} with the input "
                    "elsewhere; Continue goes on from there")
        else:
            bar.setFormat(f"done: {n} {word}s")
            text = f"Done: {info.get('reason') or f'all {n} {word}s'}"
        self.plots.set_stop_reason(info.get("reason") or None)
        return text
