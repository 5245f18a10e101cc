"""What a run sends the GUI thread, batched and throttled: the one feed of plain, tiled and
seeded runs (app/worker.py, app/tile_worker.py, app/seed_worker.py), and the stop and pause
those loops obey.

The loops run in the worker's thread and write into a *sink* (anything with the run's
signals, :class:`Sink`: the RunWorker, or a test's recorder) through a :class:`Feed`: per step
a loop only appends two numbers and reads the clock, so the engine runs at the bare loop's
speed. Losses, PSNR, the suggested iterate and snapshots go out at most every
``LOSS_INTERVAL_S`` as arrays; previews at most every ``PREVIEW_INTERVAL_S``, the newest one
winning (converting one for the screen is the expensive part, and the GUI shows one at a time).

Why not superqt's ``GeneratorWorker`` / ``qthrottled``: the former emits a signal per yielded
item (the per-step traffic this batching exists to avoid) and runs on a thread pool, while a
run keeps one thread for its life (Continue steps the same network again); the latter
throttles with a QTimer, which needs an event loop in the calling thread, and the worker's
thread is inside the engine's loop the whole time. A clock read per step is all it takes.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Protocol

import numpy as np

from engine.control import Controls

from .qimage import display_qimage

LOSS_INTERVAL_S = 0.1       # losses, progress, suggested iterate, snapshots, a tile's unit info
PREVIEW_INTERVAL_S = 0.2    # preview images (the expensive part for the GUI)
SEEDS_INTERVAL_S = 0.25     # the seeds phase's progress


class SignalLike(Protocol):
    """A Qt signal, or a test's recorder of one (not app/events.Emitter: that one is the plain
    models' event)."""

    def emit(self, *args: Any) -> None: ...


class Sink(Protocol):
    """The run's signals (RunWorker declares them; RunController forwards them), and which
    live image the screen shows: only that one is converted."""

    losses: SignalLike
    preview: SignalLike
    display: SignalLike
    psnr: SignalLike
    suggested: SignalLike
    progress: SignalLike
    change: SignalLike
    snapshot: SignalLike
    result: SignalLike
    summary: SignalLike
    finished: SignalLike
    unit: SignalLike
    tile_image: SignalLike
    seeds: SignalLike
    show_ema: bool


class Throttle:
    """Due at most every ``interval`` seconds (or when forced)."""

    __slots__ = ("interval", "last")

    def __init__(self, interval: float):
        self.interval = interval
        self.last = time.monotonic()

    def restart(self) -> None:
        self.last = time.monotonic()

    def due(self, now: float, force: bool = False) -> bool:
        if force or now - self.last >= self.interval:
            self.last = now
            return True
        return False


class Feed:
    """One ``steps()`` call's records on their way to ``sink``: ``record`` per step, ``flush``
    when ``scalars`` is due (and before anything that must follow the numbers so far),
    ``hold`` a preview and send it when ``due_preview`` gives it back."""

    def __init__(self, sink: Sink, fresh: bool = False):
        self.sink = sink
        self.fresh = fresh       # the run starts at step 0: until two records differ, rate = steps / elapsed
        self.scalars = Throttle(LOSS_INTERVAL_S)
        self.previews = Throttle(PREVIEW_INTERVAL_S)
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._psnr: list[tuple[int, dict]] = []
        self._suggested: tuple[int, float, str] | None = None
        self._snapshot: int | None = None
        self.new_curve()

    def new_curve(self) -> None:
        """A tile's curve starts: its rate, best and preview start over."""
        self._last_suggested: tuple[int, str | None] | None = None
        self._preview: Any = None
        self._base: tuple[int, float] | None = None    # (step, elapsed) the rate is measured from
        self.best: int | None = None
        self.rate = 0.0

    def record(self, rec, kind_of: Callable[[], str | None]) -> None:
        """``kind_of()``: which image the suggested step is ("output" | "ema"), read only when
        a record suggests one, in the thread that steps the run."""
        self._steps.append(rec.step)
        self._losses.append(rec.loss)
        if rec.psnr is not None:
            self._psnr.append((rec.step, rec.psnr))
        if rec.suggested is not None:
            kind = kind_of()
            if (rec.suggested[0], kind) != self._last_suggested:
                self._last_suggested = (rec.suggested[0], kind)
                self.best = int(rec.suggested[0])
                self._suggested = (self.best, float(rec.suggested[1]), kind or "output")

    def snapshot_at(self, step: int) -> None:
        self._snapshot = step

    def flush(self) -> None:
        s = self.sink
        if self._steps:
            s.losses.emit(np.asarray(self._steps, dtype=np.int64), np.asarray(self._losses, dtype=np.float64))
            self._steps, self._losses = [], []
        for step, d in self._psnr:
            s.psnr.emit(step, d)
        self._psnr = []
        if self._suggested is not None:
            s.suggested.emit(*self._suggested)
            self._suggested = None
        if self._snapshot is not None:
            s.snapshot.emit(self._snapshot)
            self._snapshot = None

    def measure(self, rec) -> float:
        """Steps per second on the engine's clock (pauses left out), smoothed."""
        base = self._base
        if base is not None and rec.step > base[0] and rec.elapsed > base[1]:
            inst = (rec.step - base[0]) / (rec.elapsed - base[1])
            self.rate = inst if self.rate == 0.0 else 0.6 * self.rate + 0.4 * inst
        elif self.fresh and rec.elapsed > 0:
            self.rate = rec.step / rec.elapsed
        self._base = (rec.step, rec.elapsed)
        return self.rate

    def hold(self, item: Any) -> None:
        self._preview = item

    def due_preview(self, now: float) -> Any:
        """The held preview when one is due (then no longer held), else None."""
        if self._preview is None or not self.previews.due(now):
            return None
        return self.take_preview()

    def take_preview(self) -> Any:
        item, self._preview = self._preview, None
        return item

    def shown(self, output: np.ndarray, ema: np.ndarray | None) -> tuple[str, np.ndarray]:
        """The live image the screen shows, and which it is."""
        return ("ema", ema) if self.sink.show_ema and ema is not None else ("output", output)

    def send_preview(self, step: int, output: np.ndarray, ema: np.ndarray | None) -> None:
        which, image = self.shown(output, ema)
        self.sink.display.emit(step, {which: display_qimage(image)})
        self.sink.preview.emit(step, output, ema)


class WorkerControls(Controls):
    """The worker's stop and pause (any thread), passed on to the runs it drives through the
    engine's own adoption (engine.control.Controls): the run once it is built, the seeds
    averaged after it while they run; one attached after a pause starts paused. ``rearm``
    after a ``steps()`` call ends lets the next one (Continue) run."""

    def __init__(self) -> None:
        self._init_controls()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def rearm(self) -> None:
        self._stop.clear()

    def attach(self, child: Controls) -> None:
        self._adopt(child)

    def detach(self, child: Controls) -> None:
        self._release(child)
