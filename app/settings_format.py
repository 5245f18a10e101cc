"""The words the settings panel shows for numbers: durations, sizes, rates, network levels.

Plain functions with no Qt, so the rounding rules can be read and tested on their own.
"""
from __future__ import annotations

from engine.config import NetConfig
from engine.durations import format_duration


def _uniform(values: list) -> bool:
    return len(set(values)) <= 1


def is_per_level(net: NetConfig) -> bool:
    """Whether the net has per-level settings that depth/channels/skip cannot express."""
    if net.arch == "resnet":
        return False
    lists = [net.channels_down, net.channels_up, net.channels_skip]
    if not all(_uniform(v) for v in lists) or net.channels_up != net.channels_down:
        return True
    return any(isinstance(v, list) and not _uniform(v)
               for v in (net.kernel_down, net.kernel_up, net.kernel_skip, net.upsample))


def describe_levels(net: NetConfig) -> str:
    parts = []
    if net.channels_up == net.channels_down:
        parts.append(f"channels {net.channels_down}")
    else:
        parts.append(f"down {net.channels_down}, up {net.channels_up}")
    parts.append(f"skip {net.channels_skip}")
    for name in ("kernel_down", "kernel_up", "kernel_skip", "upsample"):
        v = getattr(net, name)
        if isinstance(v, list) and not _uniform(v):
            parts.append(f"{name} {v}")
    return "per-level: " + "; ".join(parts)


def format_lr(lr: float) -> str:
    return f"{lr:g}"


def format_bytes(n: float) -> str:
    gb = n / 1024 ** 3
    return f"{gb:.1f} GB" if gb >= 0.1 else f"{n / 1024 ** 2:.0f} MB"




def _device_words(device_type: str) -> str:
    return "this CPU" if device_type == "cpu" else "the GPU"


def wall_time_sentence(seconds: float, device_type: str, auto_stop: bool, seeds: int = 1) -> str:
    """What the user reads before Run; with the automatic stop the step count is only a cap."""
    where = _device_words(device_type) + (f", {seeds} seeds averaged" if seeds > 1 else "")
    if auto_stop:
        return (f"at most about {format_duration(seconds)} on {where} "
                "(it usually stops sooner, at its best iterate)")
    return f"about {format_duration(seconds)} on {where}"
