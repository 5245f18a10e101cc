"""This machine's speed against the step model (engine/estimate.py), measured before a long plan.

The step model's constants were fitted on the team's 2-core CPU on one day. The same virtual
machine steps 1.05-1.3x slower on another day (benchmarks/README.md, "The plan priced by this
machine's own steps"), and a user's laptop or GPU is another machine altogether, so a plan of
hours could be off by hours.
A job estimated past ``CALIBRATE_PAST_S`` therefore first times a few real steps of its own
network at its own unit's size (a ``Restoration`` on a random photo, as the model was fitted;
the model's error on one day differs by size, 1.30x at 128 px and 1.05x at 384) and every
estimate after it is scaled by measured / modelled for that device and precision, for the
rest of the process. It costs a few seconds, mostly the first steps of a new shape building
their kernels, so a short job never pays for it.
"""
from __future__ import annotations

from dataclasses import replace
from time import perf_counter as clock

import numpy as np
import torch

from .config import RunConfig
from .errors import DIPError
from .estimate import SPEED_FACTORS, _device_kind, estimate_cost, speed_factor
from .run import Restoration
from .schedule import uses_bf16

CALIBRATE_PAST_S = 120.0     # a plan estimated past this times the machine first
CALIBRATE_SIDE = 128         # the photo the steps are timed on (output px) where no plan says
SIDES = (64, 256)            # a unit's side, kept in this range: a larger one costs seconds a step
CALIBRATE_STEPS = 8          # timed (their median), after WARMUP_STEPS
WARMUP_STEPS = 5             # a process's first steps of a new shape build their kernels: 0.1-5 s each
FACTOR_RANGE = (0.2, 5.0)    # a wilder reading is a hiccup, not the machine

__all__ = ["calibrate", "calibrated", "factor_for", "forget", "probe_side", "speed_factor", "time_long_plans"]


def forget() -> None:
    """Back to the model's own constants (tests; a device that changed under the process)."""
    SPEED_FACTORS.clear()


def _key(cfg: RunConfig, device: str | torch.device) -> tuple[str, bool]:
    """What a factor is kept per: the device kind and whether ``cfg`` steps in bf16 there."""
    kind = _device_kind(device)
    return kind, uses_bf16(cfg, torch.device(kind))


def calibrated(cfg: RunConfig, device: str | torch.device) -> bool:
    return _key(cfg, device) in SPEED_FACTORS


def factor_for(cfg: RunConfig, device: str | torch.device) -> float:
    """The factor ``cfg``'s steps on ``device`` are priced by (1: the model's own)."""
    return speed_factor(*_key(cfg, device))


def probe_side(plan) -> int:
    """The side to time a plan's steps at: its typical unit's output, within ``SIDES``."""
    boxes = sorted((u.out_box(plan.factor) for u in plan.units), key=lambda b: b.height * b.width)
    if not boxes:
        return CALIBRATE_SIDE
    mid = boxes[len(boxes) // 2]
    return int(min(SIDES[1], max(SIDES[0], round((mid.height * mid.width) ** 0.5))))


def calibrate(cfg: RunConfig, device: str | torch.device, steps: int = CALIBRATE_STEPS,
              side: int | None = None) -> float | None:
    """Time ``steps`` steps of ``cfg``'s network denoising a random ``side`` px photo
    on ``device`` with the threads torch has now, and keep measured / modelled as this device's
    factor in that precision (measured once per process). Returns the factor, or None where the
    steps could not run (out of memory, a device that fails): the model's prices stand, and
    the job itself says what is wrong if it is more than the timing."""
    key = _key(cfg, device)
    if key in SPEED_FACTORS:
        return SPEED_FACTORS[key]
    kind = key[0]
    # the same net denoising: every task's step is its net's (a guide photo is flash's alone)
    kind_in = "noise" if cfg.input_kind == "guide" else cfg.input_kind
    side = side or CALIBRATE_SIDE
    probe = cfg.replace(task="denoise", input_kind=kind_in, iterations=WARMUP_STEPS + steps, stop="never",
                        seeds=1, device=kind, holdout=0.0, discrepancy=False, preview_every=10**6,
                        snapshot_every=10**6)
    photo = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    times = []
    try:
        for _ in Restoration(probe, photo).steps():
            if kind == "cuda":
                torch.cuda.synchronize()
            times.append(clock())
    except (DIPError, RuntimeError, MemoryError):
        return None
    per_step = float(np.median(np.diff(times[WARMUP_STEPS - 1:])))
    modelled = estimate_cost(probe, side, side, kind).seconds_per_step
    lo, hi = FACTOR_RANGE
    SPEED_FACTORS[key] = factor = min(hi, max(lo, per_step / modelled))
    return factor


def time_long_plans(cfg: RunConfig, plans: list, seconds: float) -> tuple[list, float | None]:
    """Plans made before the machine was timed (a photo's, or a folder's one per photo),
    priced by its own steps where together they take ``seconds`` past ``CALIBRATE_PAST_S``:
    each unit's price times the factor (every step is scaled by it; the unit's setup, a
    second, is too). Returns the plans and the factor (None: not timed here, the plans as they
    were)."""
    if (not plans or seconds <= CALIBRATE_PAST_S or any(p.problem for p in plans)
            or calibrated(cfg, plans[0].device)):
        return plans, None
    largest = max(plans, key=lambda p: p.seconds)
    factor = calibrate(cfg, largest.device, side=probe_side(largest))
    if factor is None:
        return plans, None
    return [replace(p, unit_seconds=tuple(t * factor for t in p.unit_seconds),
                    unit_seconds_max=tuple(t * factor for t in p.unit_seconds_max)) for p in plans], factor
