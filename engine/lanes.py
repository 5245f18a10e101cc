"""Runs side by side on a CPU: the one home of *lanes*, for a job's tiles, a unit's seeds
and a batch's units (engine/executors.py).

A DIP network is small; one run leaves a second core poorly used (one 128 px step of the
fast denoiser: 27 ms on two threads, 39 ms on one). So on a CPU several runs step at once,
as many *lanes* (Python threads) as torch has threads, each lane with one torch thread,
each taking the next run when its own ends: no core waits for the slowest of a pair. A
lane's one thread makes its arithmetic independent of what runs beside it (a test checks
the pixels against the same run alone). Measured on the team's 2-core CPU (benchmarks/
README.md, "cost of a megapixel"): two lanes give 1.29x the throughput of one run on both
threads at 128 px, 1.26x at 192, 1.12-1.15x at 256-384.

:func:`side_by_side` is the loop; :class:`LaneRun` runs a tiled job's units through it,
made one at a time as a lane takes them (two at once in memory, never the whole job), and
looks to the job like a group of runs (engine/group.py): members, ``steps()``, ``done``.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, Sequence

import torch

from .control import Controls
from .device import torch_threads
from .errors import Diverged

# The time of one run among two lanes, as a share of the same run alone on both threads
# (the plan's estimate: two lanes finish two runs in 2 x this x one run's time). Measured,
# 2-core CPU, the fast denoiser: 0.78 at 128 px, 0.80 at 192, 0.89 at 256, 0.87 at 384.
LANE_COST_SMALL = 0.80        # up to LANE_SMALL_PIXELS
LANE_COST_LARGE = 0.88
LANE_SMALL_PIXELS = 192 * 192


def lane_cost(pixels: int) -> float:
    """One run's share of the wall time when two lanes run side by side (see above)."""
    return LANE_COST_SMALL if pixels <= LANE_SMALL_PIXELS else LANE_COST_LARGE


def wall_share(seconds: float, pixels: int, lanes: int) -> float:
    """A unit's share of the wall time, from ``seconds``, its time alone with all the threads:
    all of it alone (``lanes`` 1), ``lane_cost`` of it in one of two or more busy lanes. The
    rule a plan prices its units by (engine/tiling.py for a job's, engine/batch.py a folder's)."""
    return seconds * lane_cost(pixels) if lanes > 1 else seconds


def booked_seconds(seconds: float, lanes: int) -> dict[str, float]:
    """What a unit that ran ``seconds`` in one of ``lanes`` busy lanes is booked at: its share
    of the wall time (``seconds``), beside its own time (``lane_seconds``); a job's tiles and a
    batch's units alike."""
    return {"lane_seconds": seconds, "seconds": seconds / lanes}


def lane_count(device_type: str, threads: int, runs: int) -> int:
    """How many lanes ``runs`` runs get: one per torch thread on a CPU, never more than the
    runs (more lanes than cores only add switching); one elsewhere (a GPU steps runs as one
    grouped network instead: engine/group.py)."""
    if device_type != "cpu" or runs < 2:
        return 1
    return max(1, min(int(runs), int(threads)))


