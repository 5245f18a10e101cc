"""What a run of the settings costs on the loaded image, as plain data (no Qt): the network's
parameter count, one step's time and memory, the plan of a photo too large for one run, the
seeds averaged, the expected wall time and the faster preset worth offering.

The settings panel asks and :class:`~app.estimate_view.EstimateView` shows what
:meth:`RunCost.shown` decides. Everything is worked out on the meta device (no kernel runs on
the GUI thread) and cached: parameters by network, estimates by network and size, plans by
settings, size, mask version and tile (app/job_plan.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.config import RunConfig
from engine.device import device_memory_bytes, pick_device
from engine.errors import ConfigError, DIPError
from engine.estimate import Estimate, estimate_cost, wall_seconds
from engine.inputs import input_channels as engine_input_channels
from engine.nets import count_parameters
from engine.noise import NoiseProfile
from engine.presets import presets_for
from engine.seeds import seeds_time_factor
from engine.tiling import Plan

from .job_plan import PlanCache, problem_words
from .settings_format import wall_time_sentence

# Past this expected wall time the panel offers the faster choices under the sentence: ten
# minutes is about where a user stops waiting at the screen and starts wondering.
LONG_RUN_SECONDS = 10 * 60
# The fast preset is offered only when it saves at least this share of the time: switching
# throws away the user's network settings, which a few percent does not pay for.
FAST_PRESET_MIN_GAIN = 0.2
# Below this longer side a region or a downscaled copy leaves too little image to restore;
# a long run there comes from the step count, which those choices do not change.
SHRINK_MIN_SIDE = 128
PLAN_TIP = ("The plan of the run: the photo is restored in overlapping tiles (or, for inpainting, "
            "in crops around the mask), each a run of its own; the time is estimated from seconds "
            "per step and where such runs usually stop.")
COST_ERRORS = (DIPError, ValueError, RuntimeError)


@dataclass
class WallTime:
    """The sentence before Run and the faster choices that apply (EstimateView.show_wall_time)."""

    sentence: str
    long_run: bool
    fast: tuple[str, float] | None      # a preset's name and its expected seconds
    region: bool
    downscale: bool
    problem: bool = False
    tip: str | None = None              # None: the view's own


@dataclass
class StepCost:
    """One step's estimate as the view shows it (EstimateView.show_estimate)."""

    est: Estimate
    device: str
    memory: float
    output_hw: tuple[int, int]
    per: str = ""


@dataclass
class CostShown:
    """What the estimate rows show: nothing without an image, why there is no estimate, or a
    step's cost and (unless a tiled plan has no unit) the wall time."""

    no_image: bool = False
    problem: str | None = None          # "no estimate (problem)"
    step: StepCost | None = None
    wall: WallTime | None = None


