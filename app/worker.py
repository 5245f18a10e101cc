"""Driving an engine run from a worker thread without slowing it down or the GUI.

A :class:`RunWorker` lives in a QThread (app/controller.py owns both) and its ``start`` slot
iterates ``Restoration.steps()``, or a tiled job's (app/tile_worker.py), then the seeds
averaged after it (app/seed_worker.py). Each loop feeds the worker's signals through one
throttled :class:`~app.feed.Feed`: plain NumPy/Python data (never a tensor), batched, and the
shown preview already a QImage made in this thread.

Control goes straight to the runs (``WorkerControls`` passes ``request_stop``/``pause``/``resume``
on to each run it drives; all thread-safe), never through the worker's event queue, which is
busy while a run goes.

The GUI thread never runs a torch kernel (parameter counts and cost estimates work on the
meta device). torch's OpenMP gives every thread that runs a parallel op its own team of
helper threads; a GUI-thread team beside the worker's would take the helpers past the core
count (measured on the 2-core machine: the run ~40% slower). tests/test_worker.py checks
that the GUI side of a run stays kernel-free.
"""
from __future__ import annotations

import logging
import time
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from engine.errors import DIPError
from engine.job import TiledRestoration
from engine.run import Restoration

from .feed import Feed, WorkerControls
from .qimage import display_qimage
from .seed_worker import SeedsFactory, average_seeds
from .tile_worker import iterate_tiled

log = logging.getLogger(__name__)

RunFactory = Callable[[], "Restoration | TiledRestoration"]

# The worker signals the controller re-emits under the same name (its own signals of the
# same signatures), dropping what a discarded worker still had queued.
FORWARDED_SIGNALS = ("ready", "losses", "preview", "display", "psnr", "suggested", "progress", "change",
                     "snapshot", "result", "summary", "finished", "failed", "unit", "tile_image", "seeds")


