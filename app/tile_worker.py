"""The worker's loop for a photo restored in tiles or crops (engine.job.TiledRestoration).

It runs in the worker's thread, like :meth:`RunWorker._iterate`, and sends the same kind of
batched, throttled data, plus what the canvas needs to show tiles filling in *in place*:

- ``unit(dict)``: which unit runs (a new index first; the GUI then starts a new curve), its
  step and best, the job's done count and ETA; at most every ~100 ms, and once when a
  unit is done. Units stepped side by side as one grouped network (a GPU) are watched one
  at a time: the others show their state, and their result when they end;
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
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.job import TiledRestoration, UnitProgress

from .qimage import display_qimage

if TYPE_CHECKING:
    from .worker import RunWorker

TILED_STEP = -1   # the "step" of a tiled job's result (it has no single step)


def box_tuple(box) -> tuple[int, int, int, int]:
    """(left, top, width, height) in the result's pixels: plain data for a signal."""
    return int(box.left), int(box.top), int(box.width), int(box.height)


def unit_info(job: TiledRestoration, u: UnitProgress, rec, best: int | None, rate: float) -> dict:
    return {"index": u.index, "count": u.count, "box": box_tuple(u.box), "state": u.state,
            "done": u.done, "eta": float(u.eta), "job_seconds": float(u.job_seconds),
            "step": int(rec.step), "total": int(job.cfg.iterations), "best": best, "rate": rate,
            "states": list(job.states)}


def iterate_tiled(worker: RunWorker, job: TiledRestoration, loss_interval: float, preview_interval: float) -> None:
    steps: list[int] = []
    losses: list[float] = []
    pending_psnr: list[tuple[int, dict]] = []
    pending_suggested: tuple[int, float, str] | None = None
    pending_tile: tuple[Any, Any, Any] | None = None
    last_suggested: tuple[int, str | None] | None = None
    best: int | None = None
    current: int | None = None
    base: tuple[int, float] | None = None
    rate = 0.0
    clock = time.monotonic
    t_loss = t_preview = clock()
    rec = None
    stopping = False

    def flush() -> None:
        nonlocal steps, losses, pending_psnr, pending_suggested
        if steps:
            worker.losses.emit(np.asarray(steps, dtype=np.int64), np.asarray(losses, dtype=np.float64))
            steps, losses = [], []
        for s, d in pending_psnr:
            worker.psnr.emit(s, d)
        pending_psnr = []
        if pending_suggested is not None:
            worker.suggested.emit(*pending_suggested)
            pending_suggested = None

    def measure(r) -> None:
        nonlocal base, rate
        if base is not None and r.step > base[0] and r.elapsed > base[1]:
            inst = (r.step - base[0]) / (r.elapsed - base[1])
            rate = inst if rate == 0.0 else 0.6 * rate + 0.4 * inst
        base = (r.step, r.elapsed)

    if job.factor > 1 and job.done_units == 0 and job.run is None:
        # a super-resolution job is shown at the result's size: the input, upscaled, under it
        oh, ow, _ = job.out_shape
        worker.tile_image.emit((0, 0, ow, oh), display_qimage(job.degraded()), "base")
    gen = job.steps()
    try:
        for rec in gen:
            u = rec.unit
            if current is None and u.state != "done":
                flush()                      # the last unit's steps before the next unit's
                current, base, rate, best, last_suggested, pending_tile = u.index, None, 0.0, None, None, None
                worker.unit.emit(unit_info(job, u, rec, None, 0.0))
            if u.index != current:
                # another unit of a group stepped side by side (engine/group.py): only its end shows
                if u.state == "done":
                    worker.tile_image.emit(box_tuple(u.box), display_qimage(job.composite(u.box)), "done")
            else:
                steps.append(rec.step)
                losses.append(rec.loss)
                if rec.psnr is not None:
                    pending_psnr.append((rec.step, rec.psnr))
                if rec.suggested is not None:
                    run = job.run
                    kind = run.suggested_kind if run is not None else None
                    if (rec.suggested[0], kind) != last_suggested:
                        last_suggested = (rec.suggested[0], kind)
                        best = int(rec.suggested[0])
                        pending_suggested = (best, float(rec.suggested[1]), kind or "output")
                if u.state == "done":
                    flush()
                    measure(rec)
                    pending_tile = None
                    worker.tile_image.emit(box_tuple(u.box), display_qimage(job.composite(u.box)), "done")
                    worker.unit.emit(unit_info(job, u, rec, best, rate))
                    t_loss = clock()
                    current = None           # the next unit's first record starts its curve
                else:
                    if rec.preview is not None:
                        pending_tile = (u, rec.preview, rec.preview_ema)
                    now = clock()
                    if now - t_loss >= loss_interval:
                        t_loss = now
                        flush()
                        measure(rec)
                        worker.unit.emit(unit_info(job, u, rec, best, rate))
                    if pending_tile is not None and now - t_preview >= preview_interval:
                        t_preview = now
                        pu, out, ema = pending_tile
                        image = ema if worker.show_ema and ema is not None else out
                        worker.tile_image.emit(box_tuple(pu.box), display_qimage(image), "live")
                        pending_tile = None
            if worker._stop.is_set() and not stopping:
                # not a break: the job ends by itself after this step, with the unit it was in
                # accounted for (closing it right after a unit's last record would leave that
                # unit half-booked, and a Continue would then run nothing)
                stopping = True
                job.request_stop()
    finally:
        gen.close()
    flush()
    by_request = worker._stop.is_set()
    done, n = job.done_units, len(job.plan.units)
    image = job.result()   # the finished units in, the input elsewhere
    worker.display.emit(TILED_STEP, {"result": display_qimage(image)})
    worker.result.emit(TILED_STEP, image)
    worker.summary.emit(tiled_summary(job, by_request and done < n))
    worker._stop.clear()
    worker.finished.emit("stopped" if by_request and done < n else "done")


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