class RunCost:
    def __init__(self, tile: Callable[[], str | int] = lambda: "auto") -> None:
        self.image_hw: tuple[int, int] | None = None
        self.image_channels = 3
        self.noise: NoiseProfile | None = None   # the photo's (engine/noise.py): tile_pace 'auto' reads it
        self.tile = tile                     # the Tiles choice: "auto", "off" or a side
        self.plans = PlanCache()
        self._params: dict[tuple, int] = {}
        self._estimates: dict[tuple, Estimate] = {}

    def set_image_size(self, h: int | None, w: int | None = None, channels: int = 3) -> None:
        self.image_hw = None if h is None or w is None else (int(h), int(w))
        self.image_channels = int(channels)
        self.noise = None           # ... and its own noise, measured after (set_noise)
        self.plans.mask_changed()   # a new image comes with a new mask

    def set_noise(self, profile: NoiseProfile | None) -> None:
        """The image's noise as measured: the plan of a photo's tiles settles its pace by it."""
        self.noise = profile

    @property
    def shrinkable(self) -> bool:
        """Whether a region or a smaller copy leaves image to restore."""
        return self.image_hw is not None and max(self.image_hw) > SHRINK_MIN_SIDE

    def params(self, cfg: RunConfig) -> int:
        """The network's parameter count; raises what count_parameters raises."""
        in_ch = engine_input_channels(cfg.input_kind, cfg.input_channels)
        if cfg.input_kind == "guide":
            in_ch = self.image_channels   # the flash photo has the image's channels
        key = (repr(cfg.net), in_ch, self.image_channels)
        params = self._params.get(key)
        if params is None:
            # on the meta device: building a real net here would run torch's weight init on
            # the GUI thread and start an OpenMP team there that slows the run's worker
            params = self._params[key] = int(count_parameters(cfg.net, in_ch, self.image_channels))
        return params

    @staticmethod
    def device_type(device: str) -> str:
        try:
            return pick_device(device).type
        except ConfigError:
            return "cpu"

    def output_hw(self, cfg: RunConfig) -> tuple[int, int] | None:
        if self.image_hw is None:
            return None
        h, w = self.image_hw
        if cfg.task == "superres":
            h, w = h * cfg.scale, w * cfg.scale
        return h, w

    def plan(self, cfg: RunConfig) -> Plan | None:
        """How a run of ``cfg`` goes (one run, tiles or crops); None without an image; raises
        ConfigError (an unusable tile or setting)."""
        if self.image_hw is None:
            return None
        return self.plans.get(cfg, self.image_hw, self.image_channels, self.device_type(cfg.device), self.tile(),
                              self.noise)

    def estimate(self, cfg: RunConfig) -> Estimate | None:
        """One step's cost of ``cfg`` at the output size, or None without an image. Raises
        what estimate_cost raises."""
        hw = self.output_hw(cfg)
        if hw is None:
            return None
        return self.estimate_at(cfg, hw[0], hw[1], self.device_type(cfg.device))

    def estimate_at(self, cfg: RunConfig, h: int, w: int, device: str) -> Estimate:
        key = (repr(cfg.net), cfg.input_kind, cfg.input_channels, self.image_channels, h, w, device)
        est = self._estimates.get(key)
        if est is None:
            est = self._estimates[key] = estimate_cost(cfg, h, w, device, out_channels=self.image_channels)
        return est

    def seeds(self, cfg: RunConfig) -> tuple[int, float]:
        """The seeds a run of the image averages and its time as a multiple of one seed's: the
        app runs the watched seed alone, then the others side by side (app/seed_worker.py)."""
        hw = self.output_hw(cfg)
        if self.image_hw is None or hw is None:
            return 1, 1.0
        try:
            n = self.plan(cfg).runs    # the plan resolves the config's seeds (engine.tiling.plan_job)
        except COST_ERRORS:
            return 1, 1.0              # no plan, no run: what it would cost is said elsewhere
        more = seeds_time_factor(n - 1, self.device_type(cfg.device), hw[0] * hw[1]) if n > 1 else 0.0
        return n, 1.0 + more

    def expected_seconds(self, cfg: RunConfig) -> float | None:
        """Estimated wall time (with the automatic stop, an upper bound), or None."""
        try:
            plan = self.plan(cfg)
            if plan is not None and plan.tiled:
                return plan.seconds_max   # like the whole run's: its step bound
            est = self.estimate(cfg)
        except COST_ERRORS:
            return None
        return None if est is None else self._whole_seconds(cfg, est)

    def _whole_seconds(self, cfg: RunConfig, est) -> float:
        """The whole photo's run, set-up included, every seed counted (engine.estimate.wall_seconds,
        the rule the tiled plans use too)."""
        return wall_seconds(est.seconds_per_step, cfg.iterations, self.device_type(cfg.device), self.seeds(cfg)[1])

    def time_sentence(self, cfg: RunConfig) -> str | None:
        """The expected time in the words the panel shows (the plan's sentence for a photo in
        tiles or crops)."""
        try:
            plan = self.plan(cfg)
            if plan is not None and plan.tiled:
                return None if plan.problem else plan.describe()
            est = self.estimate(cfg)
        except COST_ERRORS:
            return None
        if est is None:
            return None
        return wall_time_sentence(self._whole_seconds(cfg, est), self.device_type(cfg.device),
                                  cfg.stop == "auto", self.seeds(cfg)[0])

    def faster_preset(self, cfg: RunConfig, seconds: float,
                      preset_config: Callable[[str], RunConfig]) -> tuple[str, float] | None:
        """The task's "-fast" preset (as ``preset_config`` would load it) and its expected time,
        when it is not the one loaded and loading it saves real time."""
        # only the task's own presets: JPEG borrows the denoise ones, unmeasured on JPEG
        names = [p.name for p in presets_for(cfg.task) if p.name.endswith("-fast")]
        if not names:
            return None
        name = names[0]
        if cfg.preset == name:
            return None   # edited past its speed: reloading would undo the user's choices unasked
        try:
            fast_cfg = preset_config(name).validate()
        except ConfigError:
            return None
        fast_seconds = self.expected_seconds(fast_cfg)
        if fast_seconds is None or fast_seconds > (1 - FAST_PRESET_MIN_GAIN) * seconds:
            return None
        return name, fast_seconds

    def shown(self, cfg: RunConfig, preset_config: Callable[[str], RunConfig]) -> CostShown:
        """What the estimate rows show for ``cfg`` (the parameter count is asked apart)."""
        hw = self.output_hw(cfg)
        if hw is None:
            return CostShown(no_image=True)
        device = self.device_type(cfg.device)
        memory = device_memory_bytes(device)
        try:
            plan = self.plan(cfg)
            if plan is not None and plan.tiled:
                return self._plan_shown(cfg, plan, device, memory, None, preset_config)
            est = self.estimate(cfg)
        except COST_ERRORS as e:
            return CostShown(problem=str(e))
        step = StepCost(est, device, memory, hw)
        if plan is not None and plan.problem:
            return self._plan_shown(cfg, plan, device, memory, step, preset_config)
        seeds = self.seeds(cfg)[0]
        seconds = self._whole_seconds(cfg, est)
        long_run = seconds > LONG_RUN_SECONDS
        # a region or a smaller copy only helps when there is image to spare; for
        # super-resolution a smaller input throws away the detail the run is asked to build
        return CostShown(step=step, wall=WallTime(
            wall_time_sentence(seconds, device, cfg.stop == "auto", seeds), long_run=long_run,
            fast=self.faster_preset(cfg, seconds, preset_config) if long_run else None,
            region=self.shrinkable, downscale=self.shrinkable and cfg.task != "superres"))

    def _plan_shown(self, cfg: RunConfig, plan: Plan, device: str, memory: float, step: StepCost | None,
                    preset_config: Callable[[str], RunConfig]) -> CostShown:
        """A photo in tiles or crops: the estimate of its largest unit, and the plan in words
        where the wall-time sentence goes (or why it cannot run: Run is refused then)."""
        if step is None:
            if not plan.units:
                return CostShown(problem="nothing to do")
            box = max((u.out_box(plan.factor) for u in plan.units), key=lambda b: b.height * b.width)
            step = StepCost(self.estimate_at(cfg, box.height, box.width, device), device, memory,
                            (box.height, box.width), per=f"{box.width}x{box.height} tile")
        long_run = plan.seconds > LONG_RUN_SECONDS
        sentence = f"cannot run: {problem_words(plan.problem)}" if plan.problem else plan.describe()
        return CostShown(step=step, wall=WallTime(
            sentence, long_run=long_run and not plan.problem,
            fast=self.faster_preset(cfg, plan.seconds_max, preset_config) if long_run else None,
            region=self.shrinkable, downscale=self.shrinkable and cfg.task != "superres",
            problem=bool(plan.problem), tip=PLAN_TIP))