class RunWorker(QObject):
    """Iterates one :class:`Restoration` in the thread it is moved to.

    ``source`` is either a ready Restoration or a factory that builds one; a factory is
    called inside ``start`` so building the network on the device happens off the GUI
    thread. ``start`` may be invoked again after a run ended (after ``run.extend``) to
    continue the same optimisation. Its signals are the sink its loops feed (app/feed.py);
    ``controls`` reach the run and the seeds after it.
    """

    ready = Signal(object)                       # the Restoration, once built
    losses = Signal(object, object)              # np.ndarray steps (int64), np.ndarray losses (float64)
    preview = Signal(int, object, object)        # step, output HxWxC float32, EMA or None
    # just before preview / result: the image the GUI shows as a QImage made in this thread,
    # so the GUI thread shows it without converting ({"output"} or {"ema"} per ``show_ema``,
    # or {"result"})
    display = Signal(int, object)
    psnr = Signal(int, object)                   # step, {"output": dB, "ema": dB, "input": dB}
    # the stopping rule's best iterate so far: its step, its score (held-out pixel error, or
    # window variance with the 'variance' rule) and which image it is ("output" | "ema")
    suggested = Signal(int, float, str)
    progress = Signal(int, int, float)           # step, total steps, steps per second
    change = Signal(int, float)                  # step, the change rule's dB (engine.stopping.ChangeWatch)
    snapshot = Signal(int)                       # newest step stored in run.history
    result = Signal(int, object)                 # the config's pick when a steps() call ends
    summary = Signal(object)                     # how a steps() call ended (see _summary), before finished
    finished = Signal(str)                       # "done" (ended by itself) | "stopped" (on request)
    failed = Signal(str)                         # one-line message for the user
    # a photo in tiles or crops (app/tile_worker.py): where the job is, and tile images
    unit = Signal(object)                        # dict: index, count, box, state, step, best, done, eta
    tile_image = Signal(object, object, str)     # (left, top, w, h), QImage, "live" | "done" | "base"
    # seeds averaged after the watched run (app/seed_worker.py): seeds done, seeds in all, step
    seeds = Signal(int, int, int)

    def __init__(self, source: Restoration | TiledRestoration | RunFactory, parent: QObject | None = None,
                 more_seeds: SeedsFactory | None = None):
        super().__init__(parent)
        self._more_seeds = more_seeds     # the other seeds to average once the watched run ends
        if isinstance(source, (Restoration, TiledRestoration)):
            self._run: Restoration | TiledRestoration | None = source
            self._factory: RunFactory | None = None
        else:
            self._run = None
            self._factory = source
        self.controls = WorkerControls()
        if self._run is not None:
            self.controls.attach(self._run)
        self._busy = False
        # which live image the GUI shows (set from the GUI thread; a bool store is atomic):
        # only that one is converted for the screen
        self.show_ema = False

    # ---- control: any thread ---------------------------------------------------------
    @property
    def run(self) -> Restoration | TiledRestoration | None:
        return self._run

    @property
    def busy(self) -> bool:
        return self._busy

    def request_stop(self) -> None:
        self.controls.request_stop()

    def pause(self) -> None:
        self.controls.pause()

    def resume(self) -> None:
        self.controls.resume()

    # ---- the loop: the worker's thread -----------------------------------------------
    @Slot()
    def start(self) -> None:
        self._busy = True
        try:
            self._start()
        finally:
            self._busy = False

    def _start(self) -> None:
        try:
            if self._run is None:
                if self._factory is None:
                    raise RuntimeError("no run to start")
                run = self._factory()
                self._run = run
                self.controls.attach(run)
                self.ready.emit(run)
            if self.controls.stop_requested:
                # stopped while the network was being built: nothing ran
                self.controls.rearm()
                self.finished.emit("stopped")
                return
            if isinstance(self._run, TiledRestoration):
                iterate_tiled(self, self.controls, self._run)
            else:
                self._iterate(self._run)
        except DIPError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - the GUI must hear about every failure
            log.error("run failed:\n%s", traceback.format_exc())
            self.failed.emit(f"unexpected error: {type(exc).__name__}: {exc}")

    def _iterate(self, run: Restoration) -> None:
        stop = self.controls
        feed = Feed(self, fresh=run.step == 0)

        def kind_of() -> str | None:
            return run.suggested_kind
        rec = None
        gen = run.steps()
        try:
            for rec in gen:
                feed.record(rec, kind_of)
                if rec.preview is not None:
                    feed.hold((rec.step, rec.preview, rec.preview_ema))
                if rec.snapshot:
                    feed.snapshot_at(rec.step)
                if rec.change is not None:   # a few times per look-back: no throttling needed
                    self.change.emit(rec.step, rec.change)
                now = time.monotonic()
                if feed.scalars.due(now):
                    feed.flush()
                    self.progress.emit(rec.step, run.total_steps, feed.measure(rec))
                shown = feed.due_preview(now)
                if shown is not None:
                    feed.send_preview(*shown)
                if stop.stop_requested:
                    break
        finally:
            gen.close()
        if rec is not None and rec.preview is None:
            # a stop that lands after the engine observed the step leaves the last record
            # bare: preview it and keep it in the history, so the final state is scrubbable
            out = run.result("last")
            ema = run.result("ema") if run.cfg.ema > 0 else None
            feed.hold((rec.step, out, ema))
            if not rec.snapshot:
                run.history.add(rec.step, out, ema, rec.loss)
                feed.snapshot_at(rec.step)
        feed.flush()
        if rec is not None:
            self.progress.emit(rec.step, run.total_steps, feed.measure(rec))
        last = feed.take_preview()
        if last is not None:
            feed.send_preview(*last)
        by_request = stop.stop_requested
        averaged, seeds_seconds = 1, 0.0
        if run.step > 0:
            pick = run.cfg.pick
            step = run.suggested[0] if pick == "auto" and run.suggested is not None else run.step
            image = run.result(pick)
            more, self._more_seeds = self._more_seeds, None   # once: a Continue goes on with this seed alone
            if more is not None and not by_request and not run.failed_to_fit:
                t0 = time.monotonic()
                image, averaged = average_seeds(self, stop, image, more, pick)
                seeds_seconds = time.monotonic() - t0
            self.display.emit(int(step), {"result": display_qimage(image)})
            self.result.emit(int(step), image)
        summary = self._summary(run, by_request)
        summary["seeds"], summary["seeds_seconds"] = averaged, seeds_seconds
        self.summary.emit(summary)
        stop.rearm()
        self.finished.emit("stopped" if by_request else "done")

    @staticmethod
    def _summary(run: Restoration, by_request: bool) -> dict:
        """How this steps() call ended, as plain data for the GUI thread: ``how`` is
        "rule" (the stopping rule confirmed its best iterate), "limit" (the step bound) or
        "request" (the user); ``reason`` is the engine's one line (set once the generator
        is closed, which _iterate does before asking)."""
        if by_request or run.step < run.total_steps and not run.stopped_early:
            how = "request"
        else:
            how = "rule" if run.step < run.total_steps else "limit"
        sug = run.suggested
        return {"how": how, "reason": "stopped on request" if how == "request" else run.stop_reason,
                "step": int(run.step), "total": int(run.total_steps),
                "suggested": None if sug is None else (int(sug[0]), float(sug[1])),
                "kind": run.suggested_kind, "pick": run.cfg.pick, "stop": run.cfg.stop,
                "failed_to_fit": bool(run.failed_to_fit)}


