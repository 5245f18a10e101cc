"""The learning rate of a step, and the precision the network's forward pass runs in.

One home for both rules, so the single run (engine/run.py) and the grouped one
(engine/group.py) step alike.

``cosine``: a linear warm-up over ``lr_warmup`` steps, then a half cosine from ``lr`` down
to ``lr_final * lr`` at the run's step bound (the horizon fixed when the run starts: a
continued run goes on at the final rate instead of restarting the schedule). The reference
loop keeps the rate constant; on noise-free data terms (inpainting, super-resolution) the
decay is what lets the picture settle, so the run reaches the constant rate's quality in
fewer steps and the visible-change stop can see it settle (benchmarks/README.md).

The *quick pace* (:func:`quick_pace`) is the schedule a tiled job's units take in place of a
constant rate (engine/units.py ``unit_config`` applies it; engine/tiling.py decides it, from the
photo's noise under 'auto' (:func:`quickens`), and prices it).
"""
from __future__ import annotations

import contextlib
import functools
import math

import torch

from .config import RunConfig
from .noise import NoiseProfile, measure_noise


# A tile of a tiled job, at the quick pace (``tile_pace='quick'``, and 'auto' on white noise: the
# fast denoiser's default):
# a 50-step warm-up to twice the rate, then the cosine. On three held-out photos in tiles
# (sigma 25; benchmarks/README.md, "cost of a megapixel") it stopped at 0.64-0.75x the steps
# (0.68 on average) and wrote -0.25, -0.25 and +0.14 dB; a single 128 px run loses 0.45 dB for
# the same saving (the blend averages two to four tiles' estimates over the overlaps, which may
# take back part of it). So one run keeps the constant rate, and the quality tables with it.
QUICK_RATE = 2.0
QUICK_WARMUP = 50
QUICK_STEPS = 0.68            # ... of the steps a unit at the same pace stops at (the plan's price)


def quickens(cfg: RunConfig, noise: NoiseProfile | None = None) -> bool:
    """Does the quick pace change ``cfg``: a constant rate under ``tile_pace`` 'quick', or
    'auto' on a photo whose ``noise`` (engine/noise.py; None: not measured) is not a camera's?

    'auto' keeps the constant rate on correlated noise: the stop that made real photos stop
    (held-out blocks and the fit's slowing, issue 20) and the moving average's warm-up were
    measured at a constant rate, and on 512 px camera photos in tiles the quick pace wrote
    less in about the same time (benchmarks/README.md, "A whole real photo in tiles")."""
    if cfg.lr_schedule != "constant":
        return False
    if cfg.tile_pace == "auto":
        return noise is None or not noise.correlated
    return cfg.tile_pace == "quick"


def pace_noise(cfg: RunConfig, image) -> NoiseProfile | None:
    """The noise of ``image`` (H x W x C in [0, 1]) where ``cfg``'s tile pace depends on it
    ('auto' at a constant rate: plan_job's ``noise``), else None. A few milliseconds: a large
    photo is measured on a grid of small crops (engine/noise.py)."""
    if cfg.tile_pace != "auto" or cfg.lr_schedule != "constant":
        return None
    return measure_noise(image)


def quick_pace(cfg: RunConfig) -> RunConfig:
    """``cfg`` for one tile at the quick pace (the plan decided it: engine/tiling.py sets the
    units' ``quick``); ``cfg`` itself where it keeps the same pace or runs a schedule of its
    own (so applying it twice changes nothing)."""
    if not quickens(cfg):
        return cfg
    # a short bound (a quick test) still reaches the rate: the warm-up is at most a tenth of it
    warm = min(QUICK_WARMUP, cfg.iterations // 10)
    # the moving average's warm-up (issue 20) was measured at a constant rate only; the tiles
    # and the plan's price (QUICK_STEPS) keep the average they were measured with
    return cfg.replace(lr=QUICK_RATE * cfg.lr, lr_schedule="cosine", lr_warmup=warm, lr_final=0.1,
                       ema_warmup=0.0)


def lr_at(cfg: RunConfig, step: int, horizon: int) -> float:
    """The rate for step ``step`` (1-based: the step about to be taken)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    warm = max(0, int(cfg.lr_warmup))
    if step <= warm:
        return cfg.lr * step / (warm + 1)
    span = max(1, horizon - warm)
    t = min(1.0, (step - warm) / span)
    floor = cfg.lr * cfg.lr_final
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def bf16_supported(device: torch.device) -> bool:
    """Does the device run bfloat16 convolutions natively (a CUDA GPU of compute capability
    8 or later; a CPU with AVX-512 BF16 or AMX)? Elsewhere bf16 is emulated and slower."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            cap = torch.backends.cpu.get_cpu_capability()
        except Exception:
            return False
        return cap in ("AVX512",) and _cpu_has_bf16()
    return False


@functools.lru_cache(maxsize=1)
def _cpu_has_bf16() -> bool:   # read once per process, not at every run's start
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def uses_bf16(cfg: RunConfig, device: torch.device) -> bool:
    """``bf16``: on a CPU or CUDA; ``auto``: on a CPU that runs bf16 natively, where it was
    measured (24 % faster per step at 256 px, no loss of PSNR: benchmarks/README.md). On CUDA
    ``auto`` stays float32 until a GPU run has measured it (the team had none to measure on)."""
    if cfg.precision == "bf16":
        return device.type in ("cpu", "cuda")
    if cfg.precision == "auto":
        return device.type == "cpu" and bf16_supported(device)
    return False


def kernel_autotune(device: torch.device):
    """On CUDA, let cuDNN pick its fastest kernels for the step (fixed shapes, long runs)
    without changing the process-wide flag other code sees; elsewhere nothing."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    cb = torch.backends.cudnn
    return cb.flags(enabled=cb.enabled, benchmark=True, deterministic=cb.deterministic, allow_tf32=cb.allow_tf32)


def forward_precision(enabled: bool, device: torch.device):
    """The context the network's forward pass runs in: bf16 autocast, or nothing. The data
    term, Adam and the moving average stay in float32 (the output is cast back)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
