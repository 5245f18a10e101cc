"""The worker's second phase where the config averages seeds (engine/seeds.py): the run the
user watched has ended by itself; the other seeds now run side by side, unwatched, and the
result becomes the mean of every seed's pick.

Why after, not beside: the watched run is what the user judges while it goes (its curve, its
previews, its snapshots to scrub), and alone it runs at the full speed of the machine; the
others add nothing to look at until they end. On the 2-core CPU the order costs a few seconds
against all seeds side by side (a 128 px denoise: about 18 s watched, then ~35 s for three more).

A Stop while they run keeps the watched seed's pick (nothing is lost); Pause holds them. A
Continue afterwards goes on with the watched seed alone (its network is the one kept).
"""
from __future__ import annotations

import logging
import time
import traceback
from typing import Callable

import numpy as np

from engine.config import RunConfig
from engine.seeds import Seeds, seed_count

from .feed import SEEDS_INTERVAL_S, WorkerControls, Sink, Throttle

log = logging.getLogger(__name__)

FINAL = -1                  # the "step" of the phase's last signal: (picks in the result, same, FINAL)

SeedsFactory = Callable[[], Seeds]


def other_seeds(cfg: RunConfig, image: np.ndarray, mask: np.ndarray | None = None, guide: np.ndarray | None = None,
                reference: np.ndarray | None = None) -> SeedsFactory | None:
    """What builds the config's seeds after the first (in the worker's thread), or None when
    the config averages one seed on an image of this size."""
    n = seed_count(cfg, *image.shape[:2])
    return None if n == 1 else (lambda: Seeds(cfg, image, n, mask, guide, reference, first=1))


def average_seeds(sink: Sink, stop: WorkerControls, first: np.ndarray, make: SeedsFactory,
                  pick: str) -> tuple[np.ndarray, int]:
    """The mean of ``first`` (the watched seed's pick) and the picks of the seeds ``make``
    builds, and how many picks it holds (1: stopped, a seed did not fit, or one failed: the
    watched seed's pick stands, nothing is lost). Emits ``sink.seeds(done, total, step)``:
    seeds finished (the watched one counts), how many are averaged, and the step of the
    slowest one still running; last ``(count, count, FINAL)``. ``stop`` reaches the seeds
    while they run."""
    try:
        mean, count = _run_seeds(sink, stop, first, make, pick)
    except Exception:   # noqa: BLE001 - an extra seed failing (memory, ...) must not lose the result
        log.warning("averaging seeds failed; keeping the watched seed's result:\n%s", traceback.format_exc())
        mean, count = first, 1
    sink.seeds.emit(count, count, FINAL)   # before the result: what it holds
    return mean, count


def _run_seeds(sink: Sink, stop: WorkerControls, first: np.ndarray, make: SeedsFactory,
               pick: str) -> tuple[np.ndarray, int]:
    seeds = make()
    try:
        total = len(seeds) + 1
        stop.attach(seeds)
        steps = [0] * len(seeds)
        ended = [False] * len(seeds)
        sink.seeds.emit(1, total, 0)
        throttle = Throttle(SEEDS_INTERVAL_S)
        gen = seeds.steps()
        try:
            for k, rec in gen:
                steps[k] = rec.step
                ended[k] = ended[k] or rec.final
                if throttle.due(time.monotonic(), force=rec.final):
                    # the slowest seed under way (one still waiting for a lane is not under way)
                    running = [s for s, e in zip(steps, ended) if s and not e]
                    sink.seeds.emit(1 + sum(ended), total, min(running) if running else max(steps))
                if stop.stop_requested:
                    break
        finally:
            gen.close()
            stop.detach(seeds)
        if stop.stop_requested or not all(ended) or seeds.failed_to_fit:
            return first, 1
        return np.mean([first, *seeds.picks(pick)], axis=0).astype(np.float32), total
    finally:
        seeds.close()


def seeds_text(done: int, total: int, step: int) -> str:
    """The status line while the seeds run."""
    which = "the last one" if total - done == 1 else "the others"
    return (f"Averaging {total} seeds for a smoother result: {done} of {total} done, {which} at step "
            f"{step}. Stop keeps the first seed's result.")
