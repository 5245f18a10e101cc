"""A rough price of one training step, for the UI and the CLI: parameters, peak memory,
seconds and FLOPs, without allocating a single activation.

FLOPs and the activations autograd keeps come from walking the real network's modules
(``engine.nets.profile``) over the padded frame; the network is built on the meta device,
so even a 4000x3000 request costs milliseconds. Seconds and bytes turn those counts into
wall-clock and memory with constants fitted to the CPU anchors measured on the team's
2-core machine (see the constants below); other devices are scaled guesses.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch

from .config import NetConfig, RunConfig
from .errors import ConfigError
from .inputs import input_channels
from .nets import DIPNet, build_net, count_params
from .nets.profile import profile
from .schedule import uses_bf16

# --- calibration ---------------------------------------------------------------------
# One Adam step on the team's 2-core Xeon (AVX-512, AMX-BF16), 2 threads, torch 2.13, measured
# 2026-12-06 by stepping a Restoration of each preset (benchmarks/README.md, "The cost of a
# megapixel"): 15 cases in float32 and 15 in bf16 autocast, from the 32-channel nets at
# 128-768 px to the paper's 128-channel nets at 128-384 px. A step is a fixed cost plus the
# convolutions' FLOPs at the CPU's arithmetic rate plus a cost per byte of the activations
# autograd keeps (each is written, read back and has a gradient), slowing by up to
# 1 + SLOW as those bytes outgrow the caches (half of it at KNEE):
#   T = overhead + (FLOPs / RATE + kept * PER_BYTE) * (1 + SLOW * kept / (kept + KNEE))
# bf16 has its own constants: it doubles the rate of the wide nets' convolutions (2.6x at 128
# channels) but gains only 1.1-1.5x on the 32-channel ones, whose steps are mostly memory
# traffic. Both fits are within 12 % of every measured step (tests/test_estimate.py).
@dataclass(frozen=True)
class StepModel:
    overhead: float    # s: Python, Adam, the loss
    rate: float        # FLOP/s
    per_byte: float    # s per byte of kept activations
    knee: float        # bytes of kept activations where half of SLOW is reached
    slow: float = 2.0


CPU_FP32 = StepModel(overhead=0.0117, rate=620e9, per_byte=0.646e-9, knee=0.57e9)
CPU_BF16 = StepModel(overhead=0.0149, rate=822e9, per_byte=0.511e-9, knee=1.62e9)

# Peak memory = process baseline + weights, gradients and Adam's two moments + the kept
# activations times a factor for the gradient buffers alive during the backward pass.
ACT_FACTOR = 1.44
BASELINE_BYTES = {
    "cpu": 450e6,    # the Python + torch process and allocator slack (measured: 0.63 GB total at 128x128)
    "cuda": 300e6,   # CUDA context and cuDNN workspace
    "mps": 300e6,
}
# Devices relative to that CPU's float32 step: cuda as the brief's rule of thumb, mps a guess
# (neither measured: a GPU runs float32 by default, engine/schedule.uses_bf16).
SPEEDUP = {"cpu": 1.0, "cuda": 50.0, "mps": 8.0}
STEP_OVERHEAD = {"cuda": 0.003, "mps": 0.01}     # a CPU's is its step model's
BYTES_PER_PARAM = 4 * 4    # float32 weight, gradient, exp_avg, exp_avg_sq


@dataclass(frozen=True)
class Estimate:
    params: int
    bytes: int                  # peak memory of one training step
    seconds_per_step: float     # rough
    flops_per_step: float       # convolutions, forward + backward
    padded: tuple[int, int] = (0, 0)   # (H, W) of the frame the network sees
    problem: str | None = None  # why the network cannot run on that frame, if it cannot


def estimate_cost(cfg: RunConfig, height: int, width: int, device: str | torch.device = "cpu",
                  *, out_channels: int = 3) -> Estimate:
    """The cost of one Adam step producing a ``height`` x ``width`` output on ``device``."""
    if height < 1 or width < 1:
        raise ConfigError(f"image size must be positive, got {width}x{height}")
    kind = _device_kind(device)
    c_in = input_channels(cfg.input_kind, cfg.input_channels)
    net, params = _meta_net(_key(cfg.net), c_in, out_channels)
    m = net.size_multiple
    hp, wp = -(-height // m) * m, -(-width // m) * m
    prof = profile(net, c_in, hp, wp)
    kept = prof.saved_bytes
    seconds = step_seconds(prof.flops, kept, kind, uses_bf16(cfg, torch.device(kind)))
    nbytes = BASELINE_BYTES[kind] + BYTES_PER_PARAM * params + ACT_FACTOR * kept
    return Estimate(params=params, bytes=int(nbytes), seconds_per_step=float(seconds),
                    flops_per_step=float(prof.flops), padded=(hp, wp),
                    problem=prof.problems[0] if prof.problems else None)


# This machine's measured step over the model's, per (device kind, bf16): written by a long
# plan's timing (engine/calibrate.py, its only writer), 1 until then.
SPEED_FACTORS: dict[tuple[str, bool], float] = {}


def speed_factor(kind: str, bf16: bool) -> float:
    """Measured / modelled seconds of a step on ``kind`` in that precision; 1 until measured."""
    return SPEED_FACTORS.get((kind, bool(bf16)), 1.0)


def step_seconds(flops: float, kept: float, kind: str, bf16: bool = False) -> float:
    """Seconds of one step of ``flops`` keeping ``kept`` bytes of activations (the model
    above); a CPU's bf16 steps by their own constants; times this machine's measured speed
    where a long plan has measured it (engine/calibrate.py)."""
    m = CPU_BF16 if bf16 and kind == "cpu" else CPU_FP32
    work = (flops / m.rate + kept * m.per_byte) * (1.0 + m.slow * kept / (kept + m.knee))
    overhead = STEP_OVERHEAD.get(kind, m.overhead)
    return (overhead + work / SPEEDUP[kind]) * speed_factor(kind, bf16)


def _device_kind(device: str | torch.device) -> str:
    name = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    if name == "auto":
        from .device import pick_device
        name = pick_device("auto").type
    if name not in SPEEDUP:
        raise ConfigError(f"unknown device '{name}': choose auto, cpu, cuda or mps")
    return name


def _key(net: NetConfig) -> str:
    return json.dumps(asdict(net), sort_keys=True)


@lru_cache(maxsize=32)
def _meta_net(key: str, in_channels: int, out_channels: int) -> tuple[DIPNet, int]:
    # meta tensors have shapes but no storage: building costs no memory at any width
    with torch.device("meta"):
        net = build_net(NetConfig(**json.loads(key)), in_channels, out_channels)
    return net, count_params(net)


# a run's fixed cost before its first step: building its net, task and input
SETUP_S = {"cpu": 0.5, "cuda": 2.0, "mps": 1.0}


def wall_seconds(seconds_per_step: float, steps: int, device_type: str, seeds: float = 1.0) -> float:
    """The wall time of one run of ``steps`` steps (its setup included), times ``seeds``: the
    time of its seeds as a multiple of one seed's (engine/seeds.seeds_time_factor). The one
    rule for an expected time: each unit of a plan (engine/tiling.py), the settings panel's
    whole run."""
    return float(seeds) * (SETUP_S.get(device_type, 1.0) + int(steps) * float(seconds_per_step))

