"""The worker's loop for a photo restored in tiles or crops (engine.job.TiledRestoration).

It runs in the worker's thread, like :meth:`RunWorker._iterate`, and feeds the same sink
(``sink``, ``stop``: the worker's signals and controls) through the same throttled
:class:`~app.feed.Feed`, plus what the canvas needs to show tiles filling in *in place*:

- ``unit(dict)``: which unit runs (a new index first; the GUI then starts a new curve), its
  step and best, the job's done count and ETA; at most every ~100 ms, and once when a
  unit is done. Units stepped side by side (in lanes on a CPU, as one grouped network on a
  GPU) are watched one at a time: the others show their state, and their result when they
  end. In lanes the next unit watched is the one that starts next (a lane that ends begins
  the next queued unit at once), so every curve starts at its unit's first step rather than
  halfway through the other lane's;
- ``tile_image(box, QImage, kind)``: ``kind`` "live" is the running unit's preview
  (tile-sized: a 12 MP photo is never converted per preview), "done" is the photo so far
  inside a finished unit's box (``job.composite(box)``: the blended result, the input
  where no unit has finished), "base" is the upscaled input of a super-resolution job (once).

The losses of each unit are flushed before the next unit's first record, so a batch never
mixes two tiles' steps. A stop is the job's own (``request_stop``): the job ends after the
running step, and a Continue (``steps()`` again) picks up the interrupted unit. When the
job ends (all done, or stopped: the finished units are kept) the whole result goes out
once, as the result and as a QImage made here.
"""
from __future__ import annotations

import time

from engine.job import TiledRestoration, UnitProgress

from .feed import Feed, WorkerControls, Sink
from .qimage import display_qimage

TILED_STEP = -1   # the "step" of a tiled job's result (it has no single step)


def box_tuple(box) -> tuple[int, int, int, int]:
    """(left, top, width, height) in the result's pixels: plain data for a signal."""
    return int(box.left), int(box.top), int(box.width), int(box.height)


def unit_info(job: TiledRestoration, u: UnitProgress, rec, best: int | None, rate: float) -> dict:
    return {"index": u.index, "count": u.count, "box": box_tuple(u.box), "state": u.state,
            "done": u.done, "eta": float(u.eta), "job_seconds": float(u.job_seconds),
            "step": int(rec.step), "total": int(job.cfg.iterations), "best": best, "rate": rate,
            "states": list(job.states)}


def _another_starts(job: TiledRestoration, seen: set[int]) -> bool:
    """Will a unit start beside the running ones soon? In lanes, while a unit is queued or
    taken by a lane but not yet stepped: a lane that ends takes the next at once."""
    return job.lanes > 1 and any(st == "queued" or (st == "running" and i not in seen)
                                 for i, st in enumerate(job.states))


