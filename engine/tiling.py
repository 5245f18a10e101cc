"""Photos at their real size: the plan of a job before its first step.

A DIP run's memory and time grow with the pixels it fits, so a 3-24 MP photo is restored
as a list of *units*, each a full, independent DIP run on a part of it:

- ``whole``: one unit, the image itself (small images, or ``--tile off``);
- ``tiles``: an even grid of equal, overlapping tiles (every task whose data term is
  local: denoise, JPEG, inpainting, super-resolution in low-resolution tiles, flash with
  its guide tiled alike, enhancement). Results are blended with raised-cosine ramps over
  the overlaps (the weights of two neighbours sum to one, so no seam shows);
- ``crops``: inpainting of a large image restores only a crop around each connected part
  of the mask (its bounding box plus a margin, overlapping crops merged; a crop larger than
  a tile is tiled, and its tiles without a pixel to fill are dropped). Only the masked
  pixels are written back: every known pixel of the photo stays bit for bit.

The tile size comes from the device's memory and the estimated time: among the sizes whose
one step fits (``CPU_TILE_BYTES`` on a CPU, ``GPU_TILE_FRACTION`` of a GPU), the one with
the least estimated total time (smaller tiles run faster per pixel on a CPU's caches;
larger ones waste less on overlaps). Units are seeded from the job's seed and their
position, so a unit's result does not depend on the order units run in.

Everything here is NumPy and the meta-device estimate: planning a 12 MP photo allocates
no activation and takes well under a second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .boxes import CROP_MARGIN, Box, mask_crops
from .config import RunConfig
from .durations import format_duration
from .errors import ConfigError
from .estimate import BASELINE_BYTES, estimate_cost, wall_seconds
from .lanes import lane_count, wall_share
from .noise import NoiseProfile
from .presets import preset_bound
from .schedule import QUICK_STEPS, quickens
from .seeds import seed_count, seeds_time_factor

# one tile's training step (the estimate's peak, the process included) on a CPU: with the
# photo's own arrays (~0.4 GB at 12 MP) the process stays within about 2 GB
CPU_TILE_BYTES = 1.2e9
GPU_TILE_FRACTION = 0.75         # of the GPU's memory for one tile's step
TILE_SIZES = (128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024)
MAX_AUTO_TILE = 1024             # auto never picks larger tiles (stop behaviour was measured up to there)
MIN_TILE = 64
CROP_MIN_SIDE = 800              # inpainting crops around the mask above this longest side (IOPaint's rule)
LONG_PLAN_S = 3600.0             # a CLI job estimated past this asks for --yes
# Where a self-stopping run of each task usually ends, as a fraction of its preset's step bound
# (benchmarks/README.md: denoise-fast at about 650 of 3000 at 128 px; inpaint-fast's change stop
# at 800-1000 of 3000 on dropped pixels, 1500-2200 on text; sr-fast at 750-825 of 1500; the
# paper's JPEG never before its bound, jpeg-fast at 900-1000 of 1000; the rest run their bound).
TYPICAL_STOP = {"denoise": 0.25, "jpeg": 1.0, "inpaint": 0.5, "superres": 0.55, "enhance": 1.0, "flash": 1.0}
# ... at 128 px. A larger denoising unit needs more steps to its peak (more picture to fit): the fast
# denoiser (sigma 25, four scikit-image photos, one seed) stopped at 730, 1012 and 1284 steps on
# average at 128, 192 and 256 px: as the side to the power 0.8 (benchmarks/README.md, "cost of a
# megapixel"). Past 256 px it grows faster: the photo that needed the most steps (1749 at 256 px)
# ran its 3000-step bound at 384 px and at 512, so at least the power 1.33 there; priced at that.
# Super-resolution's visible-change stop (sides of the output): 750-825 steps on Set5's 128 px crops,
# 1145 on tiles of 320 px and 1276 on one of 512 (the astronaut, 2026-12-07): about the power 0.34
# throughout. The other tasks' stops were measured at 128 px only: priced alike at any size.
STOP_GROWS_WITH_SIDE = {"denoise": (0.8, 1.33), "superres": (0.34, 0.34)}   # the power up to / past the break
STOP_REF_SIDE = 128
STOP_SIDE_BREAK = 256
# Presets whose step bound settles only on units up to this side: a larger photo is tiled at it
# or under, whatever the time model prefers (an unsettled bound costs quality the model does not
# see). jpeg-fast on the astronaut (384 px, JPEG q10): 27.44 dB in 16 tiles of 128 px, 27.12 in 9
# of 192, 25.04 as one run (benchmarks/README.md, "cost of a megapixel").
MAX_UNIT_SIDE = {"jpeg-fast": 128}
# a photo that fits one run is still tiled where tiles are estimated at most this share of
# the whole run's time (where the stop grows with the side, a 384 px crop costs ~3x its
# 192 px tiles); above it the whole run keeps its one seamless fit
TILE_IF_FASTER = 0.7


@dataclass(frozen=True)
class Unit:
    """One independent DIP run of a job: a box of the input (low-resolution pixels for
    super-resolution), its seed, and the widths of the ramps its result is blended with on
    each side (top, bottom, left, right; 0 where it meets no neighbour)."""

    index: int
    box: Box
    seed: int
    ramps: tuple[int, int, int, int] = (0, 0, 0, 0)
    crop: int = 0                 # which crop around the mask it belongs to (crops mode)
    quick: bool = False           # one of several units: at the config's tile pace (engine/schedule.py)

    def out_box(self, factor: int = 1) -> Box:
        return self.box.scaled(factor)


TASK_WORDS = {"jpeg": "JPEG", "superres": "super-resolution"}   # how the plan's sentence names them


@dataclass(frozen=True)
class Plan:
    mode: str                     # "whole" | "tiles" | "crops"
    task: str
    image_hw: tuple[int, int]
    factor: int                   # super-resolution factor, 1 otherwise
    units: tuple[Unit, ...]
    tile: int | None              # tile side (input pixels), None for whole
    overlap: int
    device: str                   # "cpu" | "cuda" | "mps"
    device_words: str             # "cpu (2 threads)"
    unit_seconds: tuple[float, ...]    # expected seconds of each unit (its typical stop)
    unit_seconds_max: tuple[float, ...]  # ... and at its step bound
    step_bytes: int               # the largest unit's step, the process included
    host_bytes: int               # the job's own arrays (image, result, weights, mask...)
    auto_stop: bool
    runs: int = 1
    lanes: int = 1                # units side by side on a CPU (engine/lanes.py)
    crops: tuple[Box, ...] = ()
    problem: str | None = None    # why it cannot run on this device, if it cannot
    notes: tuple[str, ...] = field(default_factory=tuple)
    camera_pace: bool = False     # tile_pace 'auto' kept the constant rate: the photo has a camera's noise

    @property
    def tiled(self) -> bool:
        return self.mode != "whole"

    @property
    def quick(self) -> bool:
        """Its units fit at the quick pace (engine/schedule.py): the plan decides it per unit."""
        return any(u.quick for u in self.units)

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.image_hw[0] * self.factor, self.image_hw[1] * self.factor

    @property
    def seconds(self) -> float:
        return float(sum(self.unit_seconds))

    @property
    def seconds_max(self) -> float:
        return float(sum(self.unit_seconds_max))

    @property
    def peak_bytes(self) -> int:
        return int(self.step_bytes + self.host_bytes)

    def describe(self) -> str:
        """The plan in one sentence a user reads before the first step."""
        h, w = self.image_hw
        n = len(self.units)
        task = TASK_WORDS.get(self.task, self.task)
        runs = f", {self.runs} seeds each" if self.runs > 1 else ""
        if self.mode == "crops":
            sizes = ", ".join(f"{b.width}x{b.height}" for b in self.crops[:4])
            more = f" and {len(self.crops) - 4} more" if len(self.crops) > 4 else ""
            what = (f"{task} {w}x{h}: {len(self.crops)} crop{'s' if len(self.crops) != 1 else ''} "
                    f"around the mask ({sizes}{more})")
            if n != len(self.crops):
                what += f" in {n} tiles"
            tail = "the rest of the photo is kept bit for bit"
        elif self.mode == "tiles":
            what = f"{task} {w}x{h}: {n} tiles of {self.tile} px (overlap {self.overlap})"
            if self.lanes > 1:
                what += f", {self.lanes} side by side"
            tail = "each tile stops by itself" if self.auto_stop else "each tile runs its steps"
            if self.quick:
                tail += ", at the quick pace (twice the rate after a warm-up)"
            elif self.camera_pace:
                tail += ", at one run's pace (the photo's noise is a camera's: correlated)"
        else:
            what = f"{task} {w}x{h} as one run"
            tail = "stops by itself" if self.auto_stop else "runs its steps"
        if self.factor > 1:
            what += f" -> {w * self.factor}x{h * self.factor}"
        t = f"about {format_duration(self.seconds)}"
        if self.auto_stop and self.seconds_max > 1.2 * self.seconds:
            t += f", at most {format_duration(self.seconds_max)}"
        return f"{what}{runs} on {self.device_words}: {t}; {tail}"


# --------------------------------------------------------------------------- geometry

def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of equal tiles covering ``length`` with at least ``overlap`` shared pixels,
    spread evenly (the last tile ends at the edge)."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _ramps_1d(starts: list[int], size: int) -> list[tuple[int, int]]:
    """(ramp in, ramp out) of each tile on one axis: the overlap with each neighbour."""
    out = []
    for k, s in enumerate(starts):
        lo = (starts[k - 1] + size - s) if k > 0 else 0
        hi = (s + size - starts[k + 1]) if k + 1 < len(starts) else 0
        out.append((max(lo, 0), max(hi, 0)))
    return out


def ramp_weights(length: int, ramp_in: int, ramp_out: int) -> np.ndarray:
    """1-D weights: sin^2 up over ``ramp_in``, 1, cos^2 down over ``ramp_out``. Where two
    neighbours overlap by the same width their weights sum to exactly one."""
    w = np.ones(length, np.float32)
    if ramp_in > 0:
        t = (np.arange(ramp_in, dtype=np.float64) + 0.5) / ramp_in
        w[:ramp_in] = np.sin(0.5 * np.pi * t) ** 2
    if ramp_out > 0:
        t = (np.arange(ramp_out, dtype=np.float64) + 0.5) / ramp_out
        w[length - ramp_out:] = np.minimum(w[length - ramp_out:], np.cos(0.5 * np.pi * t) ** 2)
    return w


def unit_weights(unit: Unit, factor: int = 1) -> np.ndarray:
    """The unit's blending weights in output pixels (H x W float32, > 0 everywhere)."""
    b = unit.out_box(factor)
    top, bottom, left, right = (r * factor for r in unit.ramps)
    return np.outer(ramp_weights(b.height, top, bottom), ramp_weights(b.width, left, right))


