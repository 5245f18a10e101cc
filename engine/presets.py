"""Named configurations: the paper's "Technical details" (and the authors' notebooks),
plus faster variants for small images and CPUs. A preset is a starting point; every field
can be overridden (``get_config(name, **overrides)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import NetConfig, RunConfig
from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str
    task: str
    summary: str
    settings: dict[str, Any]


def _skip128(skip: int = 4, **net: Any) -> dict[str, Any]:
    return dict(channels_down=[128] * 5, channels_up=[128] * 5, channels_skip=[skip] * 5, **net)


def _narrow(width: int, skip: int = 4) -> dict[str, Any]:
    return dict(channels_down=[width] * 5, channels_up=[width] * 5, channels_skip=[skip] * 5)


_PRESETS = [
    # --- denoising / JPEG -------------------------------------------------------------
    Preset("denoise", "denoise",
           "Paper: skip 128x5, skip 4, z 32 ch, sigma_p 1/30, 1800 steps, LR 0.01, EMA 0.99.",
           dict(net=_skip128(), iterations=1800, sigma_p=1 / 30, pick="ema")),
    Preset("denoise-fast", "denoise",
           "Narrow skip net (32 ch): on small images the same quality several times sooner.",
           dict(net=_narrow(32), iterations=1200, sigma_p=1 / 30, pick="ema")),
    Preset("jpeg", "jpeg",
           "Paper: z 3 ch, [8,16,32,64,128], skip [0,0,0,4,4], 2400 steps.",
           dict(net=dict(channels_down=[8, 16, 32, 64, 128], channels_up=[8, 16, 32, 64, 128],
                         channels_skip=[0, 0, 0, 4, 4]),
                input_channels=3, iterations=2400, sigma_p=1 / 30, pick="ema")),
    # --- inpainting ---------------------------------------------------------------------
    Preset("inpaint-text", "inpaint",
           "Paper: text/scribble removal, as super-resolution, 6000 steps.",
           dict(net=_skip128(), iterations=6000, sigma_p=1 / 30, pick="last")),
    Preset("inpaint-hole", "inpaint",
           "Paper: large holes, meshgrid input, no skip connections, nearest up, 5000 steps.",
           dict(net=_skip128(skip=0, upsample="nearest"), input_kind="meshgrid", input_channels=2,
                iterations=5000, sigma_p=0.03, pick="last")),
    Preset("inpaint-hole-deep", "inpaint",
           "Paper: deeper hourglass [16,32,64,128,128,128], no skips, k_d 5 / k_u 3, nearest, sigma_p 0, LR 0.1.",
           dict(net=dict(channels_down=[16, 32, 64, 128, 128, 128],
                         channels_up=[16, 32, 64, 128, 128, 128], channels_skip=[0] * 6,
                         kernel_down=5, kernel_up=3, upsample="nearest", need1x1_up=False),
                input_channels=1, sigma_p=0.0, lr=0.1, iterations=5000, pick="last")),
    Preset("inpaint-drop", "inpaint",
           "Paper: randomly dropped pixels, as super-resolution, 11000 steps, LR 0.001.",
           dict(net=_skip128(), iterations=11000, lr=0.001, sigma_p=1 / 30, pick="last")),
    Preset("inpaint-fast", "inpaint",
           "Narrow skip net (64 ch), 1500 steps: a quick look at what the prior fills in.",
           dict(net=_narrow(64), iterations=1500, sigma_p=1 / 30, pick="last")),
    # --- super-resolution -------------------------------------------------------------
    Preset("sr4", "superres",
           "Paper x4: skip 128x5, skip 4, sigma_p 1/30, 2000 steps, LR 0.01, bilinear.",
           dict(net=_skip128(), scale=4, iterations=2000, sigma_p=1 / 30, pick="last")),
    Preset("sr8", "superres",
           "Paper x8: as x4 with sigma_p 1/20 and 4000 steps.",
           dict(net=_skip128(), scale=8, iterations=4000, sigma_p=1 / 20, pick="last")),
    Preset("sr-fast", "superres",
           "Narrow skip net (32 ch), 1000 steps, any factor; writes the EMA (+1.1 dB over the last "
           "iterate on Set5 crops, benchmarks/README.md).",
           dict(net=_narrow(32), iterations=1000, sigma_p=1 / 30, pick="ema")),
    # --- others -----------------------------------------------------------------------
    Preset("enhance", "enhance",
           "Detail enhancement: fit without jitter, stop early (coarse x_c), return x0 + (x0 - x_c).",
           dict(net=_skip128(), iterations=400, sigma_p=0.0, ema=0.0, pick="last")),
    Preset("enhance-fast", "enhance",
           "Narrow (32 ch) detail enhancement, 300 steps.",
           dict(net=_narrow(32), iterations=300, sigma_p=0.0, ema=0.0, pick="last")),
    Preset("flash", "flash",
           "Paper: flash photo as input, skip 128x5, skip 4, up nearest x2 then bilinear, LR 0.1, 600 steps.",
           dict(net=_skip128(upsample=["nearest", "nearest", "bilinear", "bilinear", "bilinear"]),
                input_kind="guide", input_channels=3, lr=0.1, iterations=600, sigma_p=0.0,
                pick="last")),
]

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}
DEFAULT_PRESET = {"denoise": "denoise", "jpeg": "jpeg", "inpaint": "inpaint-text",
                  "superres": "sr4", "enhance": "enhance", "flash": "flash"}


def presets_for(task: str) -> list[Preset]:
    return [p for p in _PRESETS if p.task == task]


def get_config(name: str | None = None, task: str | None = None, **overrides: Any) -> RunConfig:
    """The config of preset ``name`` (or the task's default preset) with ``overrides``.

    Overrides may name RunConfig fields or NetConfig fields (``arch``, ``channels_down``...).
    """
    if name is None:
        if task is None:
            raise ConfigError("give a preset or a task")
        if task not in DEFAULT_PRESET:
            raise ConfigError(f"unknown task '{task}': choose one of {', '.join(DEFAULT_PRESET)}")
        name = DEFAULT_PRESET[task]
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}': choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    if task is not None and task != p.task and not (task == "jpeg" and p.task == "denoise"):
        raise ConfigError(f"preset '{name}' is for task '{p.task}', not '{task}'")
    s = dict(p.settings)
    net = NetConfig(**s.pop("net", {}))
    cfg = RunConfig(task=task or p.task, preset=name, net=net, **s)
    return cfg.replace(**overrides).validate() if overrides else cfg.validate()
