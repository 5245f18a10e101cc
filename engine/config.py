"""Plain-data configuration of a run: a preset plus overrides, validated.

The app's settings panel and the CLI both build a :class:`RunConfig`; the engine reads
nothing else. Every field is a plain value so a config round-trips through JSON.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field, fields, asdict
from typing import Any

from .errors import ConfigError

TASKS = ("denoise", "jpeg", "inpaint", "superres", "enhance", "flash", "preimage", "actmax")
CLASSIFIER_TASKS = ("preimage", "actmax")   # the paper's experiments with a classifier Phi (engine/experiments.py)
PRIORS = ("dip", "tv")                 # tv: optimise the pixels with a TV regulariser (the comparison)
ARCHS = ("skip", "hourglass", "unet", "resnet")
INPUT_KINDS = ("noise", "meshgrid", "guide")
UPSAMPLE = ("bilinear", "nearest")
DOWNSAMPLE = ("stride", "avg", "max")
PADS = ("reflection", "zero")
PICKS = ("last", "ema", "auto")
STOPS = ("auto", "never")
STOP_RULES = ("holdout", "variance", "change")
MAX_SEEDS = 16                          # seeds one job may average (engine/seeds.py)
HOLDOUT_SHAPES = ("pixels", "strokes", "blocks", "auto")  # what the holdout rule holds out (engine/tasks.py)
LR_SCHEDULES = ("constant", "cosine")
TILE_PACES = ("same", "quick", "auto")
PRECISIONS = ("fp32", "bf16", "auto")
DEVICES = ("auto", "cpu", "cuda", "mps")
SCALES = (2, 3, 4, 8)                  # super-resolution factors (restore and degrade)
MAX_SEED = 2**63 - 1
MAX_ES_WINDOW = 10_000


@dataclass
class NetConfig:
    """The network, in the paper's per-level notation (n_d, n_u, n_s, k_d, k_u, k_s).

    For ``skip``/``hourglass``/``unet`` the lists have one entry per level (depth =
    len(channels_down)); ``upsample`` may be one mode or one per level. ``resnet`` uses
    ``resnet_blocks`` and ``resnet_channels`` only.
    """

    arch: str = "skip"
    channels_down: list[int] = field(default_factory=lambda: [128] * 5)
    channels_up: list[int] = field(default_factory=lambda: [128] * 5)
    channels_skip: list[int] = field(default_factory=lambda: [4] * 5)
    kernel_down: int | list[int] = 3
    kernel_up: int | list[int] = 3
    kernel_skip: int | list[int] = 1
    upsample: str | list[str] = "bilinear"
    downsample: str = "stride"
    pad: str = "reflection"
    need1x1_up: bool = True
    resnet_blocks: int = 8
    resnet_channels: int = 64

    @property
    def depth(self) -> int:
        return 0 if self.arch == "resnet" else len(self.channels_down)

    def size_multiple(self) -> int:
        """Images are padded (reflect) to a multiple of this and the output cropped back."""
        return 1 if self.arch == "resnet" else 2 ** self.depth

    def with_width(self, depth: int, channels: int, skip: int | None = None) -> "NetConfig":
        """Uniform-width variant, as the app's 'depth' and 'channels' fields set it."""
        if skip is None:
            skip = self.channels_skip[-1] if self.channels_skip else 0

        def fit(v):  # per-level lists must follow the new depth; keep the deepest level's value
            return v if not isinstance(v, list) or len(v) == depth else [v[-1]] * depth

        return dataclasses.replace(
            self,
            channels_down=[channels] * depth,
            channels_up=[channels] * depth,
            channels_skip=[skip] * depth,
            resnet_channels=channels,
            kernel_down=fit(self.kernel_down), kernel_up=fit(self.kernel_up),
            kernel_skip=fit(self.kernel_skip), upsample=fit(self.upsample),
        )