def iterate_tiled(sink: Sink, stop: WorkerControls, job: TiledRestoration) -> None:
    feed = Feed(sink)
    current: int | None = None
    stopping = False
    seen: set[int] = set()    # units whose records came in this call

    def kind_of() -> str | None:
        return job.run.suggested_kind if job.run is not None else None

    def done(u: UnitProgress) -> None:
        sink.tile_image.emit(box_tuple(u.box), display_qimage(job.composite(u.box)), "done")

    fresh_job = job.run is None and job.done_units == job.kept_units and "running" not in job.states
    if job.factor > 1 and fresh_job:
        # a super-resolution job is shown at the result's size: the input, upscaled, under it
        oh, ow, _ = job.out_shape
        sink.tile_image.emit((0, 0, ow, oh), display_qimage(job.degraded()), "base")
    if job.kept_units and fresh_job:   # units an earlier run of the same job left on disk
        for unit in (u for u, st in zip(job.plan.units, job.states) if st == "done"):
            box = unit.out_box(job.factor)
            sink.tile_image.emit(box_tuple(box), display_qimage(job.composite(box)), "done")
    gen = job.steps()
    try:
        for rec in gen:
            u = rec.unit
            fresh = u.index not in seen
            seen.add(u.index)
            if current is None and u.state != "done" and (fresh or not _another_starts(job, seen)):
                feed.flush()                 # the last unit's steps before the next unit's
                feed.new_curve()
                current = u.index
                sink.unit.emit(unit_info(job, u, rec, None, 0.0))
            if u.index != current:
                # another unit of a group stepped side by side (engine/group.py): only its end shows
                if u.state == "done":
                    done(u)
            else:
                feed.record(rec, kind_of)
                if u.state == "done":
                    feed.flush()
                    feed.measure(rec)
                    feed.take_preview()      # stale: the composite below shows the tile
                    done(u)
                    sink.unit.emit(unit_info(job, u, rec, feed.best, feed.rate))
                    feed.scalars.restart()
                    current = None           # the next unit's first record starts its curve
                else:
                    if rec.preview is not None:
                        feed.hold((u, rec.preview, rec.preview_ema))
                    now = time.monotonic()
                    if feed.scalars.due(now):
                        feed.flush()
                        feed.measure(rec)
                        sink.unit.emit(unit_info(job, u, rec, feed.best, feed.rate))
                    live = feed.due_preview(now)
                    if live is not None:
                        pu, out, ema = live
                        sink.tile_image.emit(box_tuple(pu.box), display_qimage(feed.shown(out, ema)[1]), "live")
            if stop.stop_requested and not stopping:
                # not a break: the job ends by itself after this step, with the unit it was in
                # accounted for (closing it right after a unit's last record would leave that
                # unit half-booked, and a Continue would then run nothing)
                stopping = True
                job.request_stop()
    finally:
        gen.close()
    feed.flush()
    if job.finished and job.parts is not None:
        job.parts.remove()   # every unit is in the result now (the autosave keeps it unsaved)
    by_request = stop.stop_requested
    done_units, n = job.done_units, len(job.plan.units)
    image = job.result()   # the finished units in, the input elsewhere
    sink.display.emit(TILED_STEP, {"result": display_qimage(image)})
    sink.result.emit(TILED_STEP, image)
    sink.summary.emit(tiled_summary(job, by_request and done_units < n))
    stop.rearm()
    sink.finished.emit("stopped" if by_request and done_units < n else "done")


def tiled_summary(job: TiledRestoration, by_request: bool) -> dict:
    """How a tiled job's steps() call ended, in the keys of RunWorker._summary plus the
    units: ``how`` "request" (stopped with units to go), "rule" (every unit stopped by
    itself) or "limit"; ``step`` the steps of all units so far."""
    done, n = job.done_units, len(job.plan.units)
    run = job.run
    step = sum(int(i["steps"]) for i in job.unit_info if i) + (int(run.step) if run is not None else 0)
    how = "request" if by_request else ("rule" if job.stopped_early else "limit")
    word = "crop tile" if job.plan.mode == "crops" else "tile"
    running = [i for i, st in enumerate(job.states) if st == "running"]
    if done == n:
        where = f"all {n} {word}s done"
    elif running:       # units stepped side by side (a group) have no one step: the first's number only
        where = f"{word} {running[0] + 1}/{n}" + (f" at step {run.step}" if run is not None else "")
    else:
        where = f"{word} {done + 1}/{n}, before its first step"
    return {"how": how, "reason": job.stop_reason or "", "step": step, "total": int(job.cfg.iterations),
            "suggested": None, "kind": None, "pick": job.cfg.pick, "stop": job.cfg.stop,
            "failed_to_fit": bool(job.failed_units) and len(job.failed_units) == done,
            "tiled": True, "done": done, "units": n, "mode": job.plan.mode,
            "failed_units": list(job.failed_units), "where": where,
            "partial": [(u.index, int(step)) for u, _, step in job.partial()] if by_request else []}