def grid(region: Box, tile: int, overlap: int) -> list[tuple[Box, tuple[int, int, int, int]]]:
    """Tiles (box, ramps) covering ``region``."""
    ys = axis_starts(region.height, tile, overlap)
    xs = axis_starts(region.width, tile, overlap)
    th, tw = min(tile, region.height), min(tile, region.width)
    ry, rx = _ramps_1d(ys, th), _ramps_1d(xs, tw)
    return [(Box(region.top + y, region.left + x, th, tw), (ry[i][0], ry[i][1], rx[j][0], rx[j][1]))
            for i, y in enumerate(ys) for j, x in enumerate(xs)]


def unit_seed(seed: int, box: Box) -> int:
    """A unit's seed from the job's and the unit's place: the same tile gets the same run
    whatever order the units go in (and on whichever machine)."""
    return (int(seed) * 1_000_003 + box.top * 65_537 + box.left * 257 + 1) % (2**63 - 1)


# --------------------------------------------------------------------------- the plan

def min_overlap(cfg: RunConfig, tile: int) -> int:
    """At least 1/8 of the tile and one cell of the net (``_cell``), so the blend ramp is never shorter
    than the coarsest structure the net draws; but under half the tile, which neighbours must not share."""
    return min(max(-(-tile // 8), _cell(cfg), 8), (tile - 1) // 2)


def _cell(cfg: RunConfig) -> int:       # the net's deepest cell (2^depth px drawn) in tile pixels
    return -(-cfg.net.size_multiple() // cfg.out_factor)


def check_tiling_args(overlap: int | None, margin: int | None) -> None:
    """The ranges of an overlap and a crop margin, whatever the plan turns out to be (the
    CLI checks its flags with this before anything is read)."""
    if overlap is not None and (isinstance(overlap, bool) or int(overlap) < 0):
        raise ConfigError(f"the overlap must be 0 px or more, got {overlap}")
    if margin is not None and (isinstance(margin, bool) or int(margin) < 1):
        # a crop without known pixels around the mask has nothing to learn the fill from
        raise ConfigError(f"the crop margin must be at least 1 px (the known pixels around the mask are what "
                          f"the fill is learnt from), got {margin}")


def plan_job(cfg: RunConfig, image_hw: tuple[int, int], channels: int = 3, *,
             mask: np.ndarray | None = None, device: str | None = None,
             tile: int | str = "auto", overlap: int | None = None, margin: int | None = None,
             runs: int | None = 1, memory_bytes: int | None = None, lanes: bool = True,
             noise: NoiseProfile | None = None) -> Plan:
    """How a job of ``cfg`` on an image of ``image_hw`` will run here, and what it costs.

    ``tile``: "auto" (tiles only when one run of the whole image would not fit the tile
    budget; crops around the mask for large inpainting images), "off" (one run), or a side
    in input pixels. ``memory_bytes`` is the device's memory (defaults to what it reports).
    ``runs``: seeds averaged per unit; None: the config's (engine/seeds.seed_count, resolved
    here once for the job: callers read ``plan.runs``). ``lanes``: units may run side by side
    (engine/lanes.py; False where an executor decides how units share the machine: a batch).
    ``noise``: the photo's (engine.noise.measure_noise), which settles ``tile_pace`` 'auto':
    its tiles keep the constant rate on a camera's noise (engine/schedule.py ``quickens``).
    """
    from .device import describe, device_memory_bytes, pick_device

    allow_lanes = bool(lanes)
    h, w = int(image_hw[0]), int(image_hw[1])
    if h < 1 or w < 1:
        raise ConfigError(f"image size must be positive, got {w}x{h}")
    check_tiling_args(overlap, margin)
    dev = pick_device(device or cfg.device)
    kind = dev.type
    total = int(memory_bytes) if memory_bytes is not None else device_memory_bytes(kind)
    budget = CPU_TILE_BYTES if kind == "cpu" else GPU_TILE_FRACTION * total
    factor = cfg.out_factor
    runs = seed_count(cfg, h, w) if runs is None else max(1, int(runs))
    auto_stop = stops_by_itself(cfg)
    quick_ok = quickens(cfg, noise)      # several units would fit at the quick pace

    def step(th: int, tw: int):
        return estimate_cost(cfg, th * factor, tw * factor, kind, out_channels=channels)

    if isinstance(tile, str) and tile not in ("auto", "off"):
        raise ConfigError(f"tile must be auto, off or a size in pixels, got '{tile}'")
    if not isinstance(tile, str) and (isinstance(tile, bool) or int(tile) < MIN_TILE):
        raise ConfigError(f"a tile must be at least {MIN_TILE} px, got {tile}")
    crop_mode = (cfg.task == "inpaint" and mask is not None and tile != "off"
                 and (max(h, w) > CROP_MIN_SIDE or step(h, w).bytes > budget))
    whole = step(h, w)
    size = None
    if tile == "auto" and (crop_mode or whole.bytes > budget):
        size = _auto_tile(cfg, h, w, step, budget, crop_mode, kind, allow_lanes, quick_ok)
    elif tile == "auto" and max(h, w) > _unit_cap(cfg):
        size = _auto_tile(cfg, h, w, step, budget, False, kind, allow_lanes, quick_ok)
    elif tile == "auto" and cfg.task in STOP_GROWS_WITH_SIDE and auto_stop and runs == 1:
        # it fits one run, but tiles may reach their peaks sooner than the whole does
        s = _auto_tile(cfg, h, w, step, budget, False, kind, allow_lanes, quick_ok)
        if s < max(h, w):
            fh, fw = h * factor, w * factor
            whole_s = _unit_seconds(whole, fh, fw, kind, typical_steps(cfg, fh, fw, True))
            if _tiles_seconds(cfg, h, w, s, step(min(s, h), min(s, w)), kind, budget, allow_lanes, quick_ok) \
                    <= TILE_IF_FASTER * whole_s:
                size = s
    elif tile not in ("auto", "off"):
        size = int(tile)
    notes: list[str] = []
    problem = None
    if size is None:
        regions, mode, ov = [(Box(0, 0, h, w), (0, 0, 0, 0))], "whole", 0
        if whole.bytes > total:
            problem = (f"one run of the whole {w}x{h} image needs about {whole.bytes / 2**30:.0f} GB, "
                       f"more than this {kind}'s {total / 2**30:.0f} GB: let it run in tiles (--tile auto)")
    else:
        ov = int(overlap) if overlap is not None else min_overlap(cfg, size)
        if ov < min_overlap(cfg, size) or 2 * ov >= size:
            raise ConfigError(f"overlap must be at least {min_overlap(cfg, size)} px (1/8 of the tile and the "
                              f"net's {_cell(cfg)} px cell, as far as half the tile allows) and under "
                              f"half the {size} px tile, got {ov}")
        if step(min(size, h), min(size, w)).bytes > total:
            problem = (f"even one {size} px tile needs more memory than this {kind} has "
                       f"({total / 2**30:.0f} GB): use a smaller tile or a narrower preset")
        if crop_mode:
            mode = "crops"
        else:
            mode = "tiles" if (h > size or w > size) else "whole"
            regions = grid(Box(0, 0, h, w), size, ov)
    crops: tuple[Box, ...] = ()
    if crop_mode:
        mode = "crops"
        known = np.asarray(mask, bool)
        crop_boxes = mask_crops(known, CROP_MARGIN if margin is None else int(margin))
        crops = tuple(crop_boxes)
        regions = []
        tile_side = size if size is not None else max(h, w)
        for ci, cb in enumerate(crop_boxes):
            # a crop a little past the tile side but within the memory runs whole: two tiles
            # overlapping by nearly all of it would double its time
            side = max(cb.height, cb.width) if tile == "auto" and step(cb.height, cb.width).bytes <= budget \
                else tile_side
            for b, ramps in grid(cb, side, ov if size is not None else 0):
                if not known[b.slices()].all():       # a tile with nothing to fill needs no run
                    regions.append((b, ramps, ci))
        if not crop_boxes:
            notes.append("the mask marks no pixel to fill: nothing to do")
    quick = len(regions) > 1 and quick_ok
    units = tuple(Unit(i, r[0], cfg.seed if mode == "whole" else unit_seed(cfg.seed, r[0]), r[1],
                       r[2] if len(r) > 2 else 0, quick)
                  for i, r in enumerate(regions))
    bound = cfg.iterations
    cache: dict[tuple[int, int], object] = {}
    for u in units:
        key = (u.box.height, u.box.width)
        if key not in cache:
            cache[key] = step(*key)
    worst = max((e.bytes for e in cache.values()), default=0)
    lanes = plan_lanes(kind, len(units), runs, worst, budget) if mode != "whole" and allow_lanes else 1
    per_unit, per_unit_max = [], []
    for u in units:
        e = cache[(u.box.height, u.box.width)]
        oh_u, ow_u = u.box.height * factor, u.box.width * factor
        steps = typical_steps(cfg, oh_u, ow_u, auto_stop, u.quick)
        per_unit.append(_unit_seconds(e, oh_u, ow_u, kind, steps, lanes, runs))
        per_unit_max.append(_unit_seconds(e, oh_u, ow_u, kind, bound, lanes, runs))
    if lanes > 1:
        worst = _lanes_bytes(kind, worst, lanes)
    c = 3 if channels == 3 else 1
    oh, ow = h * factor, w * factor
    # image + guide/reference (f32), the result and its weights, the mask
    host = 4 * h * w * c * (2 if cfg.task == "flash" else 1) + 4 * oh * ow * (c + 1) + h * w
    return Plan(mode=mode, task=cfg.task, image_hw=(h, w), factor=factor, units=units,
                tile=size, overlap=ov,
                device=kind, device_words=describe(dev), unit_seconds=tuple(per_unit),
                unit_seconds_max=tuple(per_unit_max), step_bytes=int(worst), host_bytes=int(host),
                auto_stop=auto_stop, runs=runs, lanes=lanes, crops=crops, problem=problem, notes=tuple(notes),
                camera_pace=len(units) > 1 and not quick_ok and quickens(cfg))


def stops_by_itself(cfg: RunConfig) -> bool:
    """The run ends at its rule's pick (detail enhancement runs its steps: it wants a coarse fit)."""
    return cfg.stop == "auto" and cfg.task != "enhance"


def _unit_seconds(e, out_h: int, out_w: int, kind: str, steps: int, lanes: int = 1, runs: int = 1) -> float:
    """A unit's share of the wall time for ``steps`` of ``e``'s step: its seeds side by side,
    or its lane beside another."""
    px = out_h * out_w
    return wall_share(wall_seconds(e.seconds_per_step, steps, kind, seeds_time_factor(runs, kind, px)), px, lanes)


def _lanes_bytes(kind: str, unit_bytes: int, lanes: int) -> int:
    """The peak of ``lanes`` units' steps at once: the process baseline is paid once."""
    base = BASELINE_BYTES.get(kind, 0)
    return int(base + lanes * (unit_bytes - base))


def typical_steps(cfg: RunConfig, h: int, w: int, auto_stop: bool, quick: bool = False) -> int:
    """Where a unit of ``h`` x ``w`` output pixels usually stops (its bound without a stop);
    ``quick``: a tile at the quick pace."""
    bound = cfg.iterations
    if not auto_stop:
        return bound
    share = TYPICAL_STOP.get(cfg.task, 1.0)
    if quick and quickens(cfg):
        share *= QUICK_STEPS
    if cfg.task in STOP_GROWS_WITH_SIDE:
        side = math.sqrt(h * w)
        power, past = STOP_GROWS_WITH_SIDE[cfg.task]
        share *= (min(side, STOP_SIDE_BREAK) / STOP_REF_SIDE) ** power
        share *= (max(side, STOP_SIDE_BREAK) / STOP_SIDE_BREAK) ** past
    # a constant rate (a tile's quick pace too) stops as under its preset's bound; a schedule, with it
    at = bound if cfg.lr_schedule != "constant" else preset_bound(cfg)
    return max(1, min(bound, round(share * at)))


def plan_lanes(kind: str, units: int, runs: int, unit_bytes: int, budget: float) -> int:
    """Units side by side (engine/lanes.py): on a CPU, one seed each, while two units'
    steps fit the budget together."""
    if runs != 1:
        return 1
    lanes = lane_count(kind, torch.get_num_threads(), units)
    return lanes if lanes > 1 and lanes_fit(kind, unit_bytes, lanes, budget) else 1


def lanes_fit(kind: str, unit_bytes: int, lanes: int, budget: float = CPU_TILE_BYTES) -> bool:
    """Do ``lanes`` units of ``unit_bytes`` a step fit ``budget`` together? (a job's tiles
    here, a batch's units in engine/batch.py)"""
    return _lanes_bytes(kind, unit_bytes, lanes) <= budget


def _tiles_seconds(cfg: RunConfig, h: int, w: int, s: int, e, kind: str, budget: float,
                   allow_lanes: bool = True, quick_ok: bool = True) -> float:
    """The estimated wall time of ``h`` x ``w`` in tiles of ``s`` (each of ``e``'s step;
    ``quick_ok``: several tiles fit at the quick pace)."""
    ov = min_overlap(cfg, s)
    n = len(axis_starts(h, s, ov)) * len(axis_starts(w, s, ov))
    th, tw = min(s, h) * cfg.out_factor, min(s, w) * cfg.out_factor
    lanes = plan_lanes(kind, n, 1, e.bytes, budget) if allow_lanes else 1
    steps = typical_steps(cfg, th, tw, stops_by_itself(cfg), quick=n > 1 and quick_ok)
    return n * _unit_seconds(e, th, tw, kind, steps, lanes)


def _unit_cap(cfg: RunConfig) -> float:
    """The largest unit side ``cfg``'s bound settles on (``MAX_UNIT_SIDE``; unlimited elsewhere)."""
    return MAX_UNIT_SIDE.get(cfg.preset, math.inf)


def _auto_tile(cfg: RunConfig, h: int, w: int, step, budget: float, crop_mode: bool, kind: str = "cpu",
               allow_lanes: bool = True, quick_ok: bool = True) -> int:
    """The tile side (a multiple of the net's cell) with the least estimated time whose step
    fits ``budget``; the smallest size when none fits (the plan then says so). The time
    counts the steps a unit of that size needs and the lanes it runs in."""
    m, factor = cfg.net.size_multiple(), cfg.out_factor
    best: tuple[float, int] | None = None
    sizes = [s // factor for s in TILE_SIZES      # of what the net draws (super-resolution: / factor)
             if (s % m == 0 or m > s) and s % factor == 0 and s // factor >= MIN_TILE] or [max(MIN_TILE, m)]
    cap = min(MAX_AUTO_TILE // factor, _unit_cap(cfg))
    for s in sizes:
        if s > cap:
            continue
        th, tw = min(s, h), min(s, w)
        e = step(th, tw)
        if e.bytes > budget:
            continue
        if 2 * min_overlap(cfg, s) >= s:
            continue
        cost = _tiles_seconds(cfg, h, w, s, e, kind, budget, allow_lanes, quick_ok)
        if best is None or cost < best[0] * 0.98:   # near-ties go to the larger tile (fewer seams)
            best = (cost, s)
        elif cost <= best[0] * 1.02:
            best = (min(best[0], cost), s)
        if crop_mode:   # crops are as large as the mask makes them: the largest tile that fits
            best = (cost, s)
    return best[1] if best is not None else sizes[0]