def side_by_side(starts: Iterable[Callable[[], Iterator]], controls: Controls, lanes: int,
                 on_error: Callable[[int, BaseException], bool] | None = None,
                 on_close: Callable[[int, object], None] | None = None) -> Iterator[tuple[int, object]]:
    """Run ``starts`` (each a callable that begins a run and returns its records: a
    Restoration's ``steps``, or a function that first builds the run) in ``lanes`` lanes,
    yielding ``(k, record)`` as they happen, ``k`` the run's place in ``starts``.

    ``starts`` is a sequence, or an iterator read here, in the consumer's thread, one start
    each time a lane is free (never more runs begun than lanes): a batch's executor reads its
    units so, because reading one may load a photo and call back into the batch.

    A run that raises: ``on_error(k, exc)`` True means it is dealt with (its lane takes the
    next run); otherwise every lane stops (``controls.request_stop``) and the error comes
    out here. Closing the generator stops the lanes and joins them; the records they had
    queued and not yet handed out go to ``on_close(k, record)``, so that a run which ended as
    the stream closed (a Ctrl-C) is not lost with them."""
    lazy = not isinstance(starts, Sequence)
    feed = iter(starts)
    lanes = max(1, int(lanes) if lazy else min(int(lanes), len(starts)))
    # a bounded queue: a slow consumer holds the lanes back instead of piling up records
    q: queue.Queue = queue.Queue(maxsize=64 * lanes)
    todo: queue.Queue = queue.Queue()      # (k, start); None: the lane that takes it ends
    lane_done, run_done = object(), object()
    errors: list[BaseException] = []
    given = 0

    def give() -> None:
        nonlocal given
        start = None if controls._stop.is_set() else next(feed, None)
        if start is None:
            todo.put(None)
            return
        todo.put((given, start))
        given += 1

    def lane() -> None:
        try:
            while not controls._stop.is_set():
                item = todo.get()
                if item is None:
                    return
                k, start = item
                try:
                    for rec in start():
                        q.put((k, rec))
                except BaseException as exc:   # noqa: BLE001 - handed on
                    if on_error is None or not on_error(k, exc):
                        raise
                q.put((k, run_done))
        except BaseException as exc:   # noqa: BLE001 - handed to the consumer
            errors.append(exc)
            controls.request_stop()
        finally:
            q.put((-1, lane_done))

    # torch's thread count is per process and new threads take it: share it out
    with torch_threads(max(1, torch.get_num_threads() // lanes)):
        threads = [threading.Thread(target=lane, name=f"lane-{i}", daemon=True) for i in range(lanes)]
        try:
            for t in threads:
                t.start()
            for _ in range(lanes if lazy else len(starts) + lanes):
                give()
            running = lanes
            while running:
                k, rec = q.get()
                if rec is lane_done:
                    running -= 1
                elif rec is run_done:
                    if lazy:        # that lane is free: its next run (or its end)
                        give()
                else:
                    yield k, rec
        finally:   # also when the consumer closes the generator: stop, drain, join
            if any(t.is_alive() for t in threads):
                controls.request_stop()
            for _ in threads:       # a lane waiting for its next run ends
                todo.put(None)
            def drained(item: tuple[int, object]) -> None:
                if on_close is not None and item[1] is not lane_done and item[1] is not run_done:
                    on_close(*item)
            while any(t.is_alive() for t in threads):
                try:
                    drained(q.get(timeout=0.05))
                except queue.Empty:
                    pass
            for t in threads:
                t.join()
            while not q.empty():      # what the lanes put as they ended
                drained(q.get_nowait())
    if errors:
        raise errors[0]


class LaneRun(Controls):
    """A tiled job's units in lanes. ``make(i)`` builds unit ``i``'s Restoration when a
    lane takes it; while it runs, ``members[i]`` is its :class:`~engine.group.Member`.
    ``steps()`` yields ``[(i, record)]`` per record (the shape a group's steps take) until
    every unit is done or a stop is requested; calling it again continues the units a stop
    interrupted, then the rest. A unit whose run diverges ends with ``member.error``.
    ``forget(i)`` frees a finished unit's run once the job has taken its result."""

    def __init__(self, make: Callable[[int], object], units: Sequence[int], lanes: int):
        self._init_controls()
        self._make = make
        self.units = list(units)
        self.lanes = max(1, int(lanes))
        self.members: dict = {}
        self._finished: set[int] = set()
        self._lock = threading.Lock()
        self.param_count = 0

    @property
    def done(self) -> bool:
        return all(self._ended(i) for i in self.units)

    def _ended(self, i: int) -> bool:
        return i in self._finished or (i in self.members and self.members[i].done)

    def running(self) -> list[tuple[int, object]]:
        """``(unit, member)`` of the units begun and not done (what a stop interrupted), in
        job order; at most one per lane, so this costs nothing per step."""
        with self._lock:
            return sorted((i, m) for i, m in self.members.items() if not m.done)

    def _begin(self, i: int):
        from .group import Member

        with self._lock:
            m = self.members.get(i)
            if m is None:
                # built under the lock (not only for the dict): the job reads running() per
                # record, and a unit it sees as running is then a member with its run, so a
                # stop meanwhile keeps its best so far (tests/test_app_tiles.py fails when not)
                run = self._make(i)
                m = self.members[i] = Member(run)
                self.param_count = run.param_count
                self._adopt(run)      # a stop or pause requested meanwhile reaches it at once
        if self._stop.is_set():       # (its steps() would clear that stop): begun, no step
            return iter(())
        return self._records(m)

    @staticmethod
    def _records(m):
        yield from m.run.steps()
        # marked in the lane, not where the records are read: a final record the consumer
        # never took (it closed the loop) still leaves the unit done, for the job to book
        if m.run.ended:
            m.done = True

    def steps(self):
        self._stop.clear()
        todo = [i for i in self.units if not self._ended(i)]

        def on_error(k: int, exc: BaseException) -> bool:
            if not isinstance(exc, Diverged):
                return False
            m = self.members[todo[k]]       # it diverged: the unit keeps its input, the others go on
            m.error = exc
            m.run.stop_reason = str(exc)
            m.done = True
            return True

        starts = [(lambda i=i: self._begin(i)) for i in todo]
        for k, rec in side_by_side(starts, self, self.lanes, on_error):
            yield [(todo[k], rec)]

    def ended(self, errors_only: bool = False) -> list[int]:
        """Units done and not yet booked (``errors_only``: those that diverged, which send no
        final record), in job order: the job books them."""
        with self._lock:
            return sorted(i for i, m in self.members.items()
                          if m.done and (m.error is not None or not errors_only))

    def forget(self, i: int) -> None:
        """Unit ``i`` is booked by the job: its run is freed and forgotten."""
        with self._lock:
            m = self.members.pop(i, None)
            self._finished.add(i)
        if m is not None:
            self._release(m.run)
            m.run.close()

    def close(self) -> None:
        with self._lock:
            members, self.members = list(self.members.values()), {}
        for m in members:
            self._release(m.run)
            m.run.close()
