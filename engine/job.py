"""A job: the units of a plan (engine/tiling.py) run one after the other (on a CPU, two
side by side in lanes, one torch thread each: engine/lanes.py; on a GPU, same-size units
stepped as one group: engine/group.py), their results blended into the photo as each
finishes.

:class:`TiledRestoration` looks like a :class:`~engine.run.Restoration` to whoever drives
it (``steps()``, ``request_stop``/``pause``/``resume``, ``result``, ``elapsed``), so the
CLI and the app's worker drive a 12 MP photo the way they drive a crop. Each record it
yields is the running unit's own ``StepRecord`` (its step, loss, tile-sized previews) with
``rec.unit`` saying which unit, where it goes in the result, and how far the job is.

Memory stays bounded by the unit: the job keeps the photo's arrays (input, the blended
result and its weights) and one unit's run at a time (one per lane), whose snapshot history
is kept small and freed when the unit ends. A stop request ends the job after the running step; the
finished units are kept and so is the interrupted unit's best so far (``result()`` is the
photo with them in and the input elsewhere), and calling ``steps()`` again continues the
interrupted unit from where it was, then the rest.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .config import RunConfig
from .control import Controls
from .degrade import resize
from .errors import DIPError, ImageError
from .lanes import LaneRun, booked_seconds
from .run import Restoration
from .boxes import Box
from .tiling import Plan, Unit, unit_weights
from .units import crop, unit_config

UNIT_MEMORY_MB = 48      # a unit's snapshot history: it is dropped when the unit ends
GROUP_MAX = 16           # units stepped at once as one grouped network, at most


@dataclass(frozen=True)
class UnitProgress:
    """Where a record's unit is: the app paints its preview at ``box``; the CLI prints it."""

    index: int               # 0-based
    count: int
    box: Box                 # in the result's pixels
    state: str               # "running" | "done" (the unit's last record)
    done: int                # units finished so far (this one included once done)
    job_seconds: float       # the job's elapsed seconds (all units)
    eta: float               # the job's remaining seconds, estimated


