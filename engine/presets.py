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


def _narrow(width: int, skip: int = 4, **net: Any) -> dict[str, Any]:
    return dict(channels_down=[width] * 5, channels_up=[width] * 5, channels_skip=[skip] * 5, **net)


# Noise-free data terms (inpainting, super-resolution) only settle: a higher rate early, decayed
# over the bound, reaches the constant rate's quality in about half the time, and the
# visible-change stop ends the run once the picture no longer moves (benchmarks/README.md).
_SETTLE = dict(lr=0.03, lr_schedule="cosine", lr_warmup=100, lr_final=0.05, precision="auto",
               stop_rule="change", change_steps=300, change_db=40.0, holdout=0.0, pick="ema")
# Inpainting scores its fill instead: known pixels shaped like the mask (a moved copy of it) are
# held out, and their error bottoms out near where the fill is best, which comes before the
# picture settles (0.20 of the previous default's time, fill +1.0 dB over the visible-change stop
# on the text cases: benchmarks/README.md)
_STROKES = dict(stop_rule="holdout", holdout_shape="strokes", holdout=0.05, pick="auto",
                stop_patience=100, stop_patience_ratio=0.25, stop_min_gain_db=0.02)

# The paper's JPEG network: small (0.57 M parameters), cheap per step, slow to settle on a large unit
# (jpeg-fast keeps it in fp32: in bf16 a 128 px step is no faster and it wrote 0.11 dB less).
_JPEG_NET = dict(channels_down=[8, 16, 32, 64, 128], channels_up=[8, 16, 32, 64, 128], channels_skip=[0, 0, 0, 4, 4])

