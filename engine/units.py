"""Units of work: one unit of one image's plan, run by a pure function any executor calls.

A batch (engine/batch.py) turns every photo into the units of its plan (engine/tiling.py:
a whole image, tiles, or crops around the mask) and hands :class:`WorkUnit` s to an
executor (engine/executors.py: in this process, or as Ray tasks on other machines).
:func:`run_unit` is what each executor runs: it crops the unit's pixels out of the image,
runs one :class:`~engine.run.Restoration` per seed and returns the unit's result and a
plain-data record of it. Blending the results into the photo happens on the driver
(:meth:`engine.job.TiledRestoration.add_result`), with the same weights as a job run in
one process.

Same pixels everywhere: a unit is seeded by its place (``Unit.seed``) and carries its CPU
thread count, which :func:`run_unit` sets (engine/device.torch_threads) for the unit's
duration; on a CPU the same seed and the same threads give the same pixels in any process
on any machine with the same torch build (one thread against two differs by a few levels
of 255: invisible, but not equal).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .config import RunConfig
from .errors import DIPError

if TYPE_CHECKING:
    from .tiling import Unit

PROGRESS_EVERY_S = 0.5      # a running unit reports at most this often (and its first and last step)


@dataclass(frozen=True)
class WorkUnit:
    """One independent piece of a batch: unit ``unit`` of image ``job`` (named ``name``)."""

    job: int                  # the image's index in the batch
    name: str                 # the image's name, for progress lines
    unit: Unit                # box (input pixels), seed, ramps
    count: int                # how many units the image has
    threads: int              # torch CPU threads for this unit (a Ray task asks for as many CPUs)
    runs: int = 1             # seeds averaged per unit (--runs)
    factor: int = 1           # super-resolution factor
    unit_budget_mb: int | None = None   # snapshot memory of the unit's run (None: the config's)
    device: str | None = None           # overrides the config's device (e.g. "cpu" on a cluster without GPUs)

    def config(self, cfg: RunConfig) -> RunConfig:
        """The config of this unit's first seed (its others follow it, engine/seeds.py)."""
        return unit_config(cfg, self.unit, 0, self.unit_budget_mb, self.device)

    @property
    def label(self) -> str:
        return f"{self.name} unit {self.unit.index + 1}/{self.count}"


class UnitStopped(Exception):
    """A stop request ended a unit before its own end: it has no result."""


def unit_config(cfg: RunConfig, unit: Unit, seed_index: int = 0, budget_mb: int | None = None,
                device: str | None = None) -> RunConfig:
    """The config of one run of ``unit``, wherever it runs (an executor here, or
    engine/job.py in one process): seed ``seed_index`` of the unit's seeds (the same seeds
    engine/seeds.py gives), the snapshot budget capped at ``budget_mb``, the device, and one
    of several units at the config's tile pace."""
    from .schedule import quick_pace
    from .seeds import member_seed

    if unit.quick:
        cfg = quick_pace(cfg)
    kw: dict[str, Any] = {"seed": member_seed(unit.seed, seed_index)}
    if budget_mb is not None:
        kw["memory_budget_mb"] = min(cfg.memory_budget_mb, budget_mb)
    if device is not None:
        kw["device"] = device
    return cfg.replace(**kw)


def crop(a: np.ndarray | None, box) -> np.ndarray | None:
    """A unit's pixels of ``a`` (None stays None): a copy, since arrays from Ray's object
    store are read-only and a run must own what it fits."""
    return None if a is None else np.array(a[box.slices()], copy=True, order="C")


def unit_steps(cfg: RunConfig | dict, wu: WorkUnit, image: np.ndarray, mask: np.ndarray | None = None,
               guide: np.ndarray | None = None, reference: np.ndarray | None = None,
               stop: threading.Event | None = None) -> Iterator[dict]:
    """Run ``wu`` and yield progress events (plain dicts: the same on every executor); the
    generator's return value is ``(result, info)``: the unit's result (None when it did not
    fit its pixels) and its record. ``stop`` set: :class:`UnitStopped` after the step in flight."""
    from .device import torch_threads
    from .seeds import Seeds

    if isinstance(cfg, dict):
        cfg = RunConfig.from_dict(cfg)
    unit = wu.unit
    box, out_box = unit.box, unit.out_box(wu.factor)
    with torch_threads(wu.threads):
        # --runs N: the unit's seeds (side by side on a CPU), their picks averaged
        seeds = Seeds(wu.config(cfg), crop(image, box), max(1, wu.runs), mask=crop(mask, box),
                      guide=crop(guide, box), reference=crop(reference, out_box))
        try:
            last, ended = 0.0, [False] * len(seeds)
            for k, rec in seeds.steps():
                if stop is not None and stop.is_set():
                    raise UnitStopped(wu.label)
                run = seeds.runs[k]
                now = time.monotonic()
                if rec.final:
                    ended[k] = run.ended
                if rec.step == 1 or now - last >= PROGRESS_EVERY_S or rec.final:
                    last = now
                    yield progress_event(wu, rec.step, run.total_steps, rec.loss, rec.suggested,
                                         "running", seeds.elapsed, seed_index=k)
            if not all(ended):
                raise UnitStopped(wu.label)
            # a seed that did not fit leaves the unit without a result (the caller keeps the input)
            result = None if seeds.failed_to_fit else seeds.result(cfg.pick)
            if result is not None and not np.isfinite(result).all():
                raise DIPError(f"{wu.label} produced non-finite pixels")
            last_run = seeds.runs[-1]
            info = {"index": unit.index, "box": unit.box, "seed": seeds.runs[0].cfg.seed,
                    "steps": last_run.step, "seconds": seeds.elapsed,
                    "stopped_early": all(r.stopped_early for r in seeds.runs),
                    "stop_reason": last_run.stop_reason, "failed_to_fit": seeds.failed_to_fit,
                    "best_iterate": None if last_run.suggested is None else
                    {"step": last_run.suggested[0], "kind": last_run.suggested_kind},
                    "param_count": last_run.param_count, "device": last_run.device_name,
                    "threads": int(wu.threads), "seeds_side_by_side": seeds.concurrent}
            steps_total = sum(r.step for r in seeds.runs)
        finally:
            seeds.close()
    info["steps_all_seeds"] = steps_total
    return result, info


