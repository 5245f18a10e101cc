"""The run on screen as plain data (no Qt): its settings, where the canvas and the plots
stand, its raw curves, the checks before it starts, the words for how it went, and its
entry in the document's run list.

The rooms that show a run (app/run_view.py, app/tile_view.py) keep their widgets in step
with one :class:`RunSession`; recording and exporting read the curves from here, never back
out of a plot (which floors the loss for its log axis).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from engine.config import RunConfig
from engine.durations import format_clock
from engine.stopping import change_lookback
from engine.tiling import LONG_PLAN_S, Plan

from .curves import RunCurves
from .document import Document
from .job_plan import problem_words
from .runs import RunRecord


# ---------------------------------------------------------------------- before a run
def input_refusal(doc: Document, cfg: RunConfig) -> tuple[str, str] | None:
    """(title, message) when the document lacks what ``cfg``'s task needs; None: it may run."""
    if cfg.task == "inpaint" and doc.mask.known.all():
        return "Nothing to fill", "Paint over the pixels to fill (or File > Open mask) first."
    if cfg.task == "flash" and doc.guide is None:
        return "Flash photo needed", "Flash / no-flash needs the flash photo: File > Open flash photo."
    return None


def plan_refusal(plan: Plan | None) -> tuple[str, str] | None:
    if plan is not None and plan.problem:
        return "Cannot run here", f"{problem_words(plan.problem)}."
    return None


def long_plan_question(plan: Plan | None) -> str | None:
    """The question to ask before a plan over an hour; None: no need to ask."""
    if plan is not None and plan.seconds > LONG_PLAN_S:
        return (f"{plan.describe()}.\n\nStart it? (a region or a downscaled copy is faster: see the "
                "choices under the settings)")
    return None


# ---------------------------------------------------------------------- words while it runs
def progress_text(step: int, total: int, rate: float, paused: bool) -> str:
    text = f"step {step} of {total}"
    if rate > 0:
        text += f" \u00b7 {rate:.2f} steps/s \u00b7 ETA {format_clock((total - step) / rate)}"
    if paused:
        text += " \u00b7 paused"
    return text


def suggested_words(step: int, score: float, kind: str, stop_rule: str) -> tuple[str, str]:
    """(label on the plots' marker, its tooltip) for the stopping rule's best so far."""
    what = "held-out pixel error" if stop_rule == "holdout" else "window variance"
    img = "moving average" if kind == "ema" else "output"
    return (f"best @{step} ({'avg' if kind == 'ema' else 'out'})",
            f"The stopping rule's best iterate so far: step {step}, the {img} ({what} {score:.3g})")


def change_words(cfg: RunConfig, step: int, db: float) -> str:
    """How much the picture still moves over the change rule's look-back, against where the
    run stops, so a user sees the stop coming."""
    moved, limit = 100 * 10 ** (-db / 20), 100 * 10 ** (-cfg.change_db / 20)
    what = "The filled area" if cfg.task == "inpaint" else "The image"
    text = f"{what} still changes {moved:.2g} % per {change_lookback(cfg.change_steps)} steps (step {step})"
    if cfg.stop == "auto":
        text += f"; the run stops once that is under {limit:.2g} %"
    return text


def result_words(pick: str, kind: str | None, step: int, averaged: int) -> str:
    if pick == "auto":
        what = "the best iterate" + (" (moving average)" if kind == "ema" else " (output)" if kind else "")
    else:
        what = {"ema": "the EMA", "last": "the last output"}.get(pick, pick)
    what = f"{what} at step {step}"
    if averaged > 1:
        what = f"the mean of {averaged} seeds' picks ({what} for the seed shown)"
    return what


@dataclass
class Ending:
    """How a run (not a tiled job) ended, in words: the status line, the progress bar."""

    how: str            # "rule" | "limit" | "request"
    text: str
    bar: str
    reason: str         # the engine's line ("" when stopped on request)


def ending(reason: str, step: int, total: int | None, info: dict) -> Ending:
    how = info.get("how", "limit" if reason == "done" else "request")
    best = info.get("suggested")
    kind = "moving average" if info.get("kind") == "ema" else "output"
    if how == "rule" and best is not None:
        text = f"Stopped at the best iterate (step {best[0]}, {kind}): {info.get('reason', '')}"
        bar = f"stopped by itself at step {step}: best at {best[0]}"
    elif how == "rule":   # the visible-change rule: no best iterate, the picture settled
        text = f"Stopped by itself at step {step}: {info.get('reason', '')}"
        bar = f"stopped by itself at step {step}"
    elif reason == "done":
        text = f"Done: {step} steps"
        if best is not None:
            text += f"; best iterate at step {best[0]} ({kind})"
        bar = f"done: {step} steps"
    else:
        text = f"Stopped at step {step}"
        bar = f"stopped at step {step} of {total if total is not None else step}"
    if info.get("seeds", 1) > 1:
        text += f" The result is the mean of {info['seeds']} seeds."
    return Ending(how, text, bar, info.get("reason", "") if how != "request" else "")


NO_FIT_TITLE = "The run did not fit the image"


def no_fit_words(step: int) -> str:
    return (f"In {step} steps the network never matched the image better than a flat colour, so its "
            "output is not a restoration (this happens when the learning rate is far too high). Lower "
            "the learning rate under Advanced, or choose a preset again, and run again.")