_PRESETS = [
    # --- denoising / JPEG -------------------------------------------------------------
    Preset("denoise", "denoise",
           "Paper: skip 128x5, skip 4, z 32 ch, sigma_p 1/30, 1800 steps, LR 0.01, EMA 0.99.",
           dict(net=_skip128(), iterations=1800, sigma_p=1 / 30, holdout_shape="auto")),
    Preset("denoise-fast", "denoise",
           "Narrow skip net (32 ch) with nearest upsampling: on photo crops the paper net's quality, "
           "its peak about twice as soon as with bilinear; a look-ahead of 100 steps / 0.25 x the best "
           "step, bf16 where the CPU runs it natively; small images average four seeds, side by side "
           "(engine/seeds.py); on a camera's correlated noise the stop scores held-out blocks' centres "
           "and weighs their best against the step the fit slowed (engine/noise.py, engine/stopping.py, "
           "benchmarks/README.md); the moving average forgets the random net's first outputs within "
           "tens of steps (ema_warmup 4); a photo's tiles fit at the quick pace, except on a camera's "
           "correlated noise, where they keep the constant rate the stop was measured at (engine/schedule.py).",
           dict(net=_narrow(32, upsample="nearest"), iterations=3000, sigma_p=1 / 30,
                stop_patience=100, stop_patience_ratio=0.25, precision="auto", seeds="auto",
                holdout_shape="auto", tile_pace="auto", ema_warmup=4)),
    Preset("jpeg", "jpeg",
           "Paper: z 3 ch, [8,16,32,64,128], skip [0,0,0,4,4], 2400 steps.",
           dict(net=_JPEG_NET, input_channels=3, iterations=2400, sigma_p=1 / 30)),
    Preset("jpeg-fast", "jpeg",
           "The paper's JPEG net with a warm-up to LR 0.03 and a cosine decay over 1000 steps; stops when "
           "the image no longer changes visibly and writes the moving average. It settles in its bound on "
           "units up to 128 px, so a larger photo runs in 128 px tiles (benchmarks/README.md, issue 24).",
           dict(net=_JPEG_NET, input_channels=3, iterations=1000, sigma_p=1 / 30,
                **{**_SETTLE, "precision": "fp32"})),
    # --- inpainting ---------------------------------------------------------------------
    Preset("inpaint-text", "inpaint",
           "Paper (authors' notebook): text/scribble removal, skip 128x5 with 128 skip channels, nearest up, "
           "sigma_p 0.03, 6000 steps.",
           dict(net=_skip128(skip=128, upsample="nearest"), iterations=6000, sigma_p=0.03, pick="ema")),
    Preset("inpaint-hole", "inpaint",
           "Paper: large holes, meshgrid input, no skip connections, nearest up, 5000 steps.",
           dict(net=_skip128(skip=0, upsample="nearest"), input_kind="meshgrid", input_channels=2,
                iterations=5000, sigma_p=0.03, pick="ema")),
    Preset("inpaint-hole-deep", "inpaint",
           "Paper (authors' notebook): deeper hourglass [16,32,64,128,128,128], no skips, k_d 5 / k_u 3, "
           "nearest, sigma_p 0, LR 0.01, 3000 steps.",
           dict(net=dict(channels_down=[16, 32, 64, 128, 128, 128],
                         channels_up=[16, 32, 64, 128, 128, 128], channels_skip=[0] * 6,
                         kernel_down=5, kernel_up=3, upsample="nearest", need1x1_up=False),
                input_channels=1, sigma_p=0.0, lr=0.01, iterations=3000, pick="ema")),
    Preset("inpaint-drop", "inpaint",
           "Paper: randomly dropped pixels, as super-resolution, 11000 steps, LR 0.001.",
           dict(net=_skip128(), iterations=11000, lr=0.001, sigma_p=1 / 30, pick="ema")),
    Preset("inpaint-fast", "inpaint",
           "Narrow skip net (32 ch) with nearest upsampling; LR warm-up to 0.03 and cosine decay, bf16 "
           "where the CPU runs it natively; 5 % of the known pixels held out as a copy of the mask's "
           "strokes: the run stops once their fill stops improving and writes the moving average at "
           "its best (benchmarks/README.md, issue 14).",
           dict(net=_narrow(32, upsample="nearest"), iterations=3000, sigma_p=1 / 30,
                **{**_SETTLE, **_STROKES})),
    # --- super-resolution -------------------------------------------------------------
    Preset("sr4", "superres",
           "Paper x4: skip 128x5, skip 4, sigma_p 1/30, 2000 steps, LR 0.01, bilinear.",
           dict(net=_skip128(), scale=4, iterations=2000, sigma_p=1 / 30, pick="ema")),
    Preset("sr8", "superres",
           "Paper x8: as x4 with sigma_p 1/20 and 4000 steps.",
           dict(net=_skip128(), scale=8, iterations=4000, sigma_p=1 / 20, pick="ema")),
    Preset("sr-fast", "superres",
           "Narrow skip net (32 ch), any factor; LR warm-up to 0.03 and cosine decay over 1500 steps, "
           "bf16 where the CPU runs it natively; stops when the image no longer changes visibly and "
           "writes the moving average (benchmarks/README.md, issue 14).",
           dict(net=_narrow(32), iterations=1500, sigma_p=1 / 30, **_SETTLE)),
    # --- others -----------------------------------------------------------------------
    Preset("enhance", "enhance",
           "Detail enhancement: fit without jitter, stop early (coarse x_c), return x0 + (x0 - x_c).",
           dict(net=_skip128(), iterations=400, sigma_p=0.0, ema=0.0)),
    Preset("enhance-fast", "enhance",
           "Narrow (32 ch) detail enhancement, 300 steps, bf16 where the CPU runs it natively.",
           dict(net=_narrow(32), iterations=300, sigma_p=0.0, ema=0.0, precision="auto")),
    Preset("flash", "flash",
           "Paper: flash photo as input, skip 128x5, skip 4, up nearest x2 then bilinear, LR 0.1, 600 steps.",
           dict(net=_skip128(upsample=["nearest", "nearest", "bilinear", "bilinear", "bilinear"]),
                input_kind="guide", input_channels=3, lr=0.1, iterations=600, sigma_p=0.0)),
]

# --- the paper's experiments with a classifier (engine/experiments.py) --------------------
# The authors' notebooks (feature_inversion, activation_maximization), zero padding as the
# paper's appendix says; z is 32 channels of uniform noise; Adam, LR 0.001, 3100 steps.
_PREIMAGE_NET = dict(channels_down=[16, 32, 64, 128, 128, 128], channels_up=[16, 32, 64, 128, 128, 128],
                     channels_skip=[4] * 6, kernel_down=[7, 7, 5, 5, 3, 3], kernel_up=[7, 7, 5, 5, 3, 3],
                     upsample="nearest", downsample="avg", pad="zero")
_ACTMAX_NET = dict(channels_down=[16, 32, 64, 128, 128, 128], channels_up=[16, 32, 64, 128, 128, 128],
                   channels_skip=[0, 4, 4, 4, 4, 4], kernel_down=[5, 3, 5, 5, 3, 5],
                   kernel_up=[5, 3, 5, 3, 5, 3], upsample="bilinear", downsample="avg", pad="zero")
