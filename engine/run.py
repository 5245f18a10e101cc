"""The optimisation loop: a stateful run whose ``steps()`` generator yields one record per
Adam step, so a CLI prints it and a GUI worker forwards it without either knowing torch.

What it does per step (the paper's loop, made robust):
  z' = z + N(0, sigma_p^2)            (jitter, its own seeded generator)
  x  = crop(f_theta(z'))              (the net sees a padded frame; no user pixel is lost)
  E  = task.loss(x); backward; Adam
  EMA <- gamma EMA + (1 - gamma) x    (only on accepted steps)
  held-out error of x and of the EMA  (the stopping rule's score, engine/stopping.py)
The best-scoring image (output or EMA) is kept on the device; with ``stop='auto'`` the
loop ends once no significant gain came for the rule's look-ahead.
Backtracking: if E is not finite or jumped by more than ``backtrack_db`` over the last
accepted loss, the weights *and* Adam's state go back to the last accepted step (a
double-buffered checkpoint) and the step's update is discarded. Twenty rejections in a
row, or more than half of the last fifty steps, raise ``Diverged``.

One host sync per step: a small tensor (loss, variance, held-out errors) read with
``tolist()``. Previews and snapshots copy to the host only at their cadence.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from .config import RunConfig
from .control import Controls
from .device import describe, is_oom, oom_error, pick_device, seeded
from .earlystop import WindowedVariance
from .errors import Diverged, ImageError
from .experiment_tasks import PixelPrior   # also adds the preimage / actmax tasks to make_task
from .history import SnapshotHistory
from .inputs import input_channels, make_input
from .metrics import ReferenceScores
from .nets import build_net, count_params
from .stopping import (BLOCK_GATE, MIN_NOISE_SIGMA, BestTracker, ChangeWatch, Discrepancy, Slowing,
                       held_out_reason, noise_sigma)
from .schedule import forward_precision, kernel_autotune, lr_at, uses_bf16
from .tasks import make_task

MAX_CONSECUTIVE_BACKTRACKS = 20
REJECT_WINDOW = 50          # ... or more than half of this many recent steps rejected


@dataclass
class StepRecord:
    step: int
    loss: float
    backtracked: bool = False
    elapsed: float = 0.0
    preview: np.ndarray | None = None
    preview_ema: np.ndarray | None = None
    psnr: dict[str, float] | None = None
    ssim: dict[str, float] | None = None
    variance: float | None = None
    suggested: tuple[int, float] | None = None   # the rule's best iterate so far: (step, score)
    val: dict[str, float] | None = None         # held-out error of 'output' / 'ema' (holdout rule)
    snapshot: bool = False
    final: bool = False          # the last record of this steps() call (done, or stopped on request)
    unit: object | None = None   # a tiled job's engine.job.UnitProgress: which tile, where, how far
    change: float | None = None  # change rule: the moving average against one look-back ago, in dB


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach()[0].permute(1, 2, 0).float().cpu().numpy().copy()


class Restoration(Controls):
    """One restoration: network, input, optimiser and everything observed about the run."""

    def __init__(self, cfg: RunConfig, image: np.ndarray, mask: np.ndarray | None = None,
                 guide: np.ndarray | None = None, reference: np.ndarray | None = None,
                 init_weights: dict[str, torch.Tensor] | None = None):
        # a private copy: extend() changes iterations without touching the caller's config
        self.cfg = RunConfig.from_dict(cfg.validate().to_dict())
        self.device = pick_device(cfg.device)
        self.param_count = 0
        # a warm start (a neighbouring tile's trained weights, engine/job.py); None: the seed's
        self._init_weights = init_weights
        try:
            self._setup(cfg, image, mask, guide, reference)
        except Exception as exc:  # any allocation may be the one that no longer fits
            if is_oom(exc):
                h, w = np.shape(image)[:2]
                raise oom_error(self.device, (h, w), self.param_count) from None
            raise

    def _setup(self, cfg: RunConfig, image, mask, guide, reference) -> None:
        self.task = make_task(cfg, image, mask, guide, self.device)
        if cfg.stop_rule == "holdout" and cfg.holdout > 0:
            self.task.hold_out(cfg.holdout, (cfg.seed + 2) % 2**63)
        h, w = self.task.out_hw
        c = self.task.channels
        self.out_shape = (h, w, c)
        self._scores = None if reference is None else ReferenceScores(
            cfg.task, cfg.scale, reference, self.out_shape, self.task.degraded_view())
        self.reference = None if self._scores is None else self._scores.array
        self._degraded = self.task.degraded_view()
        with torch.no_grad():  # what a flat image of the mean colour scores: the "no fit" line
            t = self.task.target
            flat = t.mean(dim=(2, 3), keepdim=True).expand(1, c, h, w)
            self._flat_loss = float(self.task.loss(flat))

        with seeded(cfg.seed):
            in_ch = input_channels(cfg.input_kind, cfg.input_channels, self.task.guide)
            if cfg.prior == "tv":   # the comparison: the pixels themselves (engine/experiment_tasks.py)
                net = PixelPrior(h, w, c, cfg.seed)
            else:
                net = build_net(cfg.net, in_ch, c)
        if self._init_weights is not None:
            net.load_state_dict(self._init_weights)
        # the net works on a frame padded to what its depth needs; the image sits centred
        m = cfg.net.size_multiple()
        least = net.min_side(in_ch)  # tiny images: pad up to a frame the net can run on
        hp, wp = max(-(-h // m) * m, least), max(-(-w // m) * m, least)
        self._top, self._left = (hp - h) // 2, (wp - w) // 2
        gen = torch.Generator().manual_seed(cfg.seed)
        z = make_input(cfg.input_kind, cfg.input_channels, hp, wp, scale=cfg.input_scale,
                       generator=gen, guide=self.task.guide, crop_box=(self._top, self._left))
        self.param_count = count_params(net)
        self.net = net.to(self.device).train()
        self.z = z.to(self.device)
        self.device_name = describe(self.device)
        self._jitter_gen = self._make_generator(cfg.seed + 1)
        fused = self.device.type in ("cuda", "cpu")
        try:
            self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, fused=fused)
        except (RuntimeError, TypeError):
            self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)

        self.horizon = cfg.iterations   # the learning-rate schedule's length (a continued run keeps it)
        self.bf16 = uses_bf16(cfg, self.device)
        self.step = 0
        self.backtracks = 0
        self._consecutive_bt = 0
        self._last_good_loss: float | None = None
        self._ckpt: list[torch.Tensor] | None = None
        self._stage: list[torch.Tensor] | None = None
        self._state_list: list[torch.Tensor] | None = None
        self._ema: torch.Tensor | None = None
        self._out: torch.Tensor | None = None
        self._best: torch.Tensor | None = None
        self._unfed = False
        self._out_step = 0
        self.stopped_early = False
        self.stop_reason: str | None = None
        self.tracker = BestTracker(cfg.stop_rule, cfg.stop_patience, cfg.stop_patience_ratio,
                                   cfg.stop_min_gain_db)
        self.tracker.held = self.task.held_words
        self.change: ChangeWatch | None = None
        if cfg.stop_rule == "change":
            region = self.task.change_region()
            self.change = ChangeWatch(cfg.change_steps, cfg.change_db,
                                      None if region is None else torch.from_numpy(region).to(self.device),
                                      self.task.watched)
        self.noise_sigma: float | None = None
        self.noise = self.task.noise          # the photo's noise as measured (engine/noise.py), or None
        self._disc: Discrepancy | None = None
        # the fine-scale estimate misses most of a camera's correlated noise (3-4x low), and no
        # estimate of it is close enough to wait for: its held-out blocks stop the run instead
        if cfg.discrepancy and cfg.stop_rule == "holdout" and self.task.white_noise \
                and not (self.noise is not None and self.noise.correlated):
            self.noise_sigma = noise_sigma(self.task.image)
            if self.noise_sigma >= MIN_NOISE_SIGMA:
                # the data term averages over every pixel, held-out ones counting as zero
                self._disc = Discrepancy(self.noise_sigma ** 2 * self.task.fitted_fraction)
        # held-out blocks are scored only once the fit has come within BLOCK_GATE x the measured
        # noise level: before that the network is still drawing the picture, and a block's fill
        # can look its best by chance (a run stopped at step 344 on a real photo, 3 dB early)
        self._gate: Discrepancy | None = None
        if self.task.blocks_held and self.noise is not None and self.noise.sigma >= MIN_NOISE_SIGMA:
            self._gate = Discrepancy(BLOCK_GATE * self.noise.sigma ** 2 * self.task.fitted_fraction)
        # ... and their pick is weighed against the step where the fit slowed (at a constant rate)
        self._slowing: Slowing | None = None
        if self._gate is not None and cfg.slowing and cfg.lr_schedule == "constant" and cfg.ema > 0:
            self._slowing = Slowing(copy_bytes=4 * c * h * w)
        self._recent_rejects: deque[bool] = deque(maxlen=REJECT_WINDOW)
        self._best_loss = math.inf
        self._accepted = 0
        self._suggested_shown: int | None = None
        self._best_host: np.ndarray | None = None
        budget = int(cfg.memory_budget_mb * 2**20)
        es_budget = min(256 * 2**20, budget // 4)
        self.window = WindowedVariance(cfg.es_window, c, h, w, es_budget, self.device)
        self.history = SnapshotHistory(budget - self.window.nbytes, cfg.snapshot_every)
        self._init_controls()
        self._elapsed = 0.0
        self.losses: list[float] = []

    # ---- control (any thread): request_stop, pause, resume, paused (engine/control.py) ----
    @property
    def elapsed(self) -> float:
        """Seconds spent stepping and observing (pauses excluded)."""
        return self._elapsed

    @property
    def total_steps(self) -> int:
        return self.cfg.iterations

    @property
    def ended(self) -> bool:
        """It ended by itself (its stopping rule or its step bound), not on request."""
        return self.stopped_early or self.step >= self.cfg.iterations

    def extend(self, n: int) -> None:
        self.cfg.iterations += int(n)

    @property
    def suggested(self) -> tuple[int, float] | None:
        """The stopping rule's best iterate so far: (step, score), or None."""
        b = self.tracker.best
        return None if b is None else (b[0], b[1])

    @property
    def suggested_kind(self) -> str | None:
        """Which image the best iterate is: 'output' or 'ema'."""
        return None if self.tracker.best is None else self.tracker.best[2]

    @property
    def failed_to_fit(self) -> bool:
        """True when no accepted step fitted the data better than a flat image of its mean
        colour: a diverged or hopeless run, whatever it wrote (e.g. a learning rate of 10)."""
        if self._best_loss < self._flat_loss:
            return False
        # a short run is judged once its rule ended it (LR 10: no held-out score beats step 1's)
        # or half its steps were rejected (LR 1e30: NaN every other step, garbage in between)
        return self._accepted >= 20 or self.stopped_early or (self.step >= 2 and 2 * self.backtracks >= self.step)

    # ---- results -----------------------------------------------------------------------
    def result(self, pick: str = "last", raw: bool = False) -> np.ndarray:
        """The ``pick`` ('last', 'ema' or 'auto': the rule's best) as the user sees it, or with
        ``raw`` the network's own output (inpainting: known pixels not pasted back)."""
        if self._out is None:
            raise ImageError("the run has not produced an output yet")
        if pick == "auto" and self._best is not None:
            t = self._best
        elif (pick == "ema" or (pick == "auto" and self.change is not None)) and self._ema is not None:
            t = self._ema
        else:
            t = self._out
        return _to_numpy(t if raw else self.task.finalize(t))

    def coarse(self) -> np.ndarray | None:
        """The raw network output (x_c for enhancement)."""
        return None if self._out is None else _to_numpy(self._out)

    def degraded(self) -> np.ndarray:
        return self._degraded

    def suggested_image(self) -> np.ndarray | None:
        return self._best_host

    def weights(self) -> dict[str, torch.Tensor]:
        """The network's weights and BatchNorm buffers, as host copies (a warm start's seed)."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()}

    def close(self) -> None:
        """Free device memory (the app calls it when a run is discarded)."""
        for name in ("net", "z", "opt", "_ema", "_out", "_best", "_ckpt", "_stage", "window", "_slowing"):
            setattr(self, name, None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ---- the loop ----------------------------------------------------------------------
    def steps(self):
        """Yield a StepRecord per step until ``cfg.iterations`` or a stop request."""
        self._stop.clear()
        h, w, _ = self.out_shape
        began = self.step
        self.stop_reason = None
        self.stopped_early = False
        auto = self.cfg.stop == "auto"
        try:
            while self.step < self.cfg.iterations and not self._stop.is_set():
                if not self._running.is_set():
                    self._running.wait()
                    if self._stop.is_set():
                        break
                t0 = time.perf_counter()
                try:
                    with kernel_autotune(self.device):
                        rec = self._one_step()
                    if auto and self.rule_stops(began):
                        self._stop.set()
                    last = self.step >= self.cfg.iterations or self._stop.is_set()
                    rec.final = last
                    if last and self.stop_reason is None and self.step >= self.cfg.iterations:
                        self.reach_bound()   # said with the final record, which its consumer reads
                    self.observe(rec, force_preview=last)
                except Exception as exc:
                    if is_oom(exc):
                        raise oom_error(self.device, (h, w), self.param_count) from None
                    raise
                rec.elapsed = self.add_elapsed(time.perf_counter() - t0)
                yield rec
        finally:  # also when the consumer closes the generator (the app's Stop)
            if self.stop_reason is None:
                self.stop_reason = ("stopped on request" if self.step < self.cfg.iterations
                                    else f"reached the step limit ({self.cfg.iterations})")

    # ---- the step protocol: what a loop stepping this run's net elsewhere calls, in order
    # (engine/group.py steps N runs' nets as one grouped network and does the rest here) ----
    @property
    def crop_origin(self) -> tuple[int, int]:
        """(top, left) of the output in the net's padded frame."""
        return self._top, self._left

    @property
    def last_output_step(self) -> int:
        """The step of the output :meth:`observations` feeds to the variance window; read it
        before calling them (it is the ``prev_step`` of :meth:`account`)."""
        return self._out_step

    def add_elapsed(self, seconds: float) -> float:
        """Count ``seconds`` of stepping; returns the run's seconds so far."""
        self._elapsed += seconds
        return self._elapsed

    def rule_stops(self, began: int) -> bool:
        """The stopping rule says stop (``began``: the step this ``steps()`` call started at);
        if so the run is marked stopped early, with the rule's reason."""
        if self.change is not None:
            stop = self.change.should_stop(began)
        else:
            stop = self.tracker.should_stop(self.step, began) and not self._waiting()
            sl = self._slowing   # ... or the blocks' best has been awaited long enough (Slowing.overdue)
            if not stop and sl is not None and self._gate.crossed_at is not None \
                    and self.tracker.best is not None and sl.overdue(self.step, began):
                stop, sl.capped_at = True, self.step
            if stop:
                self._pick_by_slowing()
        if stop:
            self.stopped_early = True
            self.stop_reason = self._reason()
        return stop

    def reach_bound(self) -> None:
        """The step bound ends the run; on a camera's noise the slowing still weighs the pick."""
        self.stop_reason = f"reached the step limit ({self.cfg.iterations})"
        if self.cfg.stop == "auto" and self._slowing is not None:
            self._pick_by_slowing()
            if self._slowing.picked is not None:
                self.stop_reason += "; " + held_out_reason(self.tracker, self.step, gate=self._gate,
                                                           slowing=self._slowing, bound=True)

    def _waiting(self) -> bool:
        """The held-out rule would stop, but the fit has not reached the noise level yet (or,
        for held-out blocks, the level at which they start to count)."""
        if self._gate is not None and self._gate.waiting(self.step, self.tracker.gain_step):
            return True      # (at most DISCREPANCY_CAP x the score's last gain: a level never reached)
        if self._slowing is not None and self._slowing.crossed_at is None:
            return True      # the fit always slows in the end; the step bound caps the wait
        return self._disc is not None and self._disc.waiting(self.step, self.tracker.gain_step)

    def _pick_by_slowing(self) -> None:
        """The stop's pick: the kept moving average nearest the geometric mean of the blocks'
        best step and the step the fit slowed (engine/stopping.py, Slowing)."""
        best = self.tracker.best
        p = None if self._slowing is None or best is None else self._slowing.settle(best[0])
        if p is not None and p != best[0]:
            self.tracker.take(p, "ema", best[1])
            self._keep_best(self._slowing.copy(p))

    def _reason(self) -> str:
        if self.change is not None:
            return self.change.reason()
        return held_out_reason(self.tracker, self.step, self._disc, self._gate, self._slowing, self.noise_sigma)

    def _make_generator(self, seed: int) -> torch.Generator | None:
        try:
            return torch.Generator(device=self.device).manual_seed(seed)
        except RuntimeError:
            return None

    def _params_and_state(self) -> list[torch.Tensor]:
        """Weights and Adam's tensors, in a fixed order. Adam updates its tensors in place, so
        once every parameter has its moments the list is built once, not per step."""
        if self._state_list is not None:
            return self._state_list
        params = list(self.net.parameters())
        ts = [p.data for p in params]
        for p in params:
            st = self.opt.state.get(p)
            if st:
                ts.extend(v for k, v in sorted(st.items()) if torch.is_tensor(v))
        if all(self.opt.state.get(p) for p in params):
            self._state_list = ts
        return ts

    def _reset_adam(self) -> None:
        self.opt.state.clear()
        self._state_list = None

    def _one_step(self) -> StepRecord:
        z = self.jittered_input()
        h, w, _ = self.out_shape
        with forward_precision(self.bf16, self.device):
            raw = self.net(z)
        out = (raw.float() if self.bf16 else raw)[:, :, self._top:self._top + h, self._left:self._left + w]
        loss = self.task.loss(out)
        if self.cfg.lr_schedule != "constant":
            self.opt.param_groups[0]["lr"] = lr_at(self.cfg, self.step + 1, self.horizon)

        # stage the pre-step state so a rejected step can be undone after the fact
        state = self._params_and_state()
        if self._stage is None or len(self._stage) != len(state):
            self._stage = [t.detach().clone() for t in state]
        else:
            torch._foreach_copy_(self._stage, state)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

        out = out.detach()
        prev_step = self.last_output_step
        row, seen = self.observations(out, loss)
        rec, accepted = self.account(out, row.tolist(), *seen, prev_step)
        if not accepted:
            self._backtrack()
            return rec
        # accepted: the staged state (before this update) is the new restore point
        self._ckpt, self._stage = self._stage, self._ckpt
        return rec

    def jittered_input(self) -> torch.Tensor:
        """z + N(0, sigma_p^2) from the run's own generator (z itself without jitter)."""
        z = self.z
        if self.cfg.sigma_p > 0:
            noise = torch.randn(z.shape, generator=self._jitter_gen, device=self.device) \
                if self._jitter_gen is not None else torch.randn(z.shape).to(self.device)
            z = z + noise * self.cfg.sigma_p
        return z

    def observations(self, out: torch.Tensor, loss: torch.Tensor) -> tuple[torch.Tensor, tuple[bool, ...]]:
        """The step's observations as one device tensor (loss, window variance, held-out error
        of the output and of the EMA, the change watch's measure, the EMA's data term at the
        slowing's checks), so they come back in a single sync; and which of the last five are
        real. The variance window takes the previous accepted output (its acceptance is known
        now), and the EMA is scored (and watched) as it stood after that step."""
        var = None
        if self._unfed:
            var = self.window.update(self._out)
            self._unfed = False
        holdout = self.cfg.stop_rule == "holdout"
        val_out = self.task.val_error(out) if holdout else None
        val_ema = self.task.val_error(self._ema) if holdout and self._ema is not None else None
        change = self.change.measure(self.step, self._ema) if self.change is not None else None
        resid = None
        if self._slowing is not None and self._ema is not None and self._slowing.wants(self.step):
            with torch.no_grad():
                resid = self.task.loss(self._ema)
        zero = loss.detach().new_zeros(())
        seen = (var, val_out, val_ema, change, resid)
        row = torch.stack([loss.detach().float()] + [zero if v is None else v.float() for v in seen])
        return row, tuple(v is not None for v in seen)

    def account(self, out: torch.Tensor, vals: list[float], has_var: bool, has_vo: bool, has_ve: bool,
                 has_change: bool, has_resid: bool, prev_step: int) -> tuple[StepRecord, bool]:
        """Everything a step changes once its scalars are on the host: the record, the
        stopping rule's candidates, acceptance, EMA, the discrepancy wait. False when the
        step is rejected (the caller restores the pre-step state: ``_backtrack`` here, the
        member's slices in engine/group.py)."""
        loss_v, var_v, vo, ve, change, resid_v = vals
        if has_change:   # measured on the average after the previous step
            self.change.feed(self.step, change)
        if has_resid:    # likewise
            self._slowing.feed(self.step, resid_v)
        self.step += 1
        self.losses.append(loss_v)
        rec = StepRecord(self.step, loss_v)
        if has_change and self.change.last is not None:
            rec.change = self.change.last[1]
        if has_var:
            rec.variance = var_v
            if self.cfg.stop_rule == "variance" and self.task.has_best \
                    and self.tracker.offer(prev_step, "output", var_v):
                self._keep_best(self._out)
        if has_ve:
            rec.val = {"ema": ve}
            if self.tracker.offer(prev_step, "ema", ve):
                self._keep_best(self._ema)

        accepted = self._acceptable(loss_v)
        self._recent_rejects.append(not accepted)
        if not accepted:
            rec.suggested = self.suggested
            rec.backtracked = True
            self.backtracks += 1
            self._consecutive_bt += 1
            return rec, False
        if has_vo:
            rec.val = {**(rec.val or {}), "output": vo}
            # raw outputs jump about from step to step (jitter, Adam): the minimum over them is
            # a lucky draw more often than a better image, so they compete only without an EMA
            if self._ema is None and self.cfg.ema == 0 and self.tracker.offer(self.step, "output", vo):
                self._keep_best(out)
        rec.suggested = self.suggested
        self._last_good_loss = loss_v
        self._consecutive_bt = 0
        self._accepted += 1
        self._best_loss = min(self._best_loss, loss_v)
        if self.cfg.ema > 0:
            if self._ema is None:
                self._ema = out.clone()
            else:
                # warm-up k: the random net's first outputs weigh (s / t)^k, not 0.99^t (issue 20)
                k = self.cfg.ema_warmup
                self._ema.lerp_(out, max(1.0 - self.cfg.ema, k / (self.step + k)))
        if self._gate is not None and self._gate.feed(self.step, loss_v):
            self.tracker.restart()    # what scored best while the picture was still forming does not count
        if self._slowing is not None and self._gate.crossed_at is not None and self._slowing.wants(self.step):
            self._slowing.keep_copy(self.step, self._ema)
        if self._disc is not None and self._disc.feed(self.step, loss_v) and self._ema is not None:
            best = self.tracker.best
            if best is None or best[0] < self.step:   # the later of the two picks
                self.tracker.take(self.step, "ema", ve)
                self._keep_best(self._ema)
                rec.suggested = self.suggested
        if self._out is None:
            self._out = out.clone()
        else:
            self._out.copy_(out)
        self._out_step = self.step
        self._unfed = True
        return rec, True

    def _keep_best(self, t: torch.Tensor) -> None:
        if self._best is None:
            self._best = t.clone()
        else:
            self._best.copy_(t)

    def _acceptable(self, loss_v: float) -> bool:
        if not math.isfinite(loss_v):
            return False
        if self.cfg.backtrack_db is None or self._last_good_loss is None or self._last_good_loss <= 0:
            return True   # a jump in dB needs a positive loss (activation maximisation's is negative)
        return loss_v <= self._last_good_loss * 10 ** (self.cfg.backtrack_db / 10)

    def _backtrack(self) -> None:
        """Back to the last accepted step (weights and Adam's state); Diverged when rejections
        persist."""
        if self._ckpt is not None:
            state = self._params_and_state()
            if len(state) == len(self._ckpt):
                torch._foreach_copy_(state, self._ckpt)
            else:  # Adam had no state yet at the checkpoint: weights only, fresh moments
                for p, c in zip(self.net.parameters(), self._ckpt):
                    p.data.copy_(c)
                self._reset_adam()
        elif self._stage is not None:
            for p, c in zip(self.net.parameters(), self._stage):
                p.data.copy_(c)
            self._reset_adam()
        err = self.divergence()
        if err is not None:
            raise err

    def divergence(self) -> Diverged | None:
        """Diverged when 20 steps in a row, or more than half of the last 50, were rejected."""
        rejected = sum(self._recent_rejects)
        if self._consecutive_bt >= MAX_CONSECUTIVE_BACKTRACKS or (
                len(self._recent_rejects) == REJECT_WINDOW and rejected > REJECT_WINDOW // 2):
            return Diverged(f"the optimisation diverged ({rejected} of the last {len(self._recent_rejects)} "
                            f"steps rejected at step {self.step}); lower the learning rate or use another preset")
        return None

    def observe(self, rec: StepRecord, force_preview: bool) -> None:
        """Previews, metrics and snapshots: host copies only at their cadence."""
        if rec.final:
            rec.suggested = self.suggested   # the stop itself may have moved the pick (Slowing)
        if self._out is None:
            return
        cfg = self.cfg
        want_preview = force_preview or rec.step % cfg.preview_every == 0
        want_snap = self.history.wants(rec.step) or force_preview
        if not (want_preview or want_snap) or (rec.backtracked and not force_preview):
            return
        out = _to_numpy(self.task.finalize(self._out))
        ema = None if self._ema is None else _to_numpy(self.task.finalize(self._ema))
        if want_preview:
            rec.preview, rec.preview_ema = out, ema
            if self._scores is not None:
                rec.psnr, rec.ssim = self._scores.scores(out, ema)
            if self.suggested is not None and self.suggested[0] != self._suggested_shown:
                self._suggested_shown = self.suggested[0]
                self._best_host = _to_numpy(self.task.finalize(self._best))
                if self.suggested[0] not in self.history.steps:  # keep a full snapshot's EMA
                    self.history.add(self.suggested[0], self._best_host, None,
                                     self.losses[self.suggested[0] - 1], pinned=True)
                self.history.pin_only(self.suggested[0])
        if want_snap:
            self.history.add(rec.step, out, ema, rec.loss)
            rec.snapshot = True
