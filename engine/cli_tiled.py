"""``restore`` for a photo at its real size: the plan's units run one after the other, or
two side by side on a CPU (engine/job.py, engine/lanes.py), with one progress line that
says which tile, its step and best, and the whole job's ETA. Reached from engine/cli.py once
the plan says tiles or crops."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from .cli_common import strict_json, write_result
from .config import RunConfig
from .durations import format_clock, format_duration
from .errors import DIPError
from .tiling import Plan


class TileProgress:
    """An updating line on a terminal; a line per finished unit otherwise (logs, CI)."""

    def __init__(self, plan: Plan, quiet: bool):
        self.plan = plan
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.what = "crop tile" if plan.mode == "crops" else "tile"

    def update(self, rec, total_steps: int) -> None:
        if self.quiet or rec.unit is None:
            return
        u = rec.unit
        done = u.state == "done"
        now = time.monotonic()
        if self.tty and not done and now - self.last < 0.2:
            return
        if not self.tty and not done:
            return
        self.last = now
        best = f"  best {rec.suggested[0]}" if rec.suggested else ""
        psnr = f"  PSNR {rec.psnr['output']:.2f}" if rec.psnr else ""
        state = "done at" if done else "step"
        line = (f"{self.what} {u.index + 1}/{u.count}  {state} {rec.step}/{total_steps}{best}  loss {rec.loss:.3e}"
                f"{psnr}  job {u.done}/{u.count} done, ETA {format_clock(u.eta)}")
        if self.tty:
            sys.stderr.write("\r" + line.ljust(110)[:150] + ("\n" if done else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def restore_tiled(a: argparse.Namespace, cfg: RunConfig, plan: Plan, loaded, mask, guide, reference,
                  n_runs: int) -> int:
    from .calibrate import factor_for
    from .job import TiledRestoration, tiled_summary
    from .job_parts import JobParts, parts_folder
    from .metrics import psnr_protocol, ssim, task_psnr

    image = loaded.array
    job = TiledRestoration(cfg, plan, image, mask=mask, guide=guide, reference=reference, runs=n_runs)
    progress = TileProgress(plan, a.quiet)
    parts = JobParts.of_job(parts_folder(a.output), cfg, plan, image, mask, guide, n_runs)
    resumed = job.keep_parts(parts, warn=lambda text: print(f"\nwarning: {text}", file=sys.stderr))
    if parts.started_over:
        print(f"{parts.folder} held the {progress.what}s of another job (another photo, other settings): "
              f"starting over", file=sys.stderr)
    if not a.quiet:
        print(f"{cfg.task} with preset {cfg.preset}: {cfg.net.arch} net per unit, "
              + ("stops by itself" if plan.auto_stop else f"{cfg.iterations} steps")
              + f" (at most {cfg.iterations} steps each)", file=sys.stderr)
        if resumed:
            print(f"going on from {parts.folder}: {job.done_units} of {len(plan.units)} {progress.what}s already "
                  f"done, about {format_duration(job.eta())} left", file=sys.stderr)
    steps = job.steps()
    try:
        for rec in steps:
            progress.update(rec, cfg.iterations)
    except KeyboardInterrupt:
        steps.close()       # units that ended as Ctrl-C came are booked, so kept, now
        kept = parts.count()
        print(f"\ninterrupted: {kept} of {len(plan.units)} {progress.what}s kept in {parts.folder}; run the "
              f"same command again to go on from them" if kept else "\ninterrupted: nothing written",
              file=sys.stderr)
        return 130
    finally:
        job.close()
    if job.failed_units:
        raise DIPError(job.unfit_words())
    result = job.result()
    metrics = None
    if a.metrics:
        report: dict[str, Any] = {
            "task": cfg.task, "preset": cfg.preset, "architecture": cfg.net.arch, "device": plan.device_words,
            "parameters_per_unit": job.param_count, "seconds": job.elapsed, "pick": cfg.pick,
            "plan": {"text": plan.describe(), **tiled_summary(job), "speed_factor": factor_for(cfg, cfg.device)},
            "stop": {"mode": cfg.stop, "rule": cfg.stop_rule, "reason": job.stop_reason,
                     "units_stopped_early": sum(1 for i in job.unit_info if i and i["stopped_early"])},
            "config": cfg.to_dict(),
        }
        if reference is not None:
            ref = reference if reference.ndim == 3 else reference[:, :, None]
            if ref.shape[2] != result.shape[2]:
                ref = ref.mean(axis=2, keepdims=True) if result.shape[2] == 1 else np.repeat(ref[:, :, :1], 3, 2)
            report["psnr"] = {"input": task_psnr(cfg.task, job.degraded(), ref, scale=cfg.scale),
                              "written": task_psnr(cfg.task, result, ref, scale=cfg.scale)}
            report["psnr_protocol"] = psnr_protocol(cfg.task)
            report["ssim_written"] = ssim(result, ref)
        metrics = (a.metrics, strict_json(report))
    write_result(a.output, result, loaded, metrics)
    parts.remove()
    if not a.quiet:
        print(f"wrote {a.output} ({job.stop_reason})", file=sys.stderr)
        if a.metrics:
            print(f"wrote {a.metrics}", file=sys.stderr)
    return 0