_FAST_NET = dict(channels_down=[16, 32, 64, 64], channels_up=[16, 32, 64, 64], channels_skip=[4] * 4,
                 kernel_down=3, kernel_up=3, upsample="bilinear", downsample="avg", pad="zero")
_EXPERIMENT = dict(ema=0.0, pick="last", holdout=0.0, stop="never", backtrack_db=None)
_PRESETS += [
    Preset("preimage", "preimage",
           "Paper (feature_inversion notebook): skip [16,32,64,128,128,128], skip 4, kernels 7-7-5-5-3-3, "
           "nearest up, avg down, zero padding, z noise 32 ch, no jitter, LR 0.001, 3100 steps.",
           dict(net=_PREIMAGE_NET, lr=0.001, iterations=3100, sigma_p=0.0, **_EXPERIMENT)),
    Preset("preimage-fast", "preimage",
           "Narrow 4-level skip net (16-64 ch, 3x3, zero padding), LR 0.005, 600 steps "
           "(benchmarks/bench_experiments.py).",
           dict(net=_FAST_NET, lr=0.005, iterations=600, sigma_p=0.0, **_EXPERIMENT)),
    Preset("preimage-tv", "preimage",
           "Paper's comparison, the TV prior of Mahendran & Vedaldi: the pixels optimised directly with a "
           "TV^2 regulariser, Adam LR 0.01.",
           dict(net=_FAST_NET, prior="tv", tv_weight=0.5, lr=0.01, iterations=600, sigma_p=0.0, **_EXPERIMENT)),
    Preset("actmax", "actmax",
           "Paper (activation_maximization notebook): skip [16,32,64,128,128,128], skip [0,4,4,4,4,4], "
           "bilinear up, avg down, zero padding, z noise 32 ch, jitter 0.03, LR 0.001 (the notebook takes 0.01 "
           "for a class logit), 3100 steps.",
           dict(net=_ACTMAX_NET, lr=0.001, iterations=3100, sigma_p=0.03, **_EXPERIMENT)),
    Preset("actmax-fast", "actmax",
           "Narrow 4-level skip net (16-64 ch, 3x3, zero padding), jitter 0.03, LR 0.005, 400 steps.",
           dict(net=_FAST_NET, lr=0.005, iterations=400, sigma_p=0.03, **_EXPERIMENT)),
    Preset("actmax-tv", "actmax",
           "Paper's comparison, the TV prior: the pixels optimised directly with a TV^2 regulariser, "
           "Adam LR 0.01.",
           dict(net=_FAST_NET, prior="tv", tv_weight=0.5, lr=0.01, iterations=400, sigma_p=0.0, **_EXPERIMENT)),
]

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}
# The paper's network per task (what a GPU runs by default) ...
PAPER_PRESET = {"denoise": "denoise", "jpeg": "jpeg", "inpaint": "inpaint-text",
                "superres": "sr4", "enhance": "enhance", "flash": "flash",
                "preimage": "preimage", "actmax": "actmax"}
# ... and the default everywhere else: narrow networks that reach the same quality on
# photo-sized inputs several times sooner on a CPU (benchmarks/README.md, "Time to quality").
DEFAULT_PRESET = {"denoise": "denoise-fast", "jpeg": "jpeg-fast", "inpaint": "inpaint-fast",
                  "superres": "sr-fast", "enhance": "enhance-fast", "flash": "flash",
                  "preimage": "preimage-fast", "actmax": "actmax-fast"}


def default_preset(task: str, device_type: str = "cpu") -> str:
    """The preset a run of ``task`` gets when none is named: the paper's network on a CUDA
    GPU, the fast narrow one on a CPU (or Apple's MPS, unmeasured)."""
    if task not in DEFAULT_PRESET:
        raise ConfigError(f"unknown task '{task}': choose one of {', '.join(DEFAULT_PRESET)}")
    return PAPER_PRESET[task] if device_type == "cuda" else DEFAULT_PRESET[task]


def presets_for(task: str) -> list[Preset]:
    return [p for p in _PRESETS if p.task == task]


def preset_bound(cfg: RunConfig) -> int:
    """The step bound of ``cfg``'s preset as shipped (its own bound without a preset)."""
    p = PRESETS.get(cfg.preset or "")
    return int(p.settings.get("iterations", RunConfig.iterations)) if p is not None else int(cfg.iterations)


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
