"""When to stop: the best iterate without ground truth, and when it is safe to say so.

The default rule is *self-validation* (Li, Zhuang, Wang, Sun, "Self-Validation: Early
Stopping for Single-Instance Deep Generative Priors", BMVC 2021): a small random subset
of the known pixels is held out of the data term (``Task.hold_out``). The network never
sees them, so its error there falls while it fits structure and rises once it starts
reproducing the noise of the pixels it does see. For i.i.d. noise the held-out error is
the true error on those pixels plus the (constant) noise power, so its minimum is an
unbiased estimate of where the peak is. The run scores its moving average of the outputs
(raw outputs only when it keeps no average: each jittered output's score jumps about, and
the minimum over hundreds of them is a lucky draw, not a better image).
For noise-free data (inpainting, super-resolution) the held-out error keeps falling slowly;
there the rule stops on a plateau: no gain of ``min_gain_db`` for the look-ahead.

Look-ahead ("patience") scales with the run: ``max(patience_min, patience_ratio * best
step)``: with the defaults (200, 0.5) a peak at step 300 is confirmed 200 steps later, one at
2000 after 1000. The floor must exceed the moving average's memory (1 / (1 - 0.99) = 100
steps): a raw output that scores well by luck early on is otherwise confirmed before the
average, which lags it, has had time to overtake it (measured: benchmarks/README.md).

The alternative rule, ``variance``, is ES-WMV (Wang et al., arXiv 2112.06074): the minimum
of the windowed moving variance of the outputs (engine/earlystop.py). It is kept for
comparison (benchmarks/README.md); it picks early on denoising with our settings.

For denoising, held-out pixels have one known weakness: on smooth photos their error
bottoms out before the image does (coffee, outside the shared sets: 1.6 dB early,
benchmarks/README.md). The *discrepancy principle* errs the other way (late on smooth
images, early on textured ones), so the run takes the later of the two: it does not stop
before the fit of the seen pixels has come down to the noise level estimated from the image
itself (:func:`noise_sigma`), and when that happens after the held-out best, the moving
average at that step is the pick. A cap (``DISCREPANCY_CAP`` x the held-out best step)
keeps an image whose noise is underestimated (a clean one) from running to the bound.

On a camera's correlated noise the run holds out blocks instead of pixels (engine/tasks.py) and
scores them only once its fit is within ``BLOCK_GATE`` x the measured noise level
(engine/run.py). A block's score measures inpainting, so its best can come late (smooth
crops) or early. :class:`Slowing` weighs it against a second signal that needs no noise
level: the step at which the moving average's residual stops falling fast. The pick is the
moving average nearest the geometric mean of the two steps.

Everything here but :class:`ChangeWatch` and :class:`Slowing`'s kept copies is host-side
Python on floats the run loop already synchronises once per step; the change watch's device
value and the slowing's residual ride in that same sync.

For noise-free data terms the presets use the *visible-change* rule instead
(:class:`ChangeWatch`, ``stop_rule='change'``): no pixels held out, the run stops once its
moving average no longer changes in a way a person could see, and writes that average.
"""
from __future__ import annotations

import math
from collections import deque

import torch

from .noise import noise_sigma as noise_sigma   # the fine-scale estimate lives with the other noise measures

BLOCK_GATE = 2.0          # held-out blocks count once the data term is within this x the noise variance
DISCREPANCY_WINDOW = 50   # steps of the data term averaged (one jittered output's loss jumps about)
DISCREPANCY_CAP = 3.0     # wait for the noise level at most this many times the held-out best step
MIN_NOISE_SIGMA = 2 / 255 # under this the image is taken as clean: no noise level to wait for


class Discrepancy:
    """Has the fit come down to the noise level? Fed one data-term value per accepted step;
    ``crossed_at`` is the first step whose ``DISCREPANCY_WINDOW``-step mean is at or under
    ``target`` (the noise variance, in the data term's units)."""

    def __init__(self, target: float, window: int = DISCREPANCY_WINDOW):
        self.target = float(target)
        self._recent: deque[float] = deque(maxlen=max(1, int(window)))
        self._sum = 0.0
        self.crossed_at: int | None = None

    def feed(self, step: int, loss: float) -> bool:
        """True on the step it crosses (once)."""
        if self.crossed_at is not None or not math.isfinite(loss):
            return False
        if len(self._recent) == self._recent.maxlen:
            self._sum -= self._recent[0]
        self._recent.append(loss)
        self._sum += loss
        if len(self._recent) == self._recent.maxlen and self._sum / len(self._recent) <= self.target:
            self.crossed_at = step
            return True
        return False

    def waiting(self, step: int, gain_step: int | None) -> bool:
        """The held-out rule may not stop yet: the noise level is not reached and the cap
        (``DISCREPANCY_CAP`` x the step of the held-out score's last significant gain: the
        best step itself can creep on forever on a plateau) not passed."""
        if self.crossed_at is not None or gain_step is None:
            return False
        return step < DISCREPANCY_CAP * max(gain_step, 1)


