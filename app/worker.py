"""Driving an engine run from a worker thread without slowing it down or the GUI.

The pattern is superqt's generator worker, written out: a :class:`RunWorker` lives in a
QThread and its ``start`` slot iterates ``Restoration.steps()``. Everything it hands to the
GUI thread is plain NumPy/Python data (never a tensor), and it is batched and throttled:
losses go out at most every ~100 ms as arrays, previews at most every ~200 ms (the newest
one wins, the ones in between are dropped). Per step the worker only appends two numbers
and reads the clock, so the engine runs at the bare loop's speed.

Control goes straight to the run object (``request_stop``/``pause``/``resume`` are
thread-safe), never through the worker's event queue, which is busy while a run goes.

The GUI thread never runs a torch kernel (parameter counts and cost estimates work on the
meta device). torch's OpenMP gives every thread that runs a parallel op its own team of
helper threads; a GUI-thread team beside the worker's would take the helpers past the core
count (measured on the 2-core machine: the run ~40% slower). tests/test_worker.py checks
that the GUI side of a run stays kernel-free.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, Signal, Slot

from engine.config import RunConfig
from engine.errors import DIPError
from engine.job import TiledRestoration
from engine.run import Restoration
from engine.seeds import Seeds, seed_count
from engine.tiling import Plan

from .canvas import display_qimage
from .seed_worker import SeedsFactory, average_seeds
from .tile_worker import iterate_tiled

log = logging.getLogger(__name__)

LOSS_INTERVAL_S = 0.1       # losses, progress, suggested iterate, snapshots
PREVIEW_INTERVAL_S = 0.2    # preview images (the expensive part for the GUI)

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
    continue the same optimisation.
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
        self._seeds: Seeds | None = None  # while they run
        if isinstance(source, (Restoration, TiledRestoration)):
            self._run: Restoration | None = source
            self._factory: RunFactory | None = None
        else:
            self._run = None
            self._factory = source
        self._stop = threading.Event()
        self._paused = False
        self._lock = threading.Lock()   # orders pause/stop against the run being attached
        self._busy = False
        # which live image the GUI shows (set from the GUI thread; a bool store is atomic):
        # only that one is converted for the screen
        self.show_ema = False

    # ---- control: any thread ---------------------------------------------------------
    @property
    def run(self) -> Restoration | None:
        return self._run

    @property
    def busy(self) -> bool:
        return self._busy

    def request_stop(self) -> None:
        self._stop.set()
        with self._lock:
            for r in (self._run, self._seeds):
                if r is not None:
                    r.request_stop()   # also releases a pause

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            for r in (self._run, self._seeds):
                if r is not None:
                    r.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            for r in (self._run, self._seeds):
                if r is not None:
                    r.resume()

    def attach_seeds(self, seeds: Seeds | None) -> None:
        """The seeds averaged after the watched run, so Stop and Pause reach them (or None)."""
        with self._lock:
            self._seeds = seeds
            if seeds is not None and self._paused:
                seeds.pause()

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
                with self._lock:
                    self._run = run
                    if self._paused:
                        run.pause()
                self.ready.emit(run)
            if self._stop.is_set():
                # stopped while the network was being built: nothing ran
                self._stop.clear()
                self.finished.emit("stopped")
                return
            if isinstance(self._run, TiledRestoration):
                iterate_tiled(self, self._run, LOSS_INTERVAL_S, PREVIEW_INTERVAL_S)
            else:
                self._iterate(self._run)
        except DIPError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - the GUI must hear about every failure
            log.error("run failed:\n%s", traceback.format_exc())
            self.failed.emit(f"unexpected error: {type(exc).__name__}: {exc}")

    def _iterate(self, run: Restoration) -> None:
        steps: list[int] = []
        losses: list[float] = []
        pending_preview: tuple[int, Any, Any] | None = None
        pending_psnr: list[tuple[int, dict]] = []
        last_suggested: tuple[int, str | None] | None = None
        pending_suggested: tuple[int, float, str] | None = None
        pending_snapshot: int | None = None
        clock = time.monotonic
        t_loss = t_preview = clock()
        base: tuple[int, float] | None = None    # (step, elapsed) the rate is measured from
        fresh = run.step == 0
        rate = 0.0
        rec = None

        def flush_scalars(now_rec) -> None:
            nonlocal steps, losses, pending_psnr, pending_suggested, pending_snapshot, base, rate
            if steps:
                self.losses.emit(np.asarray(steps, dtype=np.int64), np.asarray(losses, dtype=np.float64))
                steps, losses = [], []
            for s, d in pending_psnr:
                self.psnr.emit(s, d)
            pending_psnr = []
            if pending_suggested is not None:
                self.suggested.emit(*pending_suggested)
                pending_suggested = None
            if pending_snapshot is not None:
                self.snapshot.emit(pending_snapshot)
                pending_snapshot = None
            if now_rec is None:
                return
            # steps/s from the engine's clock, which leaves pauses out
            if base is not None and now_rec.step > base[0] and now_rec.elapsed > base[1]:
                inst = (now_rec.step - base[0]) / (now_rec.elapsed - base[1])
                rate = inst if rate == 0.0 else 0.6 * rate + 0.4 * inst
            elif fresh and now_rec.elapsed > 0:
                rate = now_rec.step / now_rec.elapsed
            base = (now_rec.step, now_rec.elapsed)
            self.progress.emit(now_rec.step, run.total_steps, rate)

        gen = run.steps()
        try:
            for rec in gen:
                steps.append(rec.step)
                losses.append(rec.loss)
                if rec.preview is not None:
                    pending_preview = (rec.step, rec.preview, rec.preview_ema)
                if rec.psnr is not None:
                    pending_psnr.append((rec.step, rec.psnr))
                if rec.suggested is not None:
                    kind = run.suggested_kind   # read here, in the thread that steps the run
                    if (rec.suggested[0], kind) != last_suggested:
                        last_suggested = (rec.suggested[0], kind)
                        pending_suggested = (int(rec.suggested[0]), float(rec.suggested[1]), kind or "output")
                if rec.snapshot:
                    pending_snapshot = rec.step
                if rec.change is not None:   # a few times per look-back: no throttling needed
                    self.change.emit(rec.step, rec.change)
                now = clock()
                if now - t_loss >= LOSS_INTERVAL_S:
                    t_loss = now
                    flush_scalars(rec)
                if pending_preview is not None and now - t_preview >= PREVIEW_INTERVAL_S:
                    t_preview = now
                    self._emit_preview(*pending_preview)
                    pending_preview = None
                if self._stop.is_set():
                    break
        finally:
            gen.close()
        if rec is not None and rec.preview is None:
            # a stop that lands after the engine observed the step leaves the last record
            # bare: preview it and keep it in the history, so the final state is scrubbable
            out = run.result("last")
            ema = run.result("ema") if run.cfg.ema > 0 else None
            pending_preview = (rec.step, out, ema)
            if not rec.snapshot:
                run.history.add(rec.step, out, ema, rec.loss)
                pending_snapshot = rec.step
        flush_scalars(rec)
        if pending_preview is not None:
            self._emit_preview(*pending_preview)
        by_request = self._stop.is_set()
        averaged, seeds_seconds = 1, 0.0
        if run.step > 0:
            pick = run.cfg.pick
            step = run.suggested[0] if pick == "auto" and run.suggested is not None else run.step
            image = run.result(pick)
            more, self._more_seeds = self._more_seeds, None   # once: a Continue goes on with this seed alone
            if more is not None and not by_request and not run.failed_to_fit:
                t0 = time.monotonic()
                image, averaged = average_seeds(self, image, more, pick)
                seeds_seconds = time.monotonic() - t0
            self.display.emit(int(step), {"result": display_qimage(image)})
            self.result.emit(int(step), image)
        summary = self._summary(run, by_request)
        summary["seeds"], summary["seeds_seconds"] = averaged, seeds_seconds
        self.summary.emit(summary)
        self._stop.clear()
        self.finished.emit("stopped" if by_request else "done")

    def _emit_preview(self, step: int, output, ema) -> None:
        if self.show_ema and ema is not None:
            self.display.emit(step, {"ema": display_qimage(ema)})
        else:
            self.display.emit(step, {"output": display_qimage(output)})
        self.preview.emit(step, output, ema)

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


class RunController(QObject):
    """Owns the worker thread of one run at a time and forwards its signals (GUI thread).

    States: ``idle`` (no run), ``building``, ``running``, ``paused``, ``stopping``,
    ``stopped``, ``done``, ``failed``. After ``stopped``/``done`` the run (its history
    and its network) stays alive for scrubbing and ``continue_run``.
    """

    ready = Signal(object)                     # info dict: params, device, out_shape, total
    losses = Signal(object, object)
    preview = Signal(int, object, object)
    display = Signal(int, object)
    psnr = Signal(int, object)
    suggested = Signal(int, float, str)
    progress = Signal(int, int, float)
    change = Signal(int, float)
    snapshot = Signal(int)
    result = Signal(int, object)
    summary = Signal(object)
    finished = Signal(str)
    failed = Signal(str)
    unit = Signal(object)
    tile_image = Signal(object, object, str)
    seeds = Signal(int, int, int)
    stateChanged = Signal(str)
    _kick = Signal()                           # re-enters RunWorker.start in its thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: RunWorker | None = None
        self._state = "idle"
        self.last_summary: dict | None = None     # how the last steps() call ended
        # threads of discarded runs still finishing their step in flight (never waited on)
        self._orphans: list[tuple[QThread, RunWorker]] = []
        self._show_ema = False
        # what a forwarded signal does to the controller before it goes out; each returns
        # the arguments to re-emit
        self._before_forward: dict[str, Callable[..., tuple]] = {
            "ready": self._ready_info, "summary": self._keep_summary,
            "finished": self._enter_end_state, "failed": self._enter_failed,
        }

    # ---- queries ---------------------------------------------------------------------
    @property
    def threads(self) -> int:
        """CPU threads a run gets: torch's thread count (the GUI thread runs no kernels)."""
        return torch.get_num_threads()

    @property
    def state(self) -> str:
        return self._state

    @property
    def active(self) -> bool:
        """A thread is building or stepping (the GUI must not start another run)."""
        return self._state in ("building", "running", "paused", "stopping")

    @property
    def run(self) -> Restoration | None:
        return None if self._worker is None else self._worker.run

    @property
    def history(self):
        """The run's snapshots (None without a run, and for a tiled job: it keeps none)."""
        return getattr(self.run, "history", None)

    @property
    def tiled(self) -> bool:
        return isinstance(self.run, TiledRestoration)

    @property
    def can_continue(self) -> bool:
        run = self.run
        if isinstance(run, TiledRestoration) and run.finished:
            return False   # every unit is done: nothing left to continue
        return self._state in ("stopped", "done") and run is not None

    # ---- commands (GUI thread) -------------------------------------------------------
    def set_show_ema(self, on: bool) -> None:
        """Which live image the GUI shows: the worker converts only that one for the screen
        (the other, shown after a toggle, is converted by the canvas once)."""
        self._show_ema = bool(on)
        if self._worker is not None:
            self._worker.show_ema = self._show_ema

    def start(self, cfg: RunConfig, image: np.ndarray, mask: np.ndarray | None = None,
              guide: np.ndarray | None = None, reference: np.ndarray | None = None) -> None:
        if self.active:
            raise RuntimeError("a run is already going")
        self.discard()
        image, mask, guide, reference = _private_copies(image, mask, guide, reference)
        n = seed_count(cfg, *image.shape[:2])
        more = None if n == 1 else (lambda: Seeds(cfg, image, n, mask, guide, reference, first=1))
        self.start_with(lambda: Restoration(cfg, image, mask, guide, reference), more_seeds=more)

    def start_tiled(self, cfg: RunConfig, plan: Plan, image: np.ndarray, mask: np.ndarray | None = None,
                    guide: np.ndarray | None = None, reference: np.ndarray | None = None) -> None:
        """A photo in the plan's tiles or crops: the job is built in the worker's thread."""
        if self.active:
            raise RuntimeError("a run is already going")
        self.discard()
        image, mask, guide, reference = _private_copies(image, mask, guide, reference)
        self.start_with(lambda: TiledRestoration(cfg, plan, image, mask, guide, reference))

    def start_with(self, source: Restoration | RunFactory, more_seeds: SeedsFactory | None = None) -> None:
        """Start from a ready Restoration or a factory (tests, benchmarks); ``more_seeds``:
        the other seeds to average once it ends by itself (app/seed_worker.py)."""
        if self.active:
            raise RuntimeError("a run is already going")
        self.discard()
        worker = RunWorker(source, more_seeds=more_seeds)
        worker.show_ema = self._show_ema
        thread = QThread()
        thread.setObjectName("dip-run")
        worker.moveToThread(thread)
        for name in FORWARDED_SIGNALS:
            getattr(worker, name).connect(self._forward)
        thread.started.connect(worker.start)
        self._kick.connect(worker.start)
        self._worker, self._thread = worker, thread
        self.last_summary = None
        self._set_state("building" if worker.run is None else "running")
        thread.start()

    def pause(self) -> None:
        if self._worker is not None and self._state in ("building", "running"):
            self._worker.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self._worker is not None and self._state == "paused":
            self._worker.resume()
            self._set_state("running" if self._worker.run is not None else "building")

    def stop(self) -> None:
        if self._worker is not None and self._state in ("building", "running", "paused"):
            self._worker.request_stop()
            self._set_state("stopping")

    def continue_run(self, extra_steps: int) -> None:
        """Extend a stopped/finished run by ``extra_steps`` and go on (same net, Adam, EMA)."""
        if not self.can_continue or self._worker is None:
            raise RuntimeError("there is no stopped run to continue")
        run = self._worker.run
        if not isinstance(run, TiledRestoration):   # a tiled job continues its units as planned
            # N more steps from where it stopped (a stopped run may have had steps left)
            delta = run.step + max(1, int(extra_steps)) - run.total_steps
            if delta:
                run.extend(delta)
        self._worker.resume()
        self.last_summary = None
        self._set_state("running")
        if self._thread is not None and not self._thread.isRunning():
            # shutdown() ended the thread's event loop: a kick would be queued to a thread
            # that never runs it. Restarting the thread starts the worker (thread.started).
            self._thread.start()
        else:
            self._kick.emit()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the run and join the thread, waiting at most ``timeout_ms`` (tests, the end
        of the process; the window never waits: it stops and acts on ``finished``). True
        when the thread ended. The run stays continuable (``continue_run`` restarts the
        thread)."""
        ok = True
        if self._worker is not None:
            self._worker.request_stop()
        if self._thread is not None:
            self._thread.quit()
            ok = self._thread.wait(timeout_ms)
            if ok:
                # what the worker sent before it ended (its last batch, finished) is still
                # queued: deliver it now, or it would land after a continue_run
                QCoreApplication.sendPostedEvents(self, QEvent.MetaCall)
        if ok and self.active:
            self._set_state("stopped")
        return ok

    def discard(self, timeout_ms: int = 500) -> bool:
        """Forget the current run and free its memory, without blocking the caller for more
        than ``timeout_ms``: a thread still inside a step is left to finish it (it was told
        to stop) and is cleaned up when it ends. True when nothing was left running."""
        thread, worker = self._thread, self._worker
        self._worker, self._thread = None, None
        done = True
        if thread is not None:
            if worker is not None:
                worker.request_stop()
            try:
                self._kick.disconnect()
            except (RuntimeError, TypeError):
                pass
            thread.quit()
            done = thread.wait(max(0, int(timeout_ms)))
        if done:
            self._release(worker)
        else:
            log.info("a discarded run is finishing its step; it is freed when it ends")
            self._orphans.append((thread, worker))
            thread.finished.connect(self._reap_orphans)
        if self._state != "idle":
            self._set_state("idle")
        return done

    @staticmethod
    def _release(worker: RunWorker | None) -> None:
        if worker is not None:
            run = worker.run
            if run is not None:
                run.close()
            worker.deleteLater()

    @Slot()
    def _reap_orphans(self) -> None:
        keep = []
        for thread, worker in self._orphans:
            if thread.isFinished():
                self._release(worker)
            else:
                keep.append((thread, worker))
        self._orphans = keep

    @property
    def orphans(self) -> int:
        """Discarded runs whose thread has not ended yet."""
        return len(self._orphans)

    def thread_finished(self) -> bool:
        return self._thread is None or self._thread.isFinished()

    # ---- worker signals (arrive queued in the GUI thread) ----------------------------
    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def _forward(self, *args) -> None:
        # Deliberately not a @Slot: PySide6 then connects the bound method as a slot of this
        # object, so the worker's emits arrive queued in the GUI thread with sender() set
        # (a lambda or functools.partial would run in the worker's thread).
        worker = self.sender()
        if worker is None or worker is not self._worker:
            return   # queued by a discarded worker before it was replaced
        name = worker.metaObject().method(self.senderSignalIndex()).name().data().decode()
        before = self._before_forward.get(name)
        if before is not None:
            args = before(*args)
        getattr(self, name).emit(*args)

    def _ready_info(self, run: Restoration | TiledRestoration) -> tuple[dict]:
        if self._state == "building":
            self._set_state("running")
        tiled = isinstance(run, TiledRestoration)
        return ({"params": run.param_count, "device": run.device_name, "out_shape": tuple(run.out_shape),
                 "total": run.cfg.iterations if tiled else run.total_steps, "tiled": tiled},)

    def _keep_summary(self, info: dict) -> tuple[dict]:
        self.last_summary = info
        return (info,)

    def _enter_end_state(self, reason: str) -> tuple[str]:
        self._set_state(reason)
        return (reason,)

    def _enter_failed(self, message: str) -> tuple[str]:
        self._set_state("failed")
        return (message,)


def _private_copies(image, mask, guide, reference):
    """The run's own arrays: the GUI may edit its arrays (painting) while the run builds."""
    def copy(a, dtype):
        return None if a is None else np.array(a, dtype=dtype, copy=True)
    return copy(image, np.float32), copy(mask, bool), copy(guide, np.float32), copy(reference, np.float32)
