"""The run controller: one run at a time in its worker thread, as a state machine the GUI
follows (GUI thread).

It owns the QThread and the :class:`~app.worker.RunWorker` of the current run, forwards the
worker's signals as its own (dropping what a replaced worker still had queued), and keeps a
finished run alive for scrubbing and Continue. It never waits on the worker while a run goes:
stop and pause go straight to the run's controls, and a discarded run still inside a step is
left to end by itself.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, Signal, Slot

from engine.config import RunConfig
from engine.errors import DIPError
from engine.job import TiledRestoration
from engine.job_parts import JobParts
from engine.run import Restoration
from engine.tiling import Plan

from .seed_worker import SeedsFactory, other_seeds
from .worker import FORWARDED_SIGNALS, RunFactory, RunWorker

log = logging.getLogger(__name__)


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
        self.start_with(lambda: Restoration(cfg, image, mask, guide, reference),
                        more_seeds=other_seeds(cfg, image, mask, guide, reference))

    def start_tiled(self, cfg: RunConfig, plan: Plan, image: np.ndarray, mask: np.ndarray | None = None,
                    guide: np.ndarray | None = None, reference: np.ndarray | None = None,
                    parts: Path | None = None) -> None:
        """A photo in the plan's tiles or crops: the job is built in the worker's thread.
        ``parts``: a folder where each finished unit is kept on disk (engine/job_parts.py), so
        that a crash loses none; the same job run again goes on from them."""
        if self.active:
            raise RuntimeError("a run is already going")
        self.discard()
        image, mask, guide, reference = _private_copies(image, mask, guide, reference)

        def build() -> TiledRestoration:
            job = TiledRestoration(cfg, plan, image, mask, guide, reference)
            if parts is not None:
                try:   # the job runs whatever the disk says; a refusal is logged
                    job.keep_parts(JobParts.of_job(parts, cfg, plan, image, mask, guide), warn=log.warning)
                except (DIPError, OSError) as e:
                    log.warning("finished tiles are not kept on disk: %s", e)
            return job
        self.start_with(build)

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
                 "total": run.cfg.iterations if tiled else run.total_steps, "tiled": tiled,
                 "kept": run.kept_units if tiled else 0},)

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