def group_steps(cfg: RunConfig | dict, wus: list[WorkUnit], arrays: list[tuple], stop: threading.Event | None = None):
    """Units of the same size stepped together as one grouped network (engine/group.py:
    the same mathematics as separate runs; faster where one small unit leaves a GPU idle).
    Yields ``("progress", event)`` and, as each member ends, ``("done", j, result, info)``
    for ``wus[j]`` (result None: it did not fit). One seed per unit."""
    from .device import torch_threads
    from .group import GroupRun

    if isinstance(cfg, dict):
        cfg = RunConfig.from_dict(cfg)
    with torch_threads(wus[0].threads):
        crops = []
        for wu, (image, mask, guide, reference) in zip(wus, arrays):
            box = wu.unit.box
            crops.append((crop(image, box), crop(mask, box), crop(guide, box),
                          crop(reference, wu.unit.out_box(wu.factor))))
        group = GroupRun([wu.config(cfg) for wu in wus], [c[0] for c in crops], masks=[c[1] for c in crops],
                         guides=[c[2] for c in crops], references=[c[3] for c in crops])
        try:
            last = [0.0] * len(wus)
            reported: set[int] = set()
            for out in group.steps():
                if stop is not None and stop.is_set():
                    raise UnitStopped(wus[0].label)
                now = time.monotonic()
                for j, rec in out:
                    m, wu = group.members[j], wus[j]
                    ended = m.done and rec.final
                    if rec.step == 1 or now - last[j] >= PROGRESS_EVERY_S or ended:
                        last[j] = now
                        yield "progress", progress_event(wu, rec.step, m.cfg.iterations, rec.loss, rec.suggested,
                                                         "running", m.elapsed)
                    if ended and j not in reported:
                        reported.add(j)
                        yield ("done", j) + _member_result(cfg, wu, m, group)
            if not group.done:
                raise UnitStopped(wus[0].label)
            for j, m in enumerate(group.members):   # a member that ended without a last record of its own
                if j not in reported:
                    yield ("done", j) + _member_result(cfg, wus[j], m, group)
        finally:
            group.close()


def _member_result(cfg: RunConfig, wu: WorkUnit, m, group) -> tuple[np.ndarray | None, dict]:
    failed = m.error is not None or m.failed_to_fit
    result = None if failed else m.result(cfg.pick)
    if result is not None and not np.isfinite(result).all():
        raise DIPError(f"{wu.label} produced non-finite pixels")
    info = {"index": wu.unit.index, "box": wu.unit.box, "seed": m.cfg.seed, "steps": m.step, "seconds": m.elapsed,
            "stopped_early": m.stopped_early, "stop_reason": m.stop_reason if m.error is None else str(m.error),
            "failed_to_fit": failed, "best_iterate": None if m.suggested is None else
            {"step": m.suggested[0], "kind": m.suggested_kind},
            "param_count": group.param_count, "device": group.device_name, "threads": int(wu.threads),
            "steps_all_seeds": m.step, "grouped": len(group.members)}
    return result, info


def progress_event(wu: WorkUnit, step: int, total: int, loss: float, suggested, state: str,
                   seconds: float, seed_index: int = 0) -> dict:
    return {"job": wu.job, "name": wu.name, "unit": wu.unit.index, "count": wu.count, "step": int(step),
            "total": int(total), "loss": float(loss), "best": None if suggested is None else int(suggested[0]),
            "state": state, "seconds": float(seconds), "seed_index": seed_index, "seeds": int(wu.runs),
            "pid": os.getpid()}


def run_unit(cfg: RunConfig | dict, wu: WorkUnit, image: np.ndarray, mask: np.ndarray | None = None,
             guide: np.ndarray | None = None, reference: np.ndarray | None = None,
             progress: Callable[[dict], None] | None = None,
             stop: threading.Event | None = None) -> tuple[np.ndarray | None, dict]:
    """Run ``wu`` to its end: ``(result, info)``. ``progress(event)`` gets the unit's
    progress events (at most every :data:`PROGRESS_EVERY_S`, its first and its last step).
    Pure in the sense that matters: the result depends only on the arguments."""
    gen = unit_steps(cfg, wu, image, mask, guide, reference, stop)
    while True:
        try:
            ev = next(gen)
        except StopIteration as end:
            return end.value
        if progress is not None:
            progress(ev)