# ---------------------------------------------------------------------- the session
class RunSession:
    """The state of the run on screen, shared by the rooms that show it."""

    def __init__(self) -> None:
        self.curves = RunCurves()                    # the run's own curves, raw
        self.split_position = 0.5                    # where the canvas's split line sits
        self.cfg: RunConfig | None = None            # the config of the run on screen
        self.record_id: int | None = None            # its entry in doc.runs once it has ended
        self.live: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self.images: tuple[int, dict] | None = None  # the worker's QImages of the newest frame
        self.shown_step: int | None = None           # a snapshot on the canvas (None: live)
        self.averaged = 1                            # seeds in the coming result (app/seed_worker.py)
        self.run_input: np.ndarray | None = None     # the input of the run (for compare)
        self.showing_result = False                  # the canvas shows an output, not the input
        self.compare_key: tuple | None = None        # what the canvas compares against now
        self.after_stop: Callable[[], Any] | None = None   # what to do once the stopping run has ended
        # the run list entry whose curve the Progress plots show, when it is not the run on
        # screen (a shown older run, a reopened project); None: the plots follow the run
        self.plotted: int | None = None
        self.tiled = False                           # the run on screen is a tiled job

    def reset(self) -> None:
        """Nothing of a run is on screen (a new work image)."""
        self._forget_run()
        self.compare_key = None

    def begin(self, cfg: RunConfig, image: np.ndarray) -> RunConfig:
        """A new run of ``cfg`` on ``image``; returns the config the worker runs. What the canvas
        compares against stays (the same image)."""
        if cfg.stop == "auto":
            # stopping at the best iterate means presenting it: the rule's pick, whatever
            # the preset writes on the command line (the user can still pick another)
            cfg = cfg.replace(pick="auto")
        self._forget_run()
        self.cfg = cfg
        self.run_input = image
        return cfg

    def _forget_run(self) -> None:
        self.cfg = None
        self.record_id = None
        self.live = self.images = None
        self.shown_step = None
        self.run_input = None
        self.showing_result = False
        self.plotted = None
        self.tiled = False
        self.curves.clear()

    def ready_image(self, step: int, key: str):
        """The worker's QImage of ``key`` at ``step``, or None (then the canvas converts)."""
        if self.images is None or self.images[0] != step:
            return None
        return self.images[1].get(key)

    def curves_shown(self, doc: Document) -> RunCurves:
        """The curves the Progress plots show: another run's record's, or this run's."""
        rec = doc.runs.get(self.plotted) if self.plotted is not None else None
        return RunCurves.of_record(rec) if rec is not None else self.curves

    # ------------------------------------------------------------------ the run list
    def record(self, doc: Document, run, summary: dict | None, how: str, reason: str) -> RunRecord | None:
        """The run that just ended (or was continued) as an entry of doc.runs."""
        if run is None or self.cfg is None:
            return None
        summary = summary or {}
        res = doc.result if doc.result is not None and doc.result.run_id in (None, self.record_id) else None
        rec = doc.runs.get(self.record_id) if self.record_id is not None else None
        fresh = rec is None
        if fresh:
            rec = RunRecord(id=0, config=self.cfg.to_dict())
        if res is not None:   # else (another run's result is on screen) the entry keeps its pick
            rec.result, rec.result_step, rec.result_what = res.array, res.step, res.what
            if not res.user_pick:   # a user's pick keeps the kind use_iterate gave it
                rec.result_kind = getattr(run, "suggested_kind", None) or ("tiles" if self.tiled else "")
        # a tiled job: the steps of all its units (it has no single step)
        rec.steps = int(summary.get("step", 0)) if self.tiled else int(run.step)
        rec.stop_how = how
        rec.stop_reason = reason
        rec.stop_where = str(summary.get("where", "")) if self.tiled else ""
        # with seeds averaged: the watched run and the phase after it (app/seed_worker.py)
        rec.seconds = float(run.elapsed) + float(summary.get("seeds_seconds", 0.0))
        rec.psnr = doc.psnr_of(rec.result, rec.config)
        rec.curve_steps, rec.curve_loss = self.curves.loss_data()
        rec.curve_psnr = {k: v for k, v in self.curves.psnr_data().items() if len(v[0])}
        if fresh:
            doc.runs.add(rec)
            self.record_id = rec.id
        else:
            doc.runs.replace(rec)
        if res is not None:
            res.run_id = rec.id
        return rec

    def keep_pick(self, doc: Document, step: int, kind: str) -> None:
        """The run's entry holds the iterate the user settled on (doc.result already is it)."""
        rec = doc.runs.get(self.record_id) if self.record_id is not None else None
        if rec is not None:
            rec.result, rec.result_step = doc.result.array, step
            rec.result_kind, rec.result_what = kind, doc.result.what
            rec.psnr = doc.psnr_of(rec.result, rec.config)
            doc.runs.replace(rec)

    def why_no_continue(self, doc: Document, can_continue: bool, active: bool) -> str | None:
        """Why Continue is off for the stopped run on screen, when it is one that no live run
        stands behind (reopened from a project): its result came back, its networks did not."""
        res = doc.result
        if can_continue or active or res is None or res.run_id is None:
            return None
        rec = doc.runs.get(res.run_id)
        if rec is None or rec.stop_how != "request" or rec.id == self.record_id:
            return None
        where = f" in {rec.stop_where}" if rec.stop_where else f" at step {rec.steps}"
        return (f"{rec.label} was stopped{where}. A project keeps a run's result, not its networks, so it "
                f"cannot go on from there: Run restores it again (Save writes what it has)")