class BestTracker:
    """The lowest score seen (its step and which image: ``output`` or ``ema``) and the
    look-ahead bookkeeping that decides the stop."""

    def __init__(self, rule: str, patience_min: int, patience_ratio: float, min_gain_db: float):
        self.rule = rule
        self.patience_min = max(1, int(patience_min))
        self.patience_ratio = float(patience_ratio)
        self.gain = 10 ** (-float(min_gain_db) / 10)   # score ratio that counts as progress
        self.best: tuple[int, float, str] | None = None   # (step, score, kind)
        self.held = "held-out pixels"      # what the holdout rule scores, in words (the task's)
        self._ref: float | None = None    # score at the last significant improvement
        self._ref_step = 0

    def offer(self, step: int, kind: str, score: float) -> bool:
        """A candidate iterate; True when it is the new best (the caller keeps its image)."""
        if not math.isfinite(score):
            return False
        if self._ref is None or score < self._ref * self.gain:
            self._ref, self._ref_step = score, step
        if self.best is None or score < self.best[1]:
            self.best = (step, score, kind)
            return True
        return False

    @property
    def gain_step(self) -> int | None:
        """The step of the last significant gain (None before any score)."""
        return None if self._ref is None else self._ref_step

    def patience(self) -> int:
        at = 0 if self.best is None else self.best[0]
        return max(self.patience_min, int(self.patience_ratio * at))

    def should_stop(self, step: int, began: int) -> bool:
        """No significant gain for the look-ahead, counted from ``began`` too (so a
        continued run gets a fresh look-ahead)."""
        if self.best is None:
            return False
        return step - max(self._ref_step, began) >= self.patience()

    def restart(self) -> None:
        """Forget every score so far (the next one offered is the best): scores taken before
        the picture had formed do not compete (held-out blocks, engine/run.py)."""
        self.best = None
        self._ref = None
        self._ref_step = 0

    def take(self, step: int, kind: str, score: float) -> None:
        """Make ``step`` the best iterate whatever its score (the discrepancy pick, later than
        the held-out best); the look-ahead bookkeeping is left as it is."""
        self.best = (step, score, kind)

    def reason(self, step: int) -> str:
        if self.best is None:
            return "no iterate scored yet"
        at, score, kind = self.best
        what = "moving average" if kind == "ema" else "output"
        if self.rule == "holdout":
            lead = f"{self.held} best predicted at step {at} ({what}, error {score:.3g})"
        else:
            lead = f"output variance lowest at step {at} (window variance {score:.3g})"
        since = step - self._ref_step
        return f"{lead}; no gain in the {since} steps since"


SLOWING_RATIO = 0.92      # the fit counts as slowed once its residual keeps this share over ...
SLOWING_LAG = 50          # ... this many steps (checked every SLOWING_EVERY steps, from step 100)
SLOWING_EVERY = 25
SLOWING_COPIES = 64       # moving averages kept to pick from (thinned to every other one past this) ...
SLOWING_BYTES = 64 * 2**20  # ... or past this many bytes on the run's device (a large photo keeps fewer)
SLOWING_CAP = 3.0         # the blocks' best is awaited at most this many times the step the fit slowed