@dataclass
class RunConfig:
    task: str = "denoise"
    preset: str | None = None
    net: NetConfig = field(default_factory=NetConfig)
    # the input z
    input_kind: str = "noise"          # noise: U(0, input_scale); meshgrid: 2 ch; guide: an image
    input_channels: int = 32
    input_scale: float = 0.1
    sigma_p: float = 1.0 / 30          # per-step input jitter z + N(0, sigma_p^2)
    # optimisation
    lr: float = 0.01
    lr_schedule: str = "constant"      # cosine: warm-up, then a half cosine to lr * lr_final at the bound
    lr_warmup: int = 0                 # steps of linear warm-up (cosine schedule)
    lr_final: float = 0.1              # the rate at the bound, as a fraction of lr (cosine schedule)
    tile_pace: str = "same"            # quick: a tiled job's units warm up to twice the rate; auto: quick
                                       # unless the photo's noise is a camera's (engine/schedule.py)
    precision: str = "fp32"            # bf16: the network's forward pass in bfloat16 autocast; auto: where native
    iterations: int = 1800             # with stop 'auto': the upper bound
    ema: float = 0.99                   # 0 turns the moving average off
    ema_warmup: float = 0.0             # k > 0: the average's memory grows as step / k up to 1 / (1 - ema)
    backtrack_db: float | None = 5.0   # loss jump (in dB) that restores the previous step; None: off
    seed: int = 0
    device: str = "auto"
    scale: int = 4                      # super-resolution factor
    keep_known: bool = True            # inpainting: known pixels kept as they are (False: the net's output)
    pick: str = "auto"                 # what is written: last iterate, EMA, or the rule's best iterate
    seeds: int | str = 1               # runs from different seeds, their picks averaged; auto: engine/seeds.py
    # observation
    preview_every: int = 25            # steps between previews (output + EMA as numpy)
    snapshot_every: int = 50           # steps between snapshots kept in the history
    memory_budget_mb: int = 1024        # history + best-iterate window
    es_window: int = 100               # W of the windowed moving variance (Wang et al.)
    # stopping (engine/stopping.py)
    stop: str = "auto"                 # auto: stop once the best iterate is confirmed; never: run all steps
    stop_rule: str = "holdout"         # holdout: self-validation on held-out pixels; variance: ES-WMV
    holdout: float = 0.02              # fraction of the known pixels kept out of the data term
    holdout_shape: str = "pixels"      # pixels: random ones; strokes (inpainting): a copy of the mask
                                       # moved onto known pixels, holdout its cap (engine/tasks.py);
                                       # blocks: squares scored at their centre (correlated noise);
                                       # auto: blocks where the photo's noise is correlated, else pixels
    holdout_block: int = 7             # blocks: their side (px), ...
    holdout_gap: int = 3               # ... how far from any fitted pixel a scored pixel lies ...
    holdout_block_share: float = 0.05  # ... and the share of the pixels they take (in place of holdout)
    stop_patience: int = 200           # look-ahead after the best iterate: at least this many steps,
    stop_patience_ratio: float = 0.5   # ... and at least this fraction of the best iterate's step
    stop_min_gain_db: float = 0.02     # an improvement smaller than this does not restart the look-ahead
    change_steps: int = 300            # change rule: the look-back over which the moving average is compared
                                       # (rounded down to a multiple of 4: it is checked every quarter of it)
    change_db: float = 40.0            # ... and the stop: it changed less than this (PSNR; 40 dB = 1 % RMS)
    discrepancy: bool = True           # denoising: do not stop before the fit reaches the image's noise level
    slowing: bool = True               # a camera's noise: pick between the held-out blocks' best and the
                                       # step the fit slowed down (engine/stopping.py, Slowing)
    # pre-image / activation maximisation (engine/experiments.py, engine/classifier.py)
    classifier: str | None = None      # TorchScript file, or ARCH:WEIGHTS (alexnet, vgg16)
    layer: str | None = None           # a named_modules() name of the classifier; None: its output
    unit: int = 0                      # actmax: the channel (spatial mean) or logit to maximise
    prior: str = "dip"                 # dip: x = f_theta(z); tv: the pixels themselves (TV comparison)
    tv_weight: float = 0.0             # weight of the TV regulariser added to the data term

    @property
    def out_factor(self) -> int:
        """Output pixels per input pixel along a side: the super-resolution factor, else 1."""
        return self.scale if self.task == "superres" else 1

    def validate(self) -> "RunConfig":
        if not isinstance(self.net, NetConfig):
            raise ConfigError(f"net must be a set of network settings such as {{\"arch\": \"skip\"}}, "
                              f"got {_show(self.net)}")
        check_types(self)
        check_types(self.net)
        n = self.net
        _one_of("task", self.task, TASKS)
        _one_of("architecture", n.arch, ARCHS)
        _one_of("input", self.input_kind, INPUT_KINDS)
        _one_of("downsample", n.downsample, DOWNSAMPLE)
        _one_of("padding", n.pad, PADS)
        _one_of("pick", self.pick, PICKS)
        _one_of("stop", self.stop, STOPS)
        _one_of("stop rule", self.stop_rule, STOP_RULES)
        _one_of("device", self.device, DEVICES)
        _one_of("learning-rate schedule", self.lr_schedule, LR_SCHEDULES)
        _one_of("tile pace", self.tile_pace, TILE_PACES)
        _one_of("precision", self.precision, PRECISIONS)
        if self.lr_warmup < 0:
            raise ConfigError(f"lr_warmup must be >= 0, got {self.lr_warmup}")
        if not 0.0 <= self.lr_final <= 1.0:
            raise ConfigError(f"lr_final must be in [0, 1], got {self.lr_final}")
        ups = n.upsample if isinstance(n.upsample, list) else [n.upsample]
        for u in ups:
            _one_of("upsample", u, UPSAMPLE)
        if n.arch != "resnet":
            depth = len(n.channels_down)
            if depth < 1 or depth > 8:
                raise ConfigError(f"depth must be 1..8, got {depth}")
            for name in ("channels_up", "channels_skip"):
                if len(getattr(n, name)) != depth:
                    raise ConfigError(f"{name} has {len(getattr(n, name))} levels, channels_down has {depth}")
            for name in ("kernel_down", "kernel_up", "kernel_skip", "upsample"):
                v = getattr(n, name)
                if isinstance(v, list) and len(v) != depth:
                    raise ConfigError(f"{name} has {len(v)} levels, channels_down has {depth}")
            if min(n.channels_down) < 1 or min(n.channels_up) < 1 or min(n.channels_skip) < 0:
                raise ConfigError("channel counts must be positive (skip channels may be 0)")
            for name in ("kernel_down", "kernel_up", "kernel_skip"):
                v = getattr(n, name)
                if any(k < 1 or k % 2 == 0 for k in (v if isinstance(v, list) else [v])):
                    raise ConfigError(f"{name} must be odd positive whole numbers (1, 3, 5...), got {v!r}")
        elif n.resnet_blocks < 1 or n.resnet_channels < 1:
            raise ConfigError("resnet needs at least one block and one channel")
        if self.task == "superres" and self.scale not in SCALES:
            raise ConfigError(f"super-resolution factor must be {_choices(SCALES)}, got {self.scale}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in 0..{MAX_SEED} (0..2**63-1), got {self.seed}")
        if self.task == "flash" and self.input_kind != "guide":
            raise ConfigError("flash/no-flash uses the flash photo as input (input_kind 'guide')")
        _positive("iterations", self.iterations, integer=True)
        _positive("learning rate", self.lr)
        _positive("input channels", self.input_channels, integer=True)
        _positive("preview cadence", self.preview_every, integer=True)
        _positive("snapshot cadence", self.snapshot_every, integer=True)
        _positive("memory budget", self.memory_budget_mb)
        _positive("best-iterate window", self.es_window, integer=True)
        if self.es_window > MAX_ES_WINDOW:
            raise ConfigError(f"es_window must be at most {MAX_ES_WINDOW}, got {self.es_window}")
        _positive("input_scale", self.input_scale)
        _one_of("holdout shape", self.holdout_shape, HOLDOUT_SHAPES)
        if not 3 <= self.holdout_block <= 33:
            raise ConfigError(f"holdout_block must be 3..33 px, got {self.holdout_block}")
        if not 1 <= self.holdout_gap <= (self.holdout_block + 1) // 2:
            raise ConfigError(f"holdout_gap must be 1..{(self.holdout_block + 1) // 2} px for "
                              f"{self.holdout_block} px blocks, got {self.holdout_gap}")
        if not 0.0 < self.holdout_block_share < 0.5:
            raise ConfigError(f"holdout_block_share must be in (0, 0.5), got {self.holdout_block_share}")
        if not 0.0 <= self.holdout < 0.5:
            raise ConfigError(f"holdout must be in [0, 0.5), got {self.holdout}")
        if self.stop_rule == "holdout" and self.stop == "auto" and self.holdout == 0 \
                and self.task not in ("enhance", *CLASSIFIER_TASKS):
            raise ConfigError("the holdout rule needs held-out pixels (holdout > 0), or use stop 'never'")
        if self.seeds != "auto" and not (isinstance(self.seeds, int) and not isinstance(self.seeds, bool)
                                         and 1 <= self.seeds <= MAX_SEEDS):
            raise ConfigError(f"seeds must be 1..{MAX_SEEDS} or 'auto', got {_show(self.seeds)}")
        _positive("stop patience", self.stop_patience, integer=True)
        _positive("change look-back", self.change_steps, integer=True)
        if not 10.0 <= self.change_db <= 100.0:
            raise ConfigError(f"change_db must be in [10, 100] dB, got {self.change_db}")
        if self.stop_rule == "change" and self.ema == 0 and self.stop == "auto":
            raise ConfigError("the change rule watches the moving average: set ema > 0, or use stop 'never'")
        if not 0.0 <= self.stop_patience_ratio <= 10.0:
            raise ConfigError(f"stop_patience_ratio must be in [0, 10], got {self.stop_patience_ratio}")
        if not 0.0 <= self.stop_min_gain_db <= 10.0:
            raise ConfigError(f"stop_min_gain_db must be in [0, 10], got {self.stop_min_gain_db}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"EMA weight must be in [0, 1), got {self.ema}")
        if not 0.0 <= self.ema_warmup <= 100.0:
            raise ConfigError(f"ema_warmup must be in [0, 100], got {self.ema_warmup}")
        if self.sigma_p < 0:
            raise ConfigError(f"sigma_p must be >= 0, got {self.sigma_p}")
        _one_of("prior", self.prior, PRIORS)
        if self.task in CLASSIFIER_TASKS:   # the classifier itself is checked when the run loads it
            if self.unit < 0:
                raise ConfigError(f"unit must be >= 0, got {self.unit}")
        elif self.prior != "dip":
            raise ConfigError(f"the {self.prior} prior is for {' and '.join(CLASSIFIER_TASKS)}, not {self.task}")
        if self.tv_weight < 0:
            raise ConfigError(f"tv_weight must be >= 0, got {self.tv_weight}")
        if self.backtrack_db is not None and self.backtrack_db <= 0:
            raise ConfigError(f"backtracking threshold must be > 0 dB, got {self.backtrack_db}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        d = dict(d)
        net = d.pop("net", {})
        if isinstance(net, dict):
            net = NetConfig(**_known(NetConfig, net))
        return cls(net=net, **_known(cls, d))

    def replace(self, **overrides: Any) -> "RunConfig":
        """Copy with overrides; keys of NetConfig (``arch``, ``channels_down``...) go to ``net``."""
        net_keys = {f.name for f in fields(NetConfig)}
        overrides = dict(overrides)
        base_net = overrides.pop("net", self.net)
        if isinstance(base_net, dict):
            base_net = NetConfig(**_known(NetConfig, base_net))
        elif not isinstance(base_net, NetConfig):
            raise ConfigError(f"net must be a set of network settings such as {{\"arch\": \"skip\"}}, "
                              f"got {_show(base_net)}")
        net_over = {k: v for k, v in overrides.items() if k in net_keys}
        top = {k: v for k, v in overrides.items() if k not in net_keys}
        unknown = set(top) - {f.name for f in fields(RunConfig)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        net = dataclasses.replace(base_net, **net_over)
        return dataclasses.replace(self, net=net, **top)


def _known(cls, d: dict) -> dict:
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return d


def _show(value: Any) -> str:
    """A value as the user typed it (JSON-like: null, true, "text"), kept short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _choices(values: tuple) -> str:
    return ", ".join(str(v) for v in values[:-1]) + f" or {values[-1]}"


def _matches(value: Any, tp: Any) -> bool:
    """Does ``value`` fit the field annotation ``tp`` (int, float, str, bool, None, list[X], unions)?"""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, t) for t in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # a whole number is a fine float; NaN and infinity are not settings
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if tp is Any:
        return True
    return isinstance(value, tp) if isinstance(tp, type) else True


_SINGULAR = {int: "a whole number", float: "a finite number", str: "a text", bool: "true or false",
             type(None): "null"}
_PLURAL = {int: "whole numbers", float: "finite numbers", str: "texts", bool: "true/false values"}


def _describe(tp: Any, name: str = "") -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(t, name) for t in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        example = {int: "[3, 3, 3]" if name.startswith("kernel") else "[64, 64, 64]",
                   str: '["bilinear", "nearest"]'}.get(item, "[...]")
        return f"a list of {_PLURAL.get(item, 'values')} such as {example}"
    return _SINGULAR.get(tp, getattr(tp, "__name__", str(tp)))


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_types(obj: Any) -> None:
    """Every field of a RunConfig / NetConfig must have its declared type: a ConfigError
    names the first that does not (e.g. ``channels_down`` given the text 'abc')."""
    hints = _hints(type(obj))
    for f in fields(obj):
        tp = hints.get(f.name, Any)
        if f.name == "net" or (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            continue
        value = getattr(obj, f.name)
        if not _matches(value, tp):
            raise ConfigError(f"{f.name} must be {_describe(tp, f.name)}, got {_show(value)}")


def _one_of(what: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} '{value}': choose one of {', '.join(allowed)}")


def _positive(what: str, value: Any, integer: bool = False) -> None:
    if integer and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    if not value > 0:
        raise ConfigError(f"{what} must be > 0, got {value}")
