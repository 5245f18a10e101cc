"""The run as the user watches it: starting, pausing, stopping and continuing; the
controller's signals turned into the canvas, the curves, the progress bar and the result;
scrubbing the snapshots afterwards; and each finished run recorded in the document's run
list (so it can be shown, compared, averaged or run again with another seed).

It works on the window's widgets and the :class:`~app.document.Document`; the window only
builds the widgets and forwards its entry points here.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from engine.config import RunConfig
from engine.errors import ConfigError, DIPError
from engine.tiling import LONG_PLAN_S

from .job_plan import problem_words
from .runs import RunRecord, average_record
from .seed_worker import FINAL as SEEDS_FINAL, seeds_text
from .tile_view import TileView

if TYPE_CHECKING:
    from .main_window import MainWindow

PROGRESS_MS = 300        # the progress bar's refresh period while a run streams


def format_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class RunView(QObject):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = window
        self.doc = window.doc
        self.controller = window.controller
        self.cfg: RunConfig | None = None            # the config of the run on screen
        self.record_id: int | None = None            # its entry in doc.runs once it has ended
        self.live: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self.images: tuple[int, dict] | None = None  # the worker's QImages of the newest frame
        self.shown_step: int | None = None           # a snapshot on the canvas (None: live)
        self.averaged = 1                            # seeds in the coming result (app/seed_worker.py)
        self.run_input: np.ndarray | None = None     # the input of the run (for compare)
        self.showing_result = False                  # the canvas shows an output, not the input
        self.compare_key: tuple | None = None        # what the canvas compares against now
        self.after_stop = None                       # what to do once the stopping run has ended
        # the run list entry whose curve the Progress plots show, when it is not the run on
        # screen (a shown older run, a reopened project); None: the plots follow the run
        self.plotted: int | None = None
        self._pending_progress: tuple[int, int, float] | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.tiles = TileView(window, self)          # a photo in tiles or crops (app/tile_view.py)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.losses.connect(window.plots.append_losses)
        c.display.connect(self._on_display_images)
        c.preview.connect(self._on_preview)
        c.psnr.connect(self._on_psnr)
        c.suggested.connect(self._on_suggested)
        c.progress.connect(self._on_progress)
        c.change.connect(self._on_change)
        c.seeds.connect(self._on_seeds)
        c.snapshot.connect(self._on_snapshot)
        c.result.connect(self._on_result)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        window.timeline.stepChosen.connect(self.show_snapshot)
        window.timeline.useRequested.connect(self.use_iterate)
        window.plots.stepClicked.connect(self.show_snapshot)

    # ------------------------------------------------------------------ resetting
    def reset(self) -> None:
        """A new work image: nothing of the last run is on screen any more."""
        self.controller.discard()
        self.cfg = None
        self.record_id = None
        self.live = self.images = None
        self.shown_step = None
        self.run_input = None
        self.showing_result = False
        self.compare_key = None
        self.plotted = None
        self.tiles.clear()
        self._clear_progress("idle", self.doc.reference() is not None, None)
        self.w.canvas.set_overlay_style("fill")
        self.apply_compare()

    def _clear_progress(self, text: str, reference_known: bool, total: int | None) -> None:
        """Empty curves, timeline and progress bar (``total``: the run's step bound)."""
        w = self.w
        w.plots.reset(reference_known=reference_known, total=total)
        w.timeline.clear()
        if total is not None:
            w.timeline.set_total(total)
        w.timeline.set_scrubbing_enabled(False)
        self._pending_progress = None
        self._progress_timer.stop()
        w.progress_bar.setRange(0, total or 1)
        w.progress_bar.setValue(0)
        w.progress_bar.setFormat(text)
        w.progress_label.setText("")

    # ------------------------------------------------------------------ control
    def start(self, cfg: RunConfig | None = None) -> bool:
        w, doc = self.w, self.doc
        if doc.image is None or self.controller.active:
            return False
        try:
            cfg = cfg or w.panel.config()
        except ConfigError as e:
            w.error("Settings", str(e))
            return False
        mask = guide = None
        if cfg.task == "inpaint":
            mask = doc.mask.known
            if mask.all():
                w.error("Nothing to fill", "Paint over the pixels to fill (or File > Open mask) first.")
                return False
        if cfg.task == "flash":
            if doc.guide is None:
                w.error("Flash photo needed", "Flash / no-flash needs the flash photo: File > Open flash photo.")
                return False
            guide = doc.guide
        try:
            plan = w.panel.plan(cfg)   # cached: the plan the panel shows
        except DIPError as e:
            w.error("Settings", str(e))
            return False
        if plan is not None and plan.problem:
            w.error("Cannot run here", f"{problem_words(plan.problem)}.")
            return False
        if plan is not None and plan.seconds > LONG_PLAN_S and w.ask(
                "A long run", f"{plan.describe()}.\n\nStart it? (a region or a downscaled copy is "
                "faster: see the choices under the settings)") != QMessageBox.Yes:
            return False
        if not doc.result_in_runs() and not w.confirm_discard_result("starting a new run"):
            return False
        if cfg.stop == "auto":
            # stopping at the best iterate means presenting it: the rule's pick, whatever
            # the preset writes on the command line (the user can still pick another)
            cfg = cfg.replace(pick="auto")
        reference = doc.reference_for(cfg.task, cfg.scale)
        doc.clear_result()
        self.live = self.images = None
        self.shown_step = None
        self.cfg = cfg
        self.record_id = None
        self.plotted = None
        self.run_input = doc.image
        self.showing_result = False
        w.canvas.set_display(None)
        w.canvas.set_overlay_style("outline")
        self.apply_compare()
        self.tiles.clear()
        self._clear_progress("building the network...", reference is not None, cfg.iterations)
        if plan is not None and plan.tiled:
            self.tiles.begin(plan)
            self.controller.start_tiled(self._within_budget(cfg), plan, doc.image, mask, guide, reference)
        else:
            self.controller.start(self._within_budget(cfg), doc.image, mask, guide, reference)
        w.refresh()
        return True

    def _within_budget(self, cfg: RunConfig) -> RunConfig:
        """The run's snapshots get the memory budget less what the kept runs hold
        (Document.fit_runs); the run list records the user's config, not this one."""
        held = self.doc.fit_runs(cfg.memory_budget_mb)
        return cfg.replace(memory_budget_mb=max(1, cfg.memory_budget_mb - held)) if held else cfg

    def run_again(self, run_id: int) -> bool:
        """The same settings as run ``run_id`` with a seed no run of this image used."""
        rec = self.doc.runs.get(run_id)
        if rec is None or self.controller.active:
            return False
        try:
            cfg = RunConfig.from_dict(rec.config)
        except DIPError as e:
            self.w.error("Cannot run again", str(e))
            return False
        used = {r.seed for r in self.doc.runs}
        # short seeds read well in the run list; any unused one will do
        seed = random.Random().randrange(1, 10_000)
        while seed in used:
            seed += 1
        cfg = cfg.replace(seed=seed)
        self.w.panel.set_config(cfg)
        return self.start(cfg)

    def toggle_pause(self) -> None:
        st = self.controller.state
        if st == "paused":
            self.controller.resume()
            self.w.statusBar().showMessage("Resumed", 3000)
        elif st in ("running", "building"):
            self.controller.pause()
            if self.tiles.active:
                self.tiles.show_progress()   # "tile 3/48 · step 120/300 · paused"
            else:
                self.w.progress_bar.setFormat("paused at step %v of %m")
            self.w.statusBar().showMessage("Paused (F6 resumes)")

    def stop(self) -> None:
        if self.controller.state in ("building", "running", "paused"):
            self.controller.stop()
            self.w.progress_bar.setFormat("stopping...")

    def continue_run(self, steps: int | None = None) -> bool:
        if not self.controller.can_continue:
            return False
        w = self.w
        if self.plotted is not None:   # another run's curve is on screen: this run's comes back
            rec = self.doc.runs.get(self.record_id) if self.record_id is not None else None
            if rec is not None:
                self.w.plots.show_record(rec)
            self.plotted = None
        self.controller.continue_run(int(steps or w.continue_spin.value()))
        if self.controller.tiled:   # the rest of the plan's units: no step bound to extend
            self.tiles.on_continue()
            w.refresh()
            return True
        run = self.controller.run
        self.shown_step = None
        w.plots.set_shown(None)
        w.timeline.set_follow(True)
        w.timeline.set_scrubbing_enabled(False)
        w.timeline.set_total(run.total_steps)
        w.plots.set_total(run.total_steps)
        w.progress_bar.setRange(0, run.total_steps)
        w.refresh()
        return True

    def stop_then(self, what: str, fn) -> None:
        """Stop the run and call ``fn`` once it has ended; never waits on this thread."""
        if not self.controller.active:   # it ended while the question was open
            QTimer.singleShot(0, fn)
            return
        self.after_stop = fn
        if self.controller.state in ("building", "running", "paused"):
            self.controller.stop()
        self.w.progress_bar.setFormat("stopping...")
        self.w.statusBar().showMessage(f"Stopping the run; {what} when the step in flight ends")

    def _run_after_stop(self) -> None:
        fn, self.after_stop = self.after_stop, None
        if fn is not None:
            QTimer.singleShot(0, fn)

    # ------------------------------------------------------------------ controller signals
    def _on_ready(self, info: dict) -> None:
        self.averaged = 1
        if info.get("tiled"):
            self.tiles.on_ready(info)
            return
        w = self.w
        w.device_label.setText(info["device"])
        w.progress_bar.setFormat("step %v of %m")
        w.statusBar().showMessage(f"Network: {info['params']:,} parameters on {info['device']}", 5000)
        oh, ow = info["out_shape"][:2]
        if self.doc.image is not None and (oh, ow) != self.doc.image.shape[:2]:
            w.statusBar().showMessage(f"The result will be {ow} x {oh}", 5000)

    def _on_display_images(self, step: int, images: dict) -> None:
        self.images = (step, images)

    def _ready_image(self, step: int, key: str):
        """The worker's QImage of ``key`` at ``step``, or None (then the canvas converts)."""
        if self.images is None or self.images[0] != step:
            return None
        return self.images[1].get(key)

    def _on_preview(self, step: int, output: np.ndarray, ema) -> None:
        self.live = (step, output, ema)
        if self.shown_step is None:
            self.display(output, ema, step)

    def _on_psnr(self, step: int, values: dict) -> None:
        self.w.plots.add_psnr(step, values)
        parts = [f"{k} {v:.2f} dB" for k, v in values.items() if v is not None and np.isfinite(v)]
        self.w.progress_label.setText("PSNR: " + ", ".join(parts))

    def _on_suggested(self, step: int, score: float, kind: str) -> None:
        rule = self.cfg.stop_rule if self.cfg is not None else "holdout"
        what = "held-out pixel error" if rule == "holdout" else "window variance"
        img = "moving average" if kind == "ema" else "output"
        self.w.plots.set_suggested(step, f"best @{step} ({'avg' if kind == 'ema' else 'out'})",
                                   f"The stopping rule's best iterate so far: step {step}, the {img} "
                                   f"({what} {score:.3g})")

    def _on_progress(self, step: int, total: int, rate: float) -> None:
        # QProgressBar.setValue repaints synchronously (holding the GIL the worker needs):
        # show the newest values a few times per second, not on every batch
        self._pending_progress = (step, total, rate)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _on_change(self, step: int, db: float) -> None:
        """The change rule's last measure in the status bar, so a user sees the stop coming: how
        much the picture still moves over the look-back, against where the run stops."""
        cfg = self.cfg
        if cfg is None or cfg.stop_rule != "change" or self.controller.state != "running":
            return
        moved, limit = 100 * 10 ** (-db / 20), 100 * 10 ** (-cfg.change_db / 20)
        what = "The filled area" if cfg.task == "inpaint" else "The image"
        text = f"{what} still changes {moved:.2g} % per {cfg.change_steps} steps (step {step})"
        if cfg.stop == "auto":
            text += f"; the run stops once that is under {limit:.2g} %"
        self.w.statusBar().showMessage(text)

    def _on_seeds(self, done: int, total: int, step: int) -> None:
        """The watched run ended and the other seeds run (app/seed_worker.py); the last signal
        says how many picks the coming result averages."""
        if step == SEEDS_FINAL:
            self.averaged = done
            return
        self.w.statusBar().showMessage(seeds_text(done, total, step))
        bar = self.w.progress_bar
        bar.setRange(0, total)
        bar.setValue(done)
        bar.setFormat(f"averaging seeds: {done} of {total} done")

    def _show_progress(self) -> None:
        self._progress_timer.stop()
        if self._pending_progress is None:
            return
        step, total, rate = self._pending_progress
        self._pending_progress = None
        bar = self.w.progress_bar
        bar.setRange(0, total)
        bar.setValue(step)
        text = f"step {step} of {total}"
        if rate > 0:
            text += f" \u00b7 {rate:.2f} steps/s \u00b7 ETA {format_eta((total - step) / rate)}"
        if self.controller.state == "paused":
            text += " \u00b7 paused"
        bar.setFormat(text)

    def _on_snapshot(self, _step: int) -> None:
        hist = self.controller.history
        if hist is not None:
            run = self.controller.run
            self.w.timeline.set_steps(hist.steps, run.total_steps if run is not None else None)

    def _on_result(self, step: int, array: np.ndarray) -> None:
        if self.tiles.active:
            self.tiles.on_result(step, array)
            return
        doc, w = self.doc, self.w
        if doc.result is not None and doc.result.user_pick and doc.result.run_id == self.record_id:
            # the user's own pick in this run wins over the rule's (e.g. after Continue)
            w.statusBar().showMessage(f"Kept your chosen iterate (step {doc.result.step}); "
                                      f"the rule's best is step {step}", 8000)
            return
        pick = self.cfg.pick if self.cfg else "last"
        kind = None
        if pick == "auto":
            run = self.controller.run
            kind = run.suggested_kind if run is not None else None
            what = "the best iterate" + (" (moving average)" if kind == "ema" else " (output)" if kind else "")
        else:
            what = {"ema": "the EMA", "last": "the last output"}.get(pick, pick)
        what = f"{what} at step {step}"
        if self.averaged > 1:
            what = f"the mean of {self.averaged} seeds' picks ({what} for the seed shown)"
        doc.set_result(array, step, what, run_id=self.record_id)
        if pick == "auto":
            ema = w.act_show_ema
            if kind in ("ema", "output") and ema.isChecked() != (kind == "ema"):
                # the toggle says what the canvas shows: the rule's image (scrubbing keeps it)
                was = ema.blockSignals(True)
                ema.setChecked(kind == "ema")
                ema.blockSignals(was)
                self.controller.set_show_ema(kind == "ema")
            self._show_result_image(array, step)

    def _show_result_image(self, array: np.ndarray, step: int) -> None:
        """Put the result itself on the canvas (the rule's best is not the last preview)."""
        w = self.w
        ready = self._ready_image(step, "result")
        w.canvas.set_display(ready if ready is not None else array)
        self._showing()
        hist = self.controller.history
        if hist is not None and step in hist.steps:
            self.shown_step = step
            w.plots.set_shown(step)
            w.timeline.set_steps(hist.steps)
            w.timeline.set_current(step)
            w.timeline.set_follow(False)

    def _on_finished(self, reason: str) -> None:
        w = self.w
        if self.tiles.active:
            info = self.controller.last_summary or {}
            how = info.get("how", "request")
            w.statusBar().showMessage(self.tiles.on_finished(reason, info), 20000)
            self._enter_review()
            self._record(how, info.get("reason", "") if how != "request" else "stopped on request")
            w.show_result_text(info.get("reason", "") if how != "request" else "")
            self._run_after_stop()
            return
        self._show_progress()
        run = self.controller.run
        step = run.step if run is not None else 0
        info = self.controller.last_summary or {}
        how = info.get("how", "limit" if reason == "done" else "request")
        best = info.get("suggested")
        kind = "moving average" if info.get("kind") == "ema" else "output"
        bar = w.progress_bar
        if how == "rule" and best is not None:
            text = f"Stopped at the best iterate (step {best[0]}, {kind}): {info.get('reason', '')}"
            bar.setFormat(f"stopped by itself at step {step}: best at {best[0]}")
        elif how == "rule":   # the visible-change rule: no best iterate, the picture settled
            text = f"Stopped by itself at step {step}: {info.get('reason', '')}"
            bar.setFormat(f"stopped by itself at step {step}")
        elif reason == "done":
            text = f"Done: {step} steps"
            if best is not None:
                text += f"; best iterate at step {best[0]} ({kind})"
            bar.setFormat(f"done: {step} steps")
        else:
            text = f"Stopped at step {step}"
            bar.setFormat(f"stopped at step {step} of {run.total_steps if run else step}")
        if info.get("seeds", 1) > 1:
            text += f" The result is the mean of {info['seeds']} seeds."
        if how != "request":
            bar.setRange(0, max(step, 1))
            bar.setValue(step)
        # the rule's reason stays until the next message (it explains the result)
        w.statusBar().showMessage(text, 0 if how == "rule" else 20000)
        w.plots.set_stop_reason(info.get("reason") if how != "request" else None)
        self._enter_review()
        if info.get("failed_to_fit"):
            self._report_no_fit(step)
        else:
            self._record(how, info.get("reason", "") if how != "request" else "stopped on request")
            w.show_result_text(info["reason"] if how == "rule" and not self._user_picked() else "")
        self._run_after_stop()

    def _user_picked(self) -> bool:
        return self.doc.result is not None and self.doc.result.user_pick

    def _report_no_fit(self, step: int) -> None:
        """The run never fitted better than a flat image: say so; its output is no result."""
        self.doc.clear_result()
        self.w.result_label.setText("No result: the run did not fit the image")
        self.w.progress_bar.setFormat(f"failed to fit ({step} steps)")
        self.w.error("The run did not fit the image",
                     f"In {step} steps the network never matched the image better than a flat colour, "
                     "so its output is not a restoration (this happens when the learning rate is far "
                     "too high). Lower the learning rate under Advanced, or choose a preset again, "
                     "and run again.")

    def _on_failed(self, message: str) -> None:
        self._show_progress()
        self.w.progress_bar.setFormat("failed")
        self._enter_review()
        self.w.error("The run failed", message)
        self._run_after_stop()

    def _enter_review(self) -> None:
        """After a run: the curves show every step, the timeline scrubs the kept snapshots."""
        w = self.w
        w.plots.flush()
        hist = self.controller.history
        if hist is not None and len(hist):
            run = self.controller.run
            w.timeline.set_steps(hist.steps, run.total_steps if run is not None else None)
            w.timeline.set_scrubbing_enabled(True)
        w.refresh()

    # ------------------------------------------------------------------ the run list
    def _record(self, how: str, reason: str) -> None:
        """The run that just ended (or was continued) as an entry of the run list."""
        run, doc = self.controller.run, self.doc
        if run is None or self.cfg is None:
            return
        res = doc.result if doc.result is not None and doc.result.run_id in (None, self.record_id) else None
        steps, losses = self.w.plots.loss_data()
        rec = doc.runs.get(self.record_id) if self.record_id is not None else None
        fresh = rec is None
        if fresh:
            rec = RunRecord(id=0, config=self.cfg.to_dict())
        if res is not None:   # else (another run's result is on screen) the entry keeps its pick
            rec.result, rec.result_step, rec.result_what = res.array, res.step, res.what
            if not res.user_pick:   # a user's pick keeps the kind use_iterate gave it
                rec.result_kind = getattr(run, "suggested_kind", None) or ("tiles" if self.tiles.active else "")
        # a tiled job: the steps of all its units (it has no single step)
        rec.steps = int((self.controller.last_summary or {}).get("step", 0)) if self.tiles.active else int(run.step)
        rec.stop_how = how
        rec.stop_reason = reason
        rec.stop_where = str((self.controller.last_summary or {}).get("where", "")) if self.tiles.active else ""
        # with seeds averaged: the watched run and the phase after it (app/seed_worker.py)
        rec.seconds = float(run.elapsed) + float((self.controller.last_summary or {}).get("seeds_seconds", 0.0))
        rec.psnr = doc.psnr_of(rec.result, rec.config)
        rec.curve_steps, rec.curve_loss = steps, losses
        rec.curve_psnr = {k: v for k, v in self.w.plots.psnr_data().items() if len(v[0])}
        if fresh:
            doc.runs.add(rec)
            self.record_id = rec.id
        else:
            doc.runs.replace(rec)
        if res is not None:
            res.run_id = rec.id

    def why_no_continue(self) -> str | None:
        """Why Continue is off for the stopped run on screen, when it is one that no live run
        stands behind (reopened from a project): its result came back, its networks did not."""
        res = self.doc.result
        if self.controller.can_continue or self.controller.active or res is None or res.run_id is None:
            return None
        rec = self.doc.runs.get(res.run_id)
        if rec is None or rec.stop_how != "request" or rec.id == self.record_id:
            return None
        where = f" in {rec.stop_where}" if rec.stop_where else f" at step {rec.steps}"
        return (f"{rec.label} was stopped{where}. A project keeps a run's result, not its networks, so it "
                f"cannot go on from there: Run restores it again (Save writes what it has)")

    def show_run(self, run_id: int) -> bool:
        """Make run ``run_id``'s picked result the current result and show it."""
        rec = self.doc.runs.get(run_id)
        if rec is None or rec.result is None or self.controller.active:
            if rec is not None and rec.result is None:
                self.w.statusBar().showMessage(f"{rec.label}: its image was dropped to stay within "
                                               "the memory budget", 8000)
            return False
        self.doc.set_result(rec.result, rec.result_step, f"{rec.label}: {rec.result_what or 'its result'}",
                            run_id=rec.id, user_pick=rec.id != self.record_id)
        self.shown_step = None
        self.tiles.show_grid(rec.id == self.record_id)
        self.w.canvas.set_display(rec.result)
        self._showing()
        self.show_curves(rec)
        self.w.show_result_text("")
        return True

    def show_curves(self, rec: RunRecord) -> None:
        """The Progress plots show run ``rec``'s loss curve, marked at its picked step. The
        run on screen keeps its snapshots scrubbable; another run's curve is only shown."""
        own = rec.id == self.record_id and self.controller.history is not None
        if own and self.plotted is None:
            return   # the plots show this run already (with its PSNR curves)
        self.w.plots.show_record(rec)
        w = self.w
        self.plotted = None if own else rec.id
        hist = self.controller.history
        if own and len(hist):
            w.timeline.set_steps(hist.steps, rec.steps or None)
        w.timeline.set_scrubbing_enabled(own and len(hist) > 0)
        w.refresh()

    def average(self, ids: list[int]) -> bool:
        """Average the chosen runs' results into a new entry, which becomes the result."""
        try:
            rec = average_record(self.doc.runs, ids)
        except ValueError as e:
            self.w.error("Cannot average these runs", str(e))
            return False
        rec.psnr = self.doc.psnr_of(rec.result, rec.config)
        self.doc.runs.add(rec)
        return self.show_run(rec.id)

    # ------------------------------------------------------------------ scrubbing
    def show_snapshot(self, step: int) -> bool:
        """Show the kept snapshot nearest ``step`` on the canvas (not while a run goes)."""
        hist = self.controller.history
        if hist is None or self.controller.active or self.plotted is not None:
            return False   # no snapshots, a run going, or another run's curve on screen
        near = hist.nearest(step)
        if near is None:
            return False
        snap = hist.get(near)
        self.shown_step = near
        self.w.plots.set_shown(near)
        if self.w.timeline.current_step() != near:
            self.w.timeline.set_current(near)
        self.display(snap.output, snap.ema)
        return True

    def shown_array(self) -> np.ndarray | None:
        """What the canvas shows as the result now (output or EMA per the toggle)."""
        if self.shown_step is not None and self.controller.history is not None:
            snap = self.controller.history.get(self.shown_step)
            return self._pick(snap.output, snap.ema)
        if self.live is not None:
            return self._pick(self.live[1], self.live[2])
        return None

    def use_iterate(self, step: int | None = None) -> bool:
        """Make the shown snapshot (output or EMA per the toggle) the result."""
        hist = self.controller.history
        if hist is None or self.controller.active or self.plotted is not None:
            return False
        if step is None:
            step = self.shown_step if self.shown_step is not None else self.w.timeline.current_step()
        if step is None:
            return False
        step = hist.nearest(step)
        snap = hist.get(step)
        use_ema = self.w.act_show_ema.isChecked() and snap.ema is not None
        what = "EMA" if use_ema else "output"
        self.doc.set_result((snap.ema if use_ema else snap.output).copy(), step,
                            f"the {what} at step {step} (your choice)", run_id=self.record_id, user_pick=True)
        rec = self.doc.runs.get(self.record_id) if self.record_id is not None else None
        if rec is not None:   # the run's entry holds the iterate the user settled on
            rec.result, rec.result_step = self.doc.result.array, step
            rec.result_kind, rec.result_what = ("ema" if use_ema else "output"), self.doc.result.what
            rec.psnr = self.doc.psnr_of(rec.result, rec.config)
            self.doc.runs.replace(rec)
        self.w.show_result_text("")
        self.w.statusBar().showMessage(f"The result is now the {what} at step {step}", 5000)
        return True

    def _pick(self, output: np.ndarray, ema) -> np.ndarray:
        return ema if self.w.act_show_ema.isChecked() and ema is not None else output

    def display(self, output: np.ndarray, ema, live_step: int | None = None) -> None:
        """Show the output or the EMA (per the toggle); for a live frame, the QImage the
        worker already made, so a large preview costs the GUI thread no conversion."""
        use_ema = self.w.act_show_ema.isChecked() and ema is not None
        ready = None if live_step is None else self._ready_image(live_step, "ema" if use_ema else "output")
        self.w.canvas.set_display(ready if ready is not None else (ema if use_ema else output))
        self._showing()

    def on_show_ema(self, checked: bool) -> None:
        self.controller.set_show_ema(checked)
        if self.shown_step is not None and self.controller.history is not None:
            snap = self.controller.history.get(self.shown_step)
            self.display(snap.output, snap.ema)
        elif self.live is not None:
            self.display(self.live[1], self.live[2], self.live[0])

    def show_restored(self, array: np.ndarray) -> None:
        """A result that came back from an autosave or a project: on the canvas, no run."""
        self.w.canvas.set_display(array)
        self._showing()

    def _showing(self) -> None:
        """An output is on the canvas: the mask shows as an outline (its red fill would hide
        exactly the pixels the run fills in); painting a stroke brings the fill back."""
        self.showing_result = True
        self.w.canvas.set_overlay_style("outline")
        self.apply_compare()

    def apply_compare(self) -> None:
        """Split view shows input | result; otherwise holding C shows the input (the canvas
        handles the key while it has focus)."""
        doc, w = self.doc, self.w
        if doc.image is None:
            return
        src = self.run_input if self.run_input is not None else doc.image
        split = w.act_split.isChecked()
        key = None if not self.showing_result else (id(src), split)
        if key == self.compare_key:
            return   # previews arrive every 200 ms: do not re-upload the same input each time
        self.compare_key = key
        if key is None:   # the canvas shows the input already
            w.canvas.set_compare(None)
        else:
            w.canvas.set_compare(src, w.split_position if split else None)