class Slowing:
    """When the fit slows down, on a camera's correlated noise (issue 20).

    The held-out blocks' score is an inpainting score: on a smooth crop it is nearly flat once
    the picture has formed and its minimum comes late, while on others it comes early. The
    moving average's residual tells another story: it falls fast while the net draws the
    picture, then slowly while it copies the noise. The first step at which it keeps
    ``SLOWING_RATIO`` of its value ``SLOWING_LAG`` steps before is where the fit slowed. Alone,
    each signal missed by 0.3-0.4 dB on average on CC_real, in opposite directions; the
    geometric mean of the two steps, replayed on those 11 real photos and 4 untuned ones at
    128 px, was within 0.2 dB on average (benchmarks/README.md). So the run keeps
    its moving average every ``SLOWING_EVERY`` steps once the blocks count, and picks the one
    nearest that mean. No noise level is needed. At a constant rate only: the measure was made
    there, and a faster pace slows later.

    On some photos the blocks' score keeps creeping down long after the fit slowed (an
    untuned photo ran to its 3000-step bound, its picture best at 1725): the run waits for it
    at most ``SLOWING_CAP`` x the step the fit slowed (:meth:`overdue`), as it waits for a
    noise level at most ``DISCREPANCY_CAP`` x the held-out best.

    Host-side bookkeeping on the residuals the run reads in its one sync per step; the copies
    stay on the run's device."""

    def __init__(self, ratio: float = SLOWING_RATIO, lag: int = SLOWING_LAG, every: int = SLOWING_EVERY,
                 start: int = 100, copy_bytes: int = 0):
        self.ratio, self.lag, self.every, self.start = float(ratio), int(lag), int(every), int(start)
        # a large photo keeps fewer copies (thinned sooner), never under 4
        self.keep = max(4, min(SLOWING_COPIES, SLOWING_BYTES // max(1, int(copy_bytes))))
        self._resid: dict[int, float] = {}
        self._copies: dict[int, torch.Tensor] = {}
        self.crossed_at: int | None = None
        self.picked: tuple[int, int, int] | None = None    # (blocks' best, slowed, picked)
        self.capped_at: int | None = None    # the step :meth:`overdue` ended the wait, if it did

    def wants(self, step: int) -> bool:
        return step > 0 and step % self.every == 0

    def feed(self, step: int, resid: float) -> None:
        """The moving average's data term after ``step`` steps (a check step)."""
        if not math.isfinite(resid):
            return
        self._resid[step] = resid
        old = self._resid.get(step - self.lag)
        if self.crossed_at is None and step >= self.start and old is not None and old > 0 \
                and resid >= self.ratio * old:
            self.crossed_at = step
        for s in [s for s in self._resid if s < step - self.lag]:
            del self._resid[s]

    def overdue(self, step: int, began: int = 0) -> bool:
        """``step`` is ``SLOWING_CAP`` or more times the step the fit slowed: stop waiting for
        the blocks' best. Only in a call begun before that (``began``): a run continued past
        the cap stops on the look-ahead alone."""
        if self.crossed_at is None:
            return False
        cap = SLOWING_CAP * self.crossed_at
        return began < cap <= step

    @torch.no_grad()
    def keep_copy(self, step: int, ema: torch.Tensor) -> None:
        """Keep the moving average after ``step`` steps to pick from later."""
        self._copies[step] = ema.clone()
        if len(self._copies) > self.keep:
            steps = sorted(self._copies)
            for s in steps[-2::-2]:          # every other one, the newest kept
                del self._copies[s]

    def pick(self, blocks_step: int) -> int | None:
        """The kept step nearest the geometric mean of the blocks' best and the slowing (None:
        the fit has not slowed, or nothing kept)."""
        if self.crossed_at is None or not self._copies:
            return None
        target = math.sqrt(max(1, blocks_step) * self.crossed_at)
        return min(self._copies, key=lambda s: (abs(s - target), s))

    def settle(self, blocks_step: int) -> int | None:
        """The stop's pick (:meth:`pick`), remembered with its two steps for :meth:`reason`;
        once only (a continued run keeps it)."""
        if self.picked is None:
            p = self.pick(blocks_step)
            self.picked = None if p is None else (blocks_step, int(self.crossed_at), p)
            return p
        return None

    def reason(self, held: str, scored: str, step: int, bound: bool = False) -> str:
        e, q, p = self.picked
        if self.capped_at is not None:
            tail = (f"; the held-out score still improving at step {self.capped_at}, "
                    f"{SLOWING_CAP:g}x the step the fit slowed")
        else:
            tail = "" if bound else f"; no gain in the held-out score in the {step - e} steps since"
        return (f"the moving average at step {p}, between the step the fit slowed ({q}: its residual "
                f"kept {100 * self.ratio:.0f} % of its value over {self.lag} steps) and the best of the "
                f"{held} at step {e} ({scored}){tail}")

    def copy(self, step: int) -> torch.Tensor:
        return self._copies[step]


def held_out_reason(tracker: BestTracker, step: int, disc: Discrepancy | None = None,
                    gate: Discrepancy | None = None, slowing: Slowing | None = None,
                    sigma: float | None = None, bound: bool = False) -> str:
    """Which signal picked the iterate a held-out run writes, in words (``sigma``: the noise
    level the discrepancy waited for; ``bound``: the step bound ended the run, not the rule)."""
    best = tracker.best
    if slowing is not None and slowing.picked is not None and best is not None and best[0] == slowing.picked[2]:
        gated = f"scored once the fit came within {BLOCK_GATE:g}x the photo's noise level"
        return slowing.reason(tracker.held, gated, step, bound)
    if disc is not None and best is not None and disc.crossed_at == best[0]:
        return (f"the fit reached the noise level estimated from the image (sigma "
                f"{255 * sigma:.1f}/255) at step {disc.crossed_at}, after the held-out "
                f"pixels' best: the moving average there; no gain in the "
                f"{step - disc.crossed_at} steps since")
    if gate is not None and gate.crossed_at is not None:
        return (f"{tracker.reason(step)}; scored from step {gate.crossed_at}, once the fit "
                f"came within {BLOCK_GATE:g}x the photo's noise level")
    return tracker.reason(step)


def change_lookback(steps: int) -> int:
    """The look-back the visible-change stop really uses for ``steps`` asked: the copy a check
    compares with is the one taken four checks before, so a look-back that is not a multiple of
    4 is rounded down to one (250 -> 248), else no copy would ever lie exactly one look-back back
    and the run would never stop by itself."""
    return 4 * (max(4, int(steps)) // 4)


class ChangeWatch:
    """The visible-change stop for noise-free data terms (inpainting, super-resolution), whose
    picture keeps improving a little for thousands of steps: stop once the moving average has
    changed by less than ``threshold_db`` (PSNR of the average now against the average
    ``lookback`` steps ago, over ``region``: the filled pixels, or the whole image) -- a change
    a person would no longer see. 40 dB is an RMS change of 1 % of the range.

    Every ``lookback // 4`` steps the run hands in its average; a copy of the watched pixels
    is kept on the device (five at most) and the squared difference to the copy from
    ``lookback`` steps before comes back as a 0-d tensor the run reads in its one sync per
    step; ``feed`` takes that value on the host.
    """

    def __init__(self, lookback: int, threshold_db: float, region: torch.Tensor | None, what: str):
        self.lookback = change_lookback(lookback)
        self.every = self.lookback // 4
        self.threshold_db = float(threshold_db)
        self.region = region          # bool H x W on the run's device, or None
        self.what = what
        self._copies: dict[int, torch.Tensor] = {}
        self.last: tuple[int, float] | None = None    # (step, dB) of the last comparison

    def _watched(self, ema: torch.Tensor) -> torch.Tensor:
        return ema[..., self.region] if self.region is not None else ema

    @torch.no_grad()
    def measure(self, step: int, ema: torch.Tensor | None) -> torch.Tensor | None:
        """At a check step, the mean squared change of ``ema`` (the average after ``step``
        steps) since ``lookback`` steps ago (None: not a check step, or nothing to compare)."""
        if ema is None or step <= 0 or step % self.every:
            return None
        x = self._watched(ema)
        old = self._copies.pop(step - self.lookback, None)
        for s in [s for s in self._copies if s <= step - self.lookback]:
            del self._copies[s]
        self._copies[step] = x.clone()
        if old is None or x.numel() == 0:
            return None
        return (x - old).pow(2).mean()

    def feed(self, step: int, mse: float) -> None:
        db = math.inf if mse <= 0 else -10.0 * math.log10(mse)
        if math.isfinite(mse):
            self.last = (step, db)

    def should_stop(self, began: int) -> bool:
        """The last comparison saw less change than the threshold, over a look-back that lies
        wholly within this ``steps()`` call (a continued run watches afresh)."""
        return self.last is not None and self.last[1] >= self.threshold_db \
            and self.last[0] - self.lookback >= began

    def reason(self) -> str:
        step, db = self.last if self.last is not None else (0, math.inf)
        rms = 100 * 10 ** (-db / 20)
        return (f"{self.what} changed by less than {max(rms, 0.01):.2g} % of the range (RMS, {db:.1f} dB) "
                f"over the last {self.lookback} steps, to step {step}: no change a person would see")
