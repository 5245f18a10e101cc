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

Everything here is host-side Python on floats the run loop already synchronises once per
step: no tensor, no extra device sync.
"""
from __future__ import annotations

import math


class BestTracker:
    """The lowest score seen (its step and which image: ``output`` or ``ema``) and the
    look-ahead bookkeeping that decides the stop."""

    def __init__(self, rule: str, patience_min: int, patience_ratio: float, min_gain_db: float):
        self.rule = rule
        self.patience_min = max(1, int(patience_min))
        self.patience_ratio = float(patience_ratio)
        self.gain = 10 ** (-float(min_gain_db) / 10)   # score ratio that counts as progress
        self.best: tuple[int, float, str] | None = None   # (step, score, kind)
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

    def patience(self) -> int:
        at = 0 if self.best is None else self.best[0]
        return max(self.patience_min, int(self.patience_ratio * at))

    def should_stop(self, step: int, began: int) -> bool:
        """No significant gain for the look-ahead, counted from ``began`` too (so a
        continued run gets a fresh look-ahead)."""
        if self.best is None:
            return False
        return step - max(self._ref_step, began) >= self.patience()

    def reason(self, step: int) -> str:
        if self.best is None:
            return "no iterate scored yet"
        at, score, kind = self.best
        what = "moving average" if kind == "ema" else "output"
        if self.rule == "holdout":
            lead = f"held-out pixels best predicted at step {at} ({what}, error {score:.3g})"
        else:
            lead = f"output variance lowest at step {at} (window variance {score:.3g})"
        since = step - self._ref_step
        return f"{lead}; no gain in the {since} steps since"