class TiledRestoration(Controls):
    """Runs ``plan``'s units of ``cfg`` over ``image`` (and its mask, guide, reference)."""

    def __init__(self, cfg: RunConfig, plan: Plan, image: np.ndarray, mask: np.ndarray | None = None,
                 guide: np.ndarray | None = None, reference: np.ndarray | None = None, runs: int = 1,
                 warm_start: bool = False, group: int | None = None, lanes: int | None = None):
        self.cfg = RunConfig.from_dict(cfg.validate().to_dict())
        self.plan = plan
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.shape[:2] != plan.image_hw:
            raise ImageError(f"the plan is for {plan.image_hw[1]}x{plan.image_hw[0]}, "
                             f"the image is {image.shape[1]}x{image.shape[0]}")
        self.image = image
        self.mask = None if mask is None else np.asarray(mask, bool)
        self.guide = guide
        self.reference = reference
        self.runs = max(1, int(runs))
        self.factor = plan.factor
        oh, ow = plan.out_hw
        c = image.shape[2]
        self.out_shape = (oh, ow, c)
        self._acc = np.zeros((oh, ow, c), np.float32)
        self._wsum = np.zeros((oh, ow), np.float32)
        n = len(plan.units)
        self.states = ["queued"] * n
        self.unit_info: list[dict | None] = [None] * n
        self._run: Restoration | None = None      # the running (or interrupted) unit's run
        self._picks: list[np.ndarray] = []        # the running unit's finished seeds
        self._seed_index = 0
        self._init_controls()
        self._lock = threading.Lock()
        self._elapsed_done = 0.0
        self.stop_reason: str | None = None
        self.device_name = plan.device_words
        self.param_count = 0
        self.failed_units: list[int] = []
        # keep_parts(): each unit blended in is also kept on disk (engine/job_parts.py), so that
        # Ctrl-C or a crash loses no finished unit; _warn hears once if the disk refuses
        self.parts = None
        self._warn: Callable[[str], None] | None = None
        self.kept_units = 0                       # units an earlier run left there, blended in
        # warm starts: a unit begins from the trained weights of the finished unit it overlaps
        # most (measured in benchmarks/README.md before being offered as a default)
        self.warm_start = bool(warm_start)
        self._weights: dict[int, dict] = {}
        # units stepped together as one grouped network (engine/group.py): where that is
        # faster (a GPU: one small tile leaves most of it idle), as many as fit its memory;
        # one seed per unit and cold starts only
        if group is None:
            from .group import group_is_faster
            group = GROUP_MAX if group_is_faster(plan.device) else 1
        self.group_size = 1 if (self.runs > 1 or self.warm_start) else max(1, int(group))
        self._group = None                        # the running (or interrupted) GroupRun
        self._group_units: list[int] = []
        # on a CPU, units in lanes side by side (engine/lanes.py), as the plan priced them;
        # one seed per unit and cold starts only, as groups
        plain = self.group_size == 1 and self.runs == 1 and not self.warm_start
        self.lanes = max(1, int(plan.lanes if lanes is None else lanes)) if plain else 1
        self._lane_run: LaneRun | None = None     # the running (or interrupted) units in lanes

    # ---- control (any thread): request_stop, pause, resume (engine/control.py), passed on to
    # the running unit's run or group, which the loop adopts ----
    @property
    def run(self) -> Restoration | None:
        """The running unit's Restoration (None between units; in lanes, the first running)."""
        lr = self._lane_run
        if lr is not None:
            running = lr.running()
            return running[0][1].run if running else None
        return self._run

    @property
    def done_units(self) -> int:
        return self.states.count("done")

    @property
    def finished(self) -> bool:
        return all(st == "done" for st in self.states)

    @property
    def elapsed(self) -> float:
        run = self._run
        return self._elapsed_done + (run.elapsed if run is not None else 0.0)

    def _in_flight_seconds(self) -> float:
        """The seconds the running unit(s) have cost so far (in lanes: their share)."""
        run = self._run
        spent = run.elapsed if run is not None else 0.0
        lr = self._lane_run
        if lr is not None:
            spent += sum(m.elapsed for _, m in lr.running()) / self.lanes
        return spent

    @property
    def stopped_early(self) -> bool:
        """Every unit stopped by itself (the job's own "stopped early")."""
        infos = [i for i in self.unit_info if i]
        return bool(infos) and all(i["stopped_early"] for i in infos)

    def eta(self) -> float:
        """Seconds left: the plan's estimate of the units to go, scaled by how the finished
        ones compared with theirs."""
        plan = self.plan
        done = [i for i, s in enumerate(self.states) if s == "done"]
        planned = sum(plan.unit_seconds[i] for i in done)
        actual = sum(self.unit_info[i]["seconds"] for i in done if self.unit_info[i])
        ratio = actual / planned if planned > 0 and actual > 0 else 1.0
        left = sum(plan.unit_seconds[i] for i, s in enumerate(self.states) if s != "done")
        return max(0.0, ratio * left - self._in_flight_seconds())

    # ---- results -----------------------------------------------------------------------
    def composite(self, box: Box | None = None) -> np.ndarray:
        """The result so far in ``box`` (output pixels; the whole image by default): finished
        units blended, the input elsewhere (for super-resolution, the input upscaled)."""
        oh, ow, _ = self.out_shape
        box = box or Box(0, 0, oh, ow)
        ys, xs = box.slices()
        base = self._base(box)
        wsum = self._wsum[ys, xs]
        have = wsum > 0
        if self.plan.mode == "crops" and self.mask is not None:
            have &= ~self.mask[ys, xs]      # known pixels stay exactly as the photo has them
        if have.any():
            base[have] = self._acc[ys, xs][have] / wsum[have][:, None]
        return base

    def unfit_words(self) -> str:
        """Why nothing is written when units did not fit their pixels, with the rate they ran
        at (a tile's quick pace doubles the config's: engine/schedule.py)."""
        first = self.failed_units[0]
        rate = unit_config(self.cfg, self.plan.units[first]).lr
        return (f"{len(self.failed_units)} of {len(self.plan.units)} units did not fit their pixels (the first: "
                f"unit {first + 1}): nothing written; lower the learning rate (now {rate:g} per unit)")

    def result(self, pick: str | None = None) -> np.ndarray:
        """The whole result (each unit wrote the config's pick when it finished), with the
        best so far of a unit a stop interrupted blended in: steps a user waited for are
        never thrown away, as a stopped plain run keeps its best iterate."""
        base = self.composite()
        partial = self.partial()
        if not partial:
            return base
        acc, wsum = self._acc.copy(), self._wsum.copy()
        for unit, image, _ in partial:
            self._blend(unit, image, acc, wsum)
        have = wsum > 0
        if self.plan.mode == "crops" and self.mask is not None:
            have &= ~self.mask
        base[have] = acc[have] / wsum[have][:, None]
        return base

    def partial(self) -> list[tuple[Unit, np.ndarray, int]]:
        """The interrupted unit(s) as far as they got: (unit, its pick so far, its step),
        for units with a finite output that fits better than flat grey. A unit's finished
        seeds are averaged in. Continue goes on from the same runs."""
        out = []
        run = self._run
        i = next((k for k, st in enumerate(self.states) if st == "running"), None)
        if i is not None and (run is not None or self._picks):
            pick = None if run is None else self._pick_so_far(run)
            picks = self._picks + ([pick] if pick is not None else [])
            if picks:
                out.append((self.plan.units[i], np.mean(picks, axis=0) if len(picks) > 1 else picks[0],
                            run.step if run is not None else 0))
        group = self._group
        lr = self._lane_run
        if lr is not None:
            for i, member in lr.running():
                pick = self._pick_so_far(member)
                if pick is not None:
                    out.append((self.plan.units[i], pick, member.step))
        if group is not None:
            for i, member in zip(self._group_units, group.members):
                pick = None if self.states[i] == "done" or member.error is not None else self._pick_so_far(member)
                if pick is not None:
                    out.append((self.plan.units[i], pick, member.step))
        return out

    def _pick_so_far(self, run) -> np.ndarray | None:
        """A run's pick, or None where it has none worth keeping (no step yet, not better
        than flat grey, non-finite)."""
        if run.step == 0 or run.failed_to_fit:
            return None
        try:
            image = run.result(self.cfg.pick)
        except ImageError:
            return None
        return image if np.isfinite(image).all() else None

    def degraded(self) -> np.ndarray:
        return self._base(None)

    def _base(self, box: Box | None) -> np.ndarray:
        oh, ow, _ = self.out_shape
        box = box or Box(0, 0, oh, ow)
        f = self.factor
        if f == 1:
            return self.image[box.slices()].copy()
        # the low-resolution pixels under the box, upscaled: what "the input" means there
        t, lft = box.top // f, box.left // f
        b, r = -(-box.bottom // f), -(-box.right // f)
        up = resize(self.image[t:b, lft:r], (r - lft) * f, (b - t) * f)
        return up[box.top - t * f:box.top - t * f + box.height, box.left - lft * f:box.left - lft * f + box.width]

    def close(self) -> None:
        with self._lock:
            for r in (self._run, self._group, self._lane_run):
                if r is not None:
                    self._release(r)
                    r.close()
            self._run = self._group = self._lane_run = None

    # ---- the loop ----------------------------------------------------------------------
    def steps(self):
        """Yield the running unit's StepRecords, unit after unit, until all are done or a
        stop is requested. The last record of each unit comes after its result is blended
        in (``rec.unit.state == 'done'``). Grouped units yield their records side by side."""
        self._stop.clear()
        self.stop_reason = None
        units = self.plan.units
        while not self._stop.is_set():
            if not self._running.is_set():
                self._running.wait()
                continue
            if self._group is not None:
                finished = yield from self._run_group()
            elif self._lane_run is not None or (self.lanes > 1 and self._run is None):
                if self._lane_run is None and self.finished:
                    break
                finished = yield from self._run_lanes()
            else:
                pending = [i for i, st in enumerate(self.states) if st != "done"]
                if not pending:
                    break
                batch = self._next_group(pending) if self._run is None else []
                if len(batch) > 1:
                    self._start_group(batch)
                    finished = yield from self._run_group()
                else:
                    finished = yield from self._run_unit(units[pending[0]])
            if not finished:
                break
        self.stop_reason = self._end_reason()

    def _end_reason(self) -> str:
        n = len(self.plan.units)
        if self.finished:
            stopped = sum(1 for i in self.unit_info if i and i["stopped_early"])
            return f"all {n} units done" + (f" ({stopped} stopped by themselves)" if self.plan.auto_stop else "")
        kept = "".join(f", unit {u.index + 1}'s best so far (step {step}) kept" for u, _, step in self.partial())
        return f"stopped on request: {self.done_units} of {n} units done{kept}; the rest is the input"

    # ---- units run elsewhere (engine/units.py run_unit, on any executor) -----------------
    def add_result(self, index: int, result: np.ndarray | None, info: dict) -> None:
        """Blend in unit ``index``'s result, run by someone else (None: it did not fit its
        pixels; the input stays there), and record ``info`` (run_unit's record). The job is
        then only the accumulator: composite(), result(), tiled_summary() work as usual."""
        unit = self.plan.units[index]
        if self.states[index] == "done":
            raise DIPError(f"unit {index + 1} was already blended in")
        if result is None or info.get("failed_to_fit"):
            self.failed_units.append(index)
        else:
            self._blend(unit, result)
        self.unit_info[index] = {k: info[k] for k in ("index", "box", "seed", "steps", "seconds", "lane_seconds",
                                                       "threads", "stopped_early", "stop_reason", "failed_to_fit",
                                                       "best_iterate") if k in info}
        self.param_count = info.get("param_count", self.param_count)
        self._elapsed_done += float(info.get("seconds", 0.0))
        self.states[index] = "done"
        self.stop_reason = self._end_reason()

    def add_finished(self, found: list[tuple[int, np.ndarray, dict]]) -> None:
        """Blend in units an earlier run of the same job finished (engine/job_parts.py)."""
        for index, result, info in found:
            box = self.plan.units[index].out_box(self.factor)
            if self.states[index] != "done" and result.shape == (box.height, box.width, self.out_shape[2]):
                self.add_result(index, result, {**info, "box": self.plan.units[index].box})

    def keep_parts(self, parts, warn: Callable[[str], None] | None = None) -> int:
        """Keep every unit in ``parts`` (an engine/job_parts.JobParts) as it is blended in,
        after blending in what an earlier run of the same job left there; how many it left.
        ``warn`` hears once if the disk refuses (the job goes on)."""
        before = self.done_units
        self.add_finished(parts.load())
        self.parts, self._warn, self.kept_units = parts, warn, self.done_units - before
        return self.kept_units

    # ---- units stepped as one grouped network --------------------------------------------
    def _next_group(self, pending: list[int]) -> list[int]:
        """The next queued units of the first one's size, as many as fit the device."""
        if self.group_size <= 1:
            return []
        from .group import fits_group

        units = self.plan.units
        first = units[pending[0]].box
        same = [i for i in pending if self.states[i] == "queued"
                and (units[i].box.height, units[i].box.width) == (first.height, first.width)]
        same = same[:self.group_size]
        if len(same) < 2:
            return []
        f = self.factor
        k = fits_group(self.cfg, first.height * f, first.width * f, self.plan.device, len(same),
                       out_channels=self.image.shape[2])
        return same[:k] if k >= 2 else []

    def _start_group(self, batch: list[int]) -> None:
        from .group import GroupRun

        units = [self.plan.units[i] for i in batch]
        crops = [u.box for u in units]
        group = GroupRun([unit_config(self.cfg, u, 0, UNIT_MEMORY_MB) for u in units],
                         [crop(self.image, b) for b in crops],
                         masks=[crop(self.mask, b) for b in crops],
                         guides=[crop(self.guide, b) for b in crops],
                         references=[crop(self.reference, u.out_box(self.factor)) for u in units])
        self.param_count = group.param_count
        with self._lock:
            self._group, self._group_units = group, batch
        self._adopt(group)
        for i in batch:
            self.states[i] = "running"

    def _run_group(self):
        """Step the group; each member's unit is blended in as it ends. True once all are."""
        group, batch = self._group, self._group_units
        n = len(self.plan.units)
        t0 = time.perf_counter()
        for out in group.steps():
            self._elapsed_done += time.perf_counter() - t0
            for m, rec in out:
                i = batch[m]
                unit, member = self.plan.units[i], group.members[m]
                state = "running"
                if member.done and rec.final:
                    self.unit_info[i] = self._info(unit, member)
                    failed = member.error is not None or member.failed_to_fit
                    self._complete(unit, None if failed else member.result(self.cfg.pick))
                    state = "done"
                rec.unit = UnitProgress(i, n, unit.out_box(self.factor), state, self.done_units,
                                        self.elapsed, self.eta())
                yield rec
            t0 = time.perf_counter()
        if not group.done:
            return False            # interrupted: the group stays for a continue
        with self._lock:
            self._group, self._group_units = None, []
        self._release(group)
        group.close()
        return True

    # ---- units in lanes side by side (a CPU) ---------------------------------------------
    def _run_lanes(self):
        """Step the units not done in lanes, each blended in as it ends. True once all are."""
        units, n = self.plan.units, len(self.plan.units)
        lr = self._lane_run
        if lr is None:
            pending = [i for i, st in enumerate(self.states) if st != "done"]
            lr = LaneRun(self._unit_run, pending, self.lanes)
            with self._lock:
                self._lane_run = lr
            self._adopt(lr)
        for i in lr.ended():                          # ended as a consumer closed the last call
            self._book_lane(lr, i)
        gen = lr.steps()
        t0 = time.perf_counter()
        try:
            for out in gen:
                self._elapsed_done += time.perf_counter() - t0
                for i in lr.ended(errors_only=True):      # diverged: the input stays there
                    self._book_lane(lr, i)
                for i, rec in out:
                    state = "running"
                    if rec.final and lr.members[i].run.ended:   # its own end, not a stop request
                        self._book_lane(lr, i)
                        state = "done"
                    rec.unit = UnitProgress(i, n, units[i].out_box(self.factor), state, self.done_units,
                                            self.elapsed, self.eta())
                    yield rec
                t0 = time.perf_counter()
        finally:
            gen.close()                               # the lanes are joined: nothing moves now
            for i in lr.ended():                      # also what ended unseen: a stop keeps it
                self._book_lane(lr, i)
        if not lr.done:
            return False            # interrupted: the lanes' runs stay for a continue
        with self._lock:
            self._lane_run = None
        self._release(lr)
        lr.close()
        return True

    def _unit_run(self, i: int) -> Restoration:
        """Unit ``i``'s run, built when a lane takes it (in that lane's thread)."""
        unit = self.plan.units[i]
        self.states[i] = "running"
        run = Restoration(unit_config(self.cfg, unit, 0, UNIT_MEMORY_MB), crop(self.image, unit.box),
                          mask=crop(self.mask, unit.box), guide=crop(self.guide, unit.box),
                          reference=crop(self.reference, unit.out_box(self.factor)))
        self.param_count = run.param_count
        return run

    def _book_lane(self, lr: LaneRun, i: int) -> None:
        """A unit in a lane ended: record it (its seconds: its share of the lanes' wall
        time, as the plan priced it) and blend it in (or keep the input if it failed)."""
        unit, member = self.plan.units[i], lr.members[i]
        info = self._info(unit, member)
        info.update(booked_seconds(info["seconds"], self.lanes))
        self.unit_info[i] = info
        failed = member.error is not None or member.failed_to_fit
        self._complete(unit, None if failed else member.result(self.cfg.pick))
        lr.forget(i)

    def _run_unit(self, unit: Unit):
        """Run (or continue) ``unit``'s seeds; True once it is done and blended in."""
        i = unit.index
        n = len(self.plan.units)
        out_box = unit.out_box(self.factor)
        self.states[i] = "running"
        while self.states[i] != "done":
            run = self._run
            if run is None:
                run = Restoration(unit_config(self.cfg, unit, self._seed_index, UNIT_MEMORY_MB),
                                  crop(self.image, unit.box),
                                  mask=crop(self.mask, unit.box), guide=crop(self.guide, unit.box),
                                  reference=crop(self.reference, out_box),
                                  init_weights=self._neighbour_weights(unit) if self._seed_index == 0 else None)
                self.param_count = run.param_count
                with self._lock:
                    self._run = run
                self._adopt(run)
            gen = run.steps()
            for rec in gen:
                if rec.final and run.ended:   # its own end, not a stop request
                    for _ in gen:   # let steps() close and say why; no record follows a final one
                        pass
                    # the bookkeeping comes before the yield: the consumer may close us there
                    self._seed_done(unit, run)
                    rec.unit = UnitProgress(i, n, out_box, self.states[i], self.done_units, self.elapsed,
                                            self.eta())
                    yield rec
                    break
                rec.unit = UnitProgress(i, n, out_box, "running", self.done_units, self.elapsed, self.eta())
                yield rec
            else:
                return False            # stopped on request: the run stays for a continue
        return True

    def _seed_done(self, unit: Unit, run: Restoration) -> None:
        """A seed of ``unit`` ended by itself: keep its pick; after the last, blend the unit."""
        i = unit.index
        self._picks.append(run.result(self.cfg.pick))
        prev = self.unit_info[i] if self._seed_index > 0 else None
        info = self._info(unit, run)
        if prev is not None:   # a later seed of the same unit: times add up
            info["seconds"] += prev["seconds"]
            info["stopped_early"] = info["stopped_early"] and prev["stopped_early"]
            info["failed_to_fit"] = info["failed_to_fit"] or prev["failed_to_fit"]
        self.unit_info[i] = info
        if self.warm_start and self._seed_index == 0:
            self._weights[i] = run.weights()
        self._elapsed_done += run.elapsed
        with self._lock:
            self._run = None
        self._release(run)
        run.close()
        self._seed_index += 1
        if self._seed_index == self.runs:
            picks, self._picks, self._seed_index = self._picks, [], 0
            self._complete(unit, None if info["failed_to_fit"] else
                           (np.mean(picks, axis=0) if len(picks) > 1 else picks[0]))

    def _info(self, unit: Unit, run) -> dict:
        """What a unit's run did, for reports (a Restoration or a group's Member)."""
        return {"index": unit.index, "box": unit.box, "seed": run.cfg.seed, "steps": run.step,
                "seconds": run.elapsed, "stopped_early": run.stopped_early, "stop_reason": run.stop_reason,
                "failed_to_fit": run.failed_to_fit,
                "best_iterate": None if run.suggested is None else
                {"step": run.suggested[0], "kind": run.suggested_kind}}

    def _complete(self, unit: Unit, result: np.ndarray | None) -> None:
        """The unit is done: its result blended in, or (None: it failed) the input kept there."""
        if result is None:
            self.failed_units.append(unit.index)
        else:
            self._blend(unit, result)
        self.states[unit.index] = "done"
        if result is not None and self.parts is not None:
            text = self.parts.keep(unit.index, result, self.unit_info[unit.index])
            if text and self._warn is not None:
                self._warn(text)

    def _neighbour_weights(self, unit: Unit) -> dict | None:
        """The weights of the finished unit sharing the most pixels with ``unit`` (same-size
        units only: their nets match), or None for a cold start."""
        if not self.warm_start:
            return None
        best, area = None, 0
        for j, w in self._weights.items():
            b = self.plan.units[j].box
            if (b.height, b.width) != (unit.box.height, unit.box.width):
                continue
            dy = min(b.bottom, unit.box.bottom) - max(b.top, unit.box.top)
            dx = min(b.right, unit.box.right) - max(b.left, unit.box.left)
            if dy > 0 and dx > 0 and dy * dx > area:
                best, area = w, dy * dx
        # units above the row before this one can no longer be anyone's best neighbour
        for j in [j for j in self._weights if self.plan.units[j].box.bottom < unit.box.top]:
            del self._weights[j]
        return best

    def _blend(self, unit: Unit, result: np.ndarray, acc: np.ndarray | None = None,
               wsum: np.ndarray | None = None) -> None:
        if not np.isfinite(result).all():
            raise DIPError(f"unit {unit.index + 1} produced non-finite pixels")
        acc = self._acc if acc is None else acc
        wsum = self._wsum if wsum is None else wsum
        b = unit.out_box(self.factor)
        ys, xs = b.slices()
        w = unit_weights(unit, self.factor)
        acc[ys, xs] += result * w[:, :, None]
        wsum[ys, xs] += w


def tiled_summary(job: TiledRestoration) -> dict:
    """The job in plain data, for metrics reports."""
    p = job.plan
    return {
        "mode": p.mode, "units": len(p.units), "tile": p.tile, "overlap": p.overlap,
        "crops": [[b.left, b.top, b.width, b.height] for b in p.crops],
        "estimate_seconds": p.seconds, "estimate_seconds_max": p.seconds_max,
        "estimate_peak_bytes": p.peak_bytes, "seconds": job.elapsed,
        "done": job.done_units, "failed_to_fit": list(job.failed_units),
        "per_unit": [None if i is None else {**i, "box": [i["box"].left, i["box"].top, i["box"].width,
                                                           i["box"].height]}
                     for i in job.unit_info],
    }
