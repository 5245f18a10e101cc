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

# --- calibration ---------------------------------------------------------------------
# The denoise net (skip 128x5, skip 4, 32 input channels) on the 2-core AVX2 CPU, one Adam
# step: 0.30 s / 0.63 GB at 128x128, 1.50 s / 1.09 GB at 256x256, 7.10 s / 2.80 GB at
# 512x512; 0.096 s and 0.047 s at 128x128 with 64 and 32 channels. Throughput falls as the
# activations outgrow the caches, so it is modelled as a function of the bytes autograd
# keeps: T(A) = T_BIG + T_SMALL / (1 + A / A_KNEE), plus a fixed per-step cost (Python,
# Adam, the loss). These reproduce all five anchors within 10%.
CPU_T_BIG = 60e9           # FLOP/s when the activations are far larger than the caches
CPU_T_SMALL = 101.5e9      # extra FLOP/s of small working sets
CPU_A_KNEE = 88e6          # bytes of kept activations where half of that extra is lost
CPU_STEP_OVERHEAD = 0.03   # s
# Peak memory = process baseline + weights, gradients and Adam's two moments + the kept
# activations times a factor for the gradient buffers alive during the backward pass.
ACT_FACTOR = 1.44
BASELINE_BYTES = {
    "cpu": 450e6,    # the Python + torch process and allocator slack (measured: 0.63 GB total at 128x128)
    "cuda": 300e6,   # CUDA context and cuDNN workspace
    "mps": 300e6,
}
# Devices relative to that CPU: cuda as the brief's rule of thumb, mps a guess.
SPEEDUP = {"cpu": 1.0, "cuda": 50.0, "mps": 8.0}
STEP_OVERHEAD = {"cpu": CPU_STEP_OVERHEAD, "cuda": 0.003, "mps": 0.01}
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
    throughput = SPEEDUP[kind] * (CPU_T_BIG + CPU_T_SMALL / (1.0 + kept / CPU_A_KNEE))
    seconds = STEP_OVERHEAD[kind] + prof.flops / throughput
    nbytes = BASELINE_BYTES[kind] + BYTES_PER_PARAM * params + ACT_FACTOR * kept
    return Estimate(params=params, bytes=int(nbytes), seconds_per_step=float(seconds),
                    flops_per_step=float(prof.flops), padded=(hp, wp),
                    problem=prof.problems[0] if prof.problems else None)


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

