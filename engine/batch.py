"""Many photos in one command: ``restore --input DIR|GLOB|LIST.txt --output DIR``.

Every photo is planned (engine/tiling.py) into units; the units of all photos go to one
executor (engine/executors.py: in this process, or Ray tasks on a cluster) and come back
in any order (in this process, on a CPU and without ``--threads``, units run side by side
in lanes, one torch thread each: :meth:`Batch._choose_lanes`); each photo's units are
blended on the driver (engine/job.py) and the photo is written the moment its last unit is
in, with its line of the ``--metrics`` JSON Lines file, atomically (engine/imageio.write_all):
a photo's output exists complete or not at all. So a rerun of the same command skips every
photo whose output is there and complete (it decodes, at the expected size) and does the
rest: resume after Ctrl-C, a crash or a reboot. A photo that cannot be read, has no mask,
or fails in a unit is reported and the others go on; the summary table at the end says
done / skipped / failed (with the one-line reason) and the exit status is 1 when anything
failed, 130 after Ctrl-C.

A mask is found the way the app finds it (``photo_mask.png`` beside ``photo.png``:
engine/imageio.sibling_mask), or in a parallel folder (``--mask DIR``: ``DIR/photo.png``,
``DIR/photo_mask.png``, ...). Outputs keep their names (a format that cannot be written
becomes ``.png``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from .batch_inputs import collect_inputs, find_mask, is_batch_input, output_names
from .batch_print import BatchPrinter
from .cli_common import NAME_MAX, _check_destinations, _same_file, strict_json, write_result
from .config import RunConfig
from .errors import DIPError
from .executors import LocalExecutor, Task
from .job_parts import JobParts, parts_folder, remove_parts
from .units import WorkUnit

STATUSES = ("queued", "running", "done", "skipped", "failed", "interrupted")


# ------------------------------------------------------------------ the batch

@dataclass
class BatchOptions:
    cfg: RunConfig                      # the settings every photo is restored with
    inputs: str                         # DIR | GLOB | LIST.txt | one photo
    output: str                         # a folder (one photo: a file)
    mask: str | None = None             # a folder of masks (one photo: the mask file)
    metrics: str | None = None          # JSON Lines, a line per photo (one photo: a JSON report)
    tile: int | str = "auto"
    overlap: int | None = None
    margin: int | None = None
    runs: int | None = None             # seeds averaged per photo; None: the preset's (engine/seeds.py)
    threads: int | None = None          # per unit; None: all of this machine's locally (or lanes), 1 on Ray
    yes: bool = False
    quiet: bool = False
    overwrite: bool = False


@dataclass
class Entry:
    """One photo of the batch and what happened to it."""

    index: int
    input: Path
    output: Path
    mask: Path | None = None
    status: str = "queued"
    reason: str = ""
    plan: Any = None
    job: Any = None                     # the photo's TiledRestoration (its accumulator) while units run
    loaded: Any = None
    seconds: float = 0.0
    steps: list[int] = field(default_factory=list)
    units_done: int = 0
    units: int = 0
    lanes: int = 1                      # its units side by side in this many lanes (1: one at a time)
    arrived: dict = field(default_factory=dict)     # unit index -> (result, info), waiting for its turn
    parts: Any = None                   # its finished units on disk (engine/job_parts.py), when tiled

    @property
    def name(self) -> str:
        return self.input.name

    def event(self) -> dict:
        return {"kind": "image", "index": self.index, "name": self.name, "input": str(self.input),
                "output": str(self.output), "status": self.status, "reason": self.reason,
                "steps": list(self.steps), "seconds": self.seconds, "units": self.units,
                "units_done": self.units_done}


class Batch:
    """Runs a batch: ``Batch(opts, executor).run()`` -> exit status (0, 1 when a photo
    failed, 130 when interrupted). ``on_event(dict)`` sees every progress and photo event
    (``kind`` "progress" | "image" | "plan"); the app's Batch window drives it that way."""

    def __init__(self, opts: BatchOptions, executor, on_event: Callable[[dict], None] | None = None,
                 stream: TextIO | None = None):
        self.opts = opts
        self.executor = executor
        self.on_event = on_event
        self.stream = stream if stream is not None else sys.stderr
        self.cfg = RunConfig.from_dict(opts.cfg.validate().to_dict())
        self.single = not is_batch_input(opts.inputs)
        self.entries: list[Entry] = []
        self.interrupted = False
        self._lines: dict[str, str] = {}      # input -> its JSON line (kept from an earlier run, or new)
        self._other_lines: list[str] = []      # lines of photos not in this batch: kept as they were
        self._progress = BatchPrinter(self, opts.quiet, self.stream)
        self._t0 = time.monotonic()
        self.threads = 1
        self.lanes = 1
        self.speed_factor: float | None = None   # measured / modelled step, where a long plan timed it
        self._in_flight: dict[tuple[int, int], float] = {}   # (photo, unit) -> the seconds it has run

    # ---- phases ------------------------------------------------------------------------
    def run(self) -> int:
        try:
            self._collect()
            self._read_metrics()
            self._plan_all()
            self._time_the_machine()
            if self._too_long():
                return 2
            self._execute()
        except KeyboardInterrupt:
            self.interrupted = True
        stop = getattr(self.executor, "stop", None)
        for e in self.entries:
            if e.status in ("queued", "running") and (e.plan is not None or self.interrupted):
                self.interrupted = self.interrupted or (stop is not None and stop.is_set())
                e.status, e.reason = "interrupted", "interrupted: run the same command again to finish it"
                e.job = e.loaded = None
                self._emit(e.event())
        if self.opts.metrics and not self.single and self.entries:
            self._write_metrics_only()
        self._progress.summary()
        if self.interrupted:
            return 130
        return 1 if any(e.status == "failed" for e in self.entries) else 0

    def _emit(self, ev: dict) -> None:
        if self.on_event is not None:
            self.on_event(ev)

    def _fail(self, e: Entry, reason: str) -> None:
        e.status, e.reason = "failed", " ".join(str(reason).split()) or "failed"
        e.job = e.loaded = None
        if not self.single:
            self._lines[self._key(e)] = json.dumps({"input": str(e.input), "output": str(e.output),
                                                    "status": "failed", "reason": e.reason})
        self._progress.image(e)
        self._emit(e.event())

    def _collect(self) -> None:
        from .imageio import MASK_FORMATS, SAVE_FORMATS

        o = self.opts
        if self.single:
            photos = [Path(o.inputs)]
            _check_destinations([("--output", o.output, SAVE_FORMATS)]
                                + ([("--metrics", o.metrics, None)] if o.metrics else []),
                                [("--input", o.inputs), ("--mask", o.mask)], o.overwrite)
            mask = Path(o.mask) if o.mask else (find_mask(photos[0], None) if self.cfg.task == "inpaint" else None)
            self.entries = [Entry(0, photos[0], Path(o.output), mask)]
            return
        photos = collect_inputs(o.inputs)
        out_dir = Path(o.output)
        photos = self._not_results(photos, out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise DIPError(f"--output {out_dir} is a file: with a folder of photos --output is the folder the "
                           f"results go to (they keep their names)")
        if out_dir.suffix.lower() in SAVE_FORMATS and not out_dir.exists():
            raise DIPError(f"--output {out_dir} looks like a file name: with many photos --output is a folder")
        mask_dir = Path(o.mask) if o.mask else None
        if mask_dir is not None and not mask_dir.is_dir():
            raise DIPError(f"--mask {mask_dir} is not a folder: with many photos --mask is the folder of their masks "
                           f"(DIR/photo.png or DIR/photo_mask.png), or leave it out to use masks beside the photos")
        if o.metrics and Path(o.metrics).suffix.lower() in MASK_FORMATS:
            raise DIPError(f"--metrics {o.metrics} is an image name: it is a JSON Lines file (e.g. metrics.jsonl)")
        names = output_names(photos)
        seen: dict[str, Entry] = {}
        for i, p in enumerate(photos):
            e = Entry(i, p, out_dir / names[i])
            self.entries.append(e)
            if self.cfg.task == "inpaint":
                e.mask = find_mask(p, mask_dir)
            key = os.path.normcase(str(e.output.resolve()))
            if len(os.fsencode(e.output.name)) > NAME_MAX:
                e.status = "failed"
                e.reason = f"its result's name {e.output.name[:24]}... would be over {NAME_MAX} bytes"
            elif key in seen:   # only names that differ in case alone are left to collide here
                e.status, e.reason = "failed", f"same output name as {seen[key].input} ({e.output.name})"
            else:
                seen[key] = e
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DIPError(f"cannot make the folder {out_dir}: {exc.strerror or exc}") from None
        from .imageio import check_writable, remove_temporaries
        # like one photo's --output: a folder nothing can be written to is refused before any step
        check_writable(out_dir / "result.png", "results in", None)
        for e in self.entries:       # what a killed run of this batch left half-written
            remove_temporaries(e.output)

    def _not_results(self, photos: list[Path], out_dir: Path) -> list[Path]:
        """One rule for the output folder: it holds results, never photos. An --input folder
        that is the output folder is refused before anything runs; files a pattern or a list
        finds in the output folder are results of an earlier run and are left out (so a rerun
        of the same command resumes instead of restoring its own results)."""
        if not out_dir.is_dir():
            return photos
        spec = Path(self.opts.inputs)
        if spec.is_dir() and _same_file(str(spec), str(out_dir)):
            raise DIPError(f"--output {out_dir} is the --input folder: the results would land among the photos; "
                           f"choose another folder")
        kept = [p for p in photos if not (p.parent.is_dir() and _same_file(str(p.parent), str(out_dir)))]
        if not kept:
            raise DIPError(f"every photo {self.opts.inputs} finds is in the --output folder {out_dir}, where the "
                           f"results go: choose another folder")
        if len(kept) < len(photos) and not self.opts.quiet:
            self._progress.line(f"note: {len(photos) - len(kept)} files in the output folder {out_dir} are results, "
                                f"not photos: left out")
        return kept

    def _read_metrics(self) -> None:
        o = self.opts
        if not o.metrics or self.single:
            return
        from .imageio import check_writable, remove_temporaries
        check_writable(o.metrics, "metrics", None)
        remove_temporaries(o.metrics)
        p = Path(o.metrics)
        if not p.is_file():
            return
        ours = {self._key(e) for e in self.entries}
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DIPError(f"--metrics {p} cannot be read as a metrics file of a batch ({exc}): it would be "
                           f"replaced; choose another name or move it away") from None
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = os.path.normcase(str(Path(record["input"]).resolve()))
                if not isinstance(record.get("status"), str):
                    raise TypeError("no status")
            except (ValueError, KeyError, TypeError, OSError):
                # the batch writes whole files atomically: a line that is not one of its
                # records means the file is someone else's, which rewriting it would destroy
                raise DIPError(f"--metrics {p} is not a metrics file of a batch (line {n} is not one of its JSON "
                               f"lines): it would be replaced; choose another name or move it away") from None
            if key in ours:
                self._lines[key] = line
            else:
                self._other_lines.append(line)

    @staticmethod
    def _key(e: Entry) -> str:
        return os.path.normcase(str(e.input.resolve()))

    def _complete(self, e: Entry, w: int, h: int) -> bool:
        """The output is there, decodes, and has the size a result of this photo has."""
        from .imageio import image_size, load_image

        if not e.output.is_file():
            return False
        f = self.cfg.out_factor
        try:
            if image_size(e.output) != (w * f, h * f):
                return False
            load_image(e.output)
        except DIPError:
            return False
        return True

    def _plan_all(self) -> None:
        from .imageio import image_size
        from .schedule import pace_noise
        from .tiling import plan_job

        cfg, o = self.cfg, self.opts
        import torch
        default_threads = torch.get_num_threads() if isinstance(self.executor, LocalExecutor) else 1
        self.threads = max(1, int(o.threads)) if o.threads else default_threads
        self.unit_device = self.executor.unit_device(cfg.device)
        fits = getattr(self.executor, "check_fits", None)
        if fits is not None:
            fits(self.threads, self.unit_device)
        plan_device = self.unit_device if self.unit_device in (None, "cpu") else None
        for e in self.entries:
            if e.status == "failed":
                self._fail(e, e.reason)
                continue
            try:
                w, h = image_size(e.input)
                if not self.single and self._complete(e, w, h):
                    e.status, e.reason = "skipped", f"{e.output} is already complete"
                    remove_parts(parts_folder(e.output))   # left by a kill after the write
                    self._lines.setdefault(self._key(e), json.dumps({"input": str(e.input), "output": str(e.output),
                                                                     "status": "skipped"}))
                    self._progress.image(e)
                    self._emit(e.event())
                    continue
                image, mask = self._load(e)
                plan = plan_job(cfg, image.shape[:2], image.shape[2], mask=mask,
                                device=plan_device or cfg.device, tile=o.tile, overlap=o.overlap,
                                margin=o.margin, runs=o.runs or None, lanes=False, noise=pace_noise(cfg, image))
                if plan.problem:
                    raise DIPError(plan.problem)
                if not plan.units:
                    raise DIPError("; ".join(plan.notes) or "nothing to restore")
                e.plan, e.units = plan, len(plan.units)
                e.loaded = None          # read again when its units go out: the plan phase holds no pixels
            except DIPError as exc:
                self._fail(e, str(exc))
            except MemoryError:
                self._fail(e, "out of memory while reading it")
            else:
                self._emit(e.event())
        self._choose_lanes()

    def _choose_lanes(self) -> None:
        """Units side by side on this process's CPU (engine/lanes.py): without ``--threads``,
        as many lanes as torch has threads, one thread per unit, for the photos of one seed
        per unit whose steps fit the CPU tile budget that many at once; the others run one at
        a time with all the threads (and ``--threads N`` keeps every unit so)."""
        from .lanes import lane_count
        from .tiling import lanes_fit

        if self.opts.threads or not isinstance(self.executor, LocalExecutor):
            return
        can = [e for e in self.entries if e.plan is not None and e.plan.device == "cpu" and e.plan.runs == 1]
        lanes = lane_count("cpu", self.threads, sum(len(e.plan.units) for e in can))
        fits = [e for e in can if lanes_fit("cpu", e.plan.step_bytes, lanes)]
        if lanes < 2 or sum(len(e.plan.units) for e in fits) < 2:
            return
        self.lanes = lanes
        for e in fits:
            e.lanes = lanes

    def _time_the_machine(self) -> None:
        """A long folder is priced by this machine's own steps, as a long CLI job is."""
        from .calibrate import time_long_plans

        todo = [e for e in self.entries if e.plan is not None]
        if todo and isinstance(self.executor, LocalExecutor):
            seconds = sum(sum(self._unit_walls(e)) for e in todo) / self.executor.slots(self.threads)
            plans, self.speed_factor = time_long_plans(self.cfg, [e.plan for e in todo], seconds)
            for e, plan in zip(todo, plans):
                e.plan = plan

    def _unit_walls(self, e: Entry) -> list[float]:
        """Each unit's share of the batch's wall time (its plan prices it alone)."""
        from .lanes import wall_share

        f = e.plan.factor
        return [wall_share(s, u.out_box(f).height * u.out_box(f).width, e.lanes)
                for s, u in zip(e.plan.unit_seconds, e.plan.units)]

    def _threads_of(self, e: Entry) -> int:
        return 1 if e.lanes > 1 else self.threads

    def _load(self, e: Entry):
        """The photo and its mask, checked; e.loaded keeps what writing the result needs."""
        from .imageio import check_inpainting_mask, load_image, load_mask

        loaded = load_image(e.input)
        image = loaded.array
        mask = None
        if self.cfg.task == "inpaint":
            if e.mask is None:
                raise DIPError(f"no mask for {e.name}: put {e.input.stem}_mask.png beside it"
                               + (f" or {e.input.stem}.png in {self.opts.mask}" if self.opts.mask and not self.single
                                  else "") + " (white = known pixel, black = to fill)")
            mask = check_inpainting_mask(load_mask(e.mask, image.shape[:2]), e.mask)
        e.loaded = loaded
        return image, mask

    def _too_long(self) -> bool:
        from .durations import format_duration
        from .tiling import LONG_PLAN_S

        todo = [e for e in self.entries if e.plan is not None]
        units = sum(len(e.plan.units) for e in todo)
        seconds = sum(sum(self._unit_walls(e)) for e in todo) / self.executor.slots(self.threads)
        ev = {"kind": "plan", "images": len(self.entries), "to_run": len(todo), "units": units, "seconds": seconds,
              "where": self.executor.describe(), "threads": self.threads, "lanes": self.lanes}
        self._emit(ev)
        too_long = seconds > LONG_PLAN_S and not self.opts.yes
        if todo and (not self.opts.quiet or too_long):
            skipped = sum(1 for e in self.entries if e.status == "skipped")
            what = (f"{todo[0].plan.describe()}" if self.single else
                    f"{len(todo)} of {len(self.entries)} photos to restore ({skipped} already done), {units} units")
            how = f"{self.threads} thread{'s' if self.threads != 1 else ''} per unit"
            if self.lanes > 1:
                alone = sum(1 for e in todo if e.lanes == 1)
                how = f"{self.lanes} units side by side, 1 thread each" + (
                    f" ({alone} photo{'s' if alone != 1 else ''} one unit at a time: {how})" if alone else "")
            self._progress.line(f"plan: {what}; on {self.executor.describe()}, {how}: about "
                                f"{format_duration(seconds)}")
            if self.speed_factor is not None:
                self._progress.line(f"(priced by this machine's own steps: {self.speed_factor:.2f}x the step model's)")
        if too_long:
            self._progress.line(f"error: this batch is estimated at about {format_duration(seconds)}: add --yes to "
                                f"run it")
            return True
        return False

    # ---- running the units -------------------------------------------------------------
    def _tasks(self) -> Iterator[Task]:
        from .job import UNIT_MEMORY_MB, TiledRestoration

        cfg_dict = self.cfg.to_dict()
        for e in self.entries:
            if e.plan is None or e.status != "queued":
                continue
            try:
                image, mask = self._load(e)
                e.job = TiledRestoration(self.cfg, e.plan, image, mask=mask, runs=e.plan.runs, group=1)
                found = self._resume(e, image, mask)
            except DIPError as exc:
                self._fail(e, str(exc))
                continue
            e.status = "running"
            self._emit(e.event())
            plan = e.plan
            if e.job.finished:                     # every unit was on disk (a kill before the write)
                self._finish(e, found[-1][2])
                continue
            budget = UNIT_MEMORY_MB if plan.tiled else None
            for u in plan.units:
                if e.status != "running":          # a unit of it failed: the rest is not worth running
                    break
                if u.index in e.arrived or e.job.states[u.index] == "done":
                    continue
                wu = WorkUnit(job=e.index, name=e.name, unit=u, count=len(plan.units), threads=self._threads_of(e),
                              runs=plan.runs, factor=plan.factor, unit_budget_mb=budget,
                              device=self.unit_device)
                yield Task(wu, cfg_dict, e.index, (image, mask, None, None), lanes=e.lanes)
            image = mask = None

    def _resume(self, e: Entry, image, mask) -> list:
        """A tiled photo's units an earlier run finished (engine/job_parts.py), blended in
        order as arrivals are; the units that run from here on are kept beside its result."""
        if not e.plan.tiled:
            return []
        e.parts = JobParts.of_job(parts_folder(e.output), self.cfg, e.plan, image, mask, runs=e.plan.runs)
        found = e.parts.load()
        for index, result, info in found:
            self._arrive(e, index, result, {**info, "box": e.plan.units[index].box})
        if found:
            self._progress.line(f"{e.name}: going on from {e.parts.folder}: {len(found)} of {e.units} units "
                                f"already done")
        return found

    def _arrive(self, e: Entry, index: int, result, info: dict) -> None:
        # blended in unit order, whatever order they come back in: float sums depend on the
        # order, and the same units must give the same file on every executor
        e.arrived[index] = (result, info)
        while e.job.done_units in e.arrived:
            e.job.add_result(e.job.done_units, *e.arrived.pop(e.job.done_units))
        e.units_done += 1
        e.steps.append(int(info.get("steps", 0)))

    def _execute(self) -> None:
        events = self.executor.execute(self._tasks())
        try:
            for ev in events:
                kind = ev[0]
                if kind == "progress":
                    p = {"kind": "progress", **ev[1]}
                    e = self.entries[p["job"]]
                    if e.status == "running":
                        self._in_flight[(e.index, p["unit"])] = float(p.get("seconds", 0.0))
                        self._progress.progress(p)
                        self._emit(p)
                elif kind == "done":
                    _, task, result, info = ev
                    self._unit_done(self.entries[task.key], task, result, info)
                else:
                    _, task, reason = ev
                    e = self.entries[task.key]
                    self._in_flight.pop((e.index, task.wu.unit.index), None)
                    if e.status == "running":
                        what = f"unit {task.wu.unit.index + 1} of {e.units}: " if e.units > 1 else ""
                        self._fail(e, what + reason)
        finally:
            events.close()          # Ctrl-C or a stop: the executor cancels what is still out
            for _, task, result, info in self.executor.finished_on_close():   # ... and keeps what ended
                self._unit_done(self.entries[task.key], task, result, info)

    def _unit_done(self, e: Entry, task: Task, result, info: dict) -> None:
        self._in_flight.pop((e.index, task.wu.unit.index), None)
        if e.status != "running" or e.job is None:
            return
        if e.parts is not None and result is not None and not info.get("failed_to_fit"):
            warning = e.parts.keep(task.wu.unit.index, result, info)     # on disk, before anything else
            if warning:
                self._progress.line(f"warning: {e.name}: {warning}")
        self._arrive(e, task.wu.unit.index, result, info)
        self._progress.unit_done(e, task.wu, info)
        self._emit({"kind": "progress", "job": e.index, "name": e.name, "unit": task.wu.unit.index,
                    "count": e.units, "step": int(info.get("steps", 0)), "total": self.cfg.iterations, "loss": None,
                    "best": None if not info.get("best_iterate") else info["best_iterate"]["step"], "state": "done",
                    "seconds": float(info.get("seconds", 0.0)), "pid": None})
        if e.job.finished:
            self._finish(e, info)

    def _finish(self, e: Entry, info: dict) -> None:
        from .calibrate import factor_for
        from .job import tiled_summary

        job, cfg = e.job, self.cfg
        if job.failed_units:
            self._fail(e, job.unfit_words())
            return
        result = job.result()
        e.seconds = job.elapsed
        report: dict[str, Any] = {
            "input": str(e.input), "output": str(e.output), "status": "done",
            "task": cfg.task, "preset": cfg.preset, "architecture": cfg.net.arch,
            "executor": self.executor.describe(), "threads_per_unit": self._threads_of(e), "lanes": e.lanes,
            "device": info.get("device"), "parameters_per_unit": job.param_count, "seconds": job.elapsed,
            "pick": cfg.pick, "steps": sum(e.steps),
            "plan": {"text": e.plan.describe(), **tiled_summary(job), "speed_factor": factor_for(cfg, e.plan.device)},
            "stop": {"mode": cfg.stop, "rule": cfg.stop_rule, "reason": job.stop_reason if e.units > 1
                     else info.get("stop_reason"),
                     "units_stopped_early": sum(1 for i in job.unit_info if i and i["stopped_early"])},
            "config": cfg.to_dict(),
        }
        metrics = None
        if self.opts.metrics:
            if self.single:
                text = strict_json(report)
            else:
                self._lines[self._key(e)] = json.dumps(json.loads(strict_json(report)), allow_nan=False)
                text = self._jsonl()
            metrics = (self.opts.metrics, text)
        try:
            write_result(str(e.output), result, e.loaded, metrics)   # the photo and its metrics line, or neither
        except DIPError as exc:
            self._fail(e, str(exc))
            return
        e.status, e.reason = "done", f"wrote {e.output}"
        if e.parts is not None:
            e.parts.remove()
        e.job = e.loaded = e.parts = None
        self._progress.image(e)
        self._emit(e.event())

    # ---- the metrics file ----------------------------------------------------------------
    def _jsonl(self) -> str:
        lines = [self._lines[k] for k in (self._key(e) for e in self.entries) if k in self._lines]
        return "".join(line + "\n" for line in lines + self._other_lines)

    def _write_metrics_only(self) -> None:
        from .imageio import atomic_write
        text = self._jsonl()
        if not text and not Path(self.opts.metrics).exists():
            return                  # nothing finished (Ctrl-C before the first photo): no empty file
        try:
            atomic_write(self.opts.metrics, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        except DIPError as exc:
            self._progress.line(f"error: {exc}")

    # ---- numbers for the printer -------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for e in self.entries if e.status == s) for s in STATUSES}

    def eta(self) -> float:
        """Seconds left: the plans' estimates of what is left, scaled by how the finished
        units compared with theirs, less what the running units have spent, over the units
        that run at once. A unit in a lane is priced and booked at its share of the wall time
        (engine/lanes.py ``wall_share``), and so is what it has spent."""
        done_plan = done_real = left = 0.0
        for e in self.entries:
            if e.plan is None or e.status in ("failed", "skipped"):
                continue
            secs = self._unit_walls(e)
            if e.status == "done":
                done_plan += sum(secs)
                done_real += e.seconds
                continue
            states = e.job.states if e.job is not None else ["queued"] * len(secs)
            for s, st in zip(secs, states):
                if st == "done":
                    done_plan += s
                else:
                    left += s
            if e.job is not None:
                done_real += e.job.elapsed
        ratio = done_real / done_plan if done_plan > 0 and done_real > 0 else 1.0
        spent = sum(s / max(1, self.entries[j].lanes) for (j, _), s in self._in_flight.items())
        return max(0.0, ratio * left - spent) / self.executor.slots(self.threads)
