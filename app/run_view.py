"""The run as the user watches it: starting, pausing, stopping and continuing; the
controller's signals turned into the curves, the progress bar and the result; scrubbing the
snapshots afterwards; and each finished run recorded in the document's run list (so it can
be shown, compared, averaged or run again with another seed).

Its state is a :class:`~app.session.RunSession` (no Qt); it takes the widgets it drives
(:class:`RunWidgets`), the result painter and a :class:`~app.ui_port.UiPort`, never the window.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMessageBox

from engine.config import RunConfig
from engine.errors import ConfigError, DIPError

from .document import Document
from .plots import RunPlots
from .result_painter import ResultPainter
from .run_controls import RunControls
from .runs import RunRecord, average_record
from .seed_worker import FINAL as SEEDS_FINAL, seeds_text
from .session import (NO_FIT_TITLE, RunSession, change_words, ending, input_refusal,
                      long_plan_question, no_fit_words, plan_refusal, progress_text, result_words,
                      suggested_words)
from .settings_panel import SettingsPanel
from .settings_store import tile_parts_directory
from .tile_view import TileView
from .timeline import Timeline
from .ui_port import UiPort
from .controller import RunController

PROGRESS_MS = 300        # the progress bar's refresh period while a run streams


@dataclass
class RunWidgets:
    """The widgets a run is shown in and set from."""

    plots: RunPlots
    timeline: Timeline
    controls: RunControls          # progress bar and labels, the Continue steps
    device_label: QLabel
    show_ema: QAction              # View > Show moving average
    panel: SettingsPanel           # Run again shows the run's settings in it


class RunView(QObject):
    def __init__(self, doc: Document, session: RunSession, controller: RunController, port: UiPort,
                 widgets: RunWidgets, painter: ResultPainter, tiles: TileView, parent: QObject | None = None):
        super().__init__(parent)
        self.doc = doc
        self.s = session
        self.controller = controller
        self.ui = port
        self.plots, self.timeline = widgets.plots, widgets.timeline
        self.bar = widgets.controls.progress_bar
        self.controls = widgets.controls
        self.device_label = widgets.device_label
        self.show_ema = widgets.show_ema
        self.panel = widgets.panel
        self.painter = painter
        self.tiles = tiles                           # a photo in tiles or crops (app/tile_view.py)
        self._pending_progress: tuple[int, int, float] | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.losses.connect(self._on_losses)
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
        self.timeline.stepChosen.connect(self.show_snapshot)
        self.timeline.useRequested.connect(self.use_iterate)
        self.plots.stepClicked.connect(self.show_snapshot)

    # ------------------------------------------------------------------ resetting
    def reset(self) -> None:
        """A new work image: nothing of the last run is on screen any more."""
        self.controller.discard()
        self.s.reset()
        self.tiles.clear()
        self._clear_progress("idle", self.doc.reference() is not None, None)
        self.painter.reset()

    def _clear_progress(self, text: str, reference_known: bool, total: int | None) -> None:
        """Empty curves, timeline and progress bar (``total``: the run's step bound)."""
        self.plots.reset(reference_known=reference_known, total=total)
        self.s.curves.clear()
        self.timeline.clear()
        if total is not None:
            self.timeline.set_total(total)
        self.timeline.set_scrubbing_enabled(False)
        self._pending_progress = None
        self._progress_timer.stop()
        self.bar.setRange(0, total or 1)
        self.bar.setValue(0)
        self.bar.setFormat(text)
        self.controls.progress_label.setText("")

    # ------------------------------------------------------------------ control
    def start(self, cfg: RunConfig | None = None) -> bool:
        doc, ui = self.doc, self.ui
        if doc.image is None or self.controller.active:
            return False
        try:
            cfg = cfg or self.doc.config()
        except ConfigError as e:
            ui.error("Settings", str(e))
            return False
        refusal = input_refusal(doc, cfg)
        if refusal is None:
            try:
                plan = self.doc.plan(cfg)   # cached: the plan the panel shows
            except DIPError as e:
                ui.error("Settings", str(e))
                return False
            refusal = plan_refusal(plan)
        if refusal is not None:
            ui.error(*refusal)
            return False
        question = long_plan_question(plan)
        if question is not None and ui.ask("A long run", question) != QMessageBox.Yes:
            return False
        if not doc.result_in_runs() and not ui.confirm_discard_result("starting a new run"):
            return False
        mask = doc.mask.known if cfg.task == "inpaint" else None
        guide = doc.guide if cfg.task == "flash" else None
        cfg = self.s.begin(cfg, doc.image)
        reference = doc.reference_for(cfg.task, cfg.scale)
        doc.clear_result()
        self.painter.clear()
        self.tiles.clear()
        self._clear_progress("building the network...", reference is not None, cfg.iterations)
        if plan is not None and plan.tiled:
            self.tiles.begin(plan)
            self.controller.start_tiled(self._within_budget(cfg), plan, doc.image, mask, guide, reference,
                                        parts=tile_parts_directory())
        else:
            self.controller.start(self._within_budget(cfg), doc.image, mask, guide, reference)
        ui.refresh()
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
            self.ui.error("Cannot run again", str(e))
            return False
        used = {r.seed for r in self.doc.runs}
        # short seeds read well in the run list; any unused one will do
        seed = random.Random().randrange(1, 10_000)
        while seed in used:
            seed += 1
        cfg = cfg.replace(seed=seed)
        self.panel.set_config(cfg)
        return self.start(cfg)

    def toggle_pause(self) -> None:
        st = self.controller.state
        if st == "paused":
            self.controller.resume()
            self.ui.status("Resumed", 3000)
        elif st in ("running", "building"):
            self.controller.pause()
            if self.tiles.active:
                self.tiles.show_progress()   # "tile 3/48 · step 120/300 · paused"
            else:
                self.bar.setFormat("paused at step %v of %m")
            self.ui.status("Paused (F6 resumes)")

    def stop(self) -> None:
        if self.controller.state in ("building", "running", "paused"):
            self.controller.stop()
            self.bar.setFormat("stopping...")

    def continue_run(self, steps: int | None = None) -> bool:
        if not self.controller.can_continue:
            return False
        s = self.s
        if s.plotted is not None:   # another run's curve is on screen: this run's comes back
            rec = self.doc.runs.get(s.record_id) if s.record_id is not None else None
            if rec is not None:
                self.plots.show_record(rec)
            s.plotted = None
        self.controller.continue_run(int(steps or self.controls.continue_spin.value()))
        if self.controller.tiled:   # the rest of the plan's units: no step bound to extend
            self.tiles.on_continue()
            self.ui.refresh()
            return True
        run = self.controller.run
        s.shown_step = None
        self.plots.set_shown(None)
        self.timeline.set_follow(True)
        self.timeline.set_scrubbing_enabled(False)
        self.timeline.set_total(run.total_steps)
        self.plots.set_total(run.total_steps)
        self.bar.setRange(0, run.total_steps)
        self.ui.refresh()
        return True

    def confirm_stop(self, action: str, retry=None) -> bool:
        """True when no run is going. Otherwise ask; on Yes the run is told to stop and
        ``retry`` is called once it has ended (the window never waits for a step in
        flight, which can take seconds on a large image), and this returns False."""
        if not self.controller.active:
            return True
        if self.s.after_stop is not None:
            self.ui.status("The run is stopping; try again in a moment", 5000)
            return False
        ans = self.ui.ask("A run is going", f"A restoration is running. Stop it and {action}?",
                          QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if ans != QMessageBox.Yes:
            return False
        self.stop_then(action, retry or (lambda: None))
        return False

    def stop_then(self, what: str, fn) -> None:
        """Stop the run and call ``fn`` once it has ended; never waits on this thread."""
        if not self.controller.active:   # it ended while the question was open
            QTimer.singleShot(0, fn)
            return
        self.s.after_stop = fn
        if self.controller.state in ("building", "running", "paused"):
            self.controller.stop()
        self.bar.setFormat("stopping...")
        self.ui.status(f"Stopping the run; {what} when the step in flight ends")

    def _run_after_stop(self) -> None:
        fn, self.s.after_stop = self.s.after_stop, None
        if fn is not None:
            QTimer.singleShot(0, fn)

    # ------------------------------------------------------------------ controller signals
    def _on_ready(self, info: dict) -> None:
        self.s.averaged = 1
        if info.get("tiled"):
            self.tiles.on_ready(info)
            return
        self.device_label.setText(info["device"])
        self.bar.setFormat("step %v of %m")
        self.ui.status(f"Network: {info['params']:,} parameters on {info['device']}", 5000)
        oh, ow = info["out_shape"][:2]
        if self.doc.image is not None and (oh, ow) != self.doc.image.shape[:2]:
            self.ui.status(f"The result will be {ow} x {oh}", 5000)

    def _on_losses(self, steps: np.ndarray, losses: np.ndarray) -> None:
        self.s.curves.append_losses(steps, losses)
        self.plots.append_losses(steps, losses)

    def _on_display_images(self, step: int, images: dict) -> None:
        self.s.images = (step, images)

    def _on_preview(self, step: int, output: np.ndarray, ema) -> None:
        self.s.live = (step, output, ema)
        if self.s.shown_step is None:
            self.display(output, ema, step)

    def _on_psnr(self, step: int, values: dict) -> None:
        self.s.curves.add_psnr(step, values)
        self.plots.add_psnr(step, values)
        parts = [f"{k} {v:.2f} dB" for k, v in values.items() if v is not None and np.isfinite(v)]
        self.controls.progress_label.setText("PSNR: " + ", ".join(parts))

    def _on_suggested(self, step: int, score: float, kind: str) -> None:
        rule = self.s.cfg.stop_rule if self.s.cfg is not None else "holdout"
        self.plots.set_suggested(step, *suggested_words(step, score, kind, rule))

    def _on_progress(self, step: int, total: int, rate: float) -> None:
        # QProgressBar.setValue repaints synchronously (holding the GIL the worker needs):
        # show the newest values a few times per second, not on every batch
        self._pending_progress = (step, total, rate)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _on_change(self, step: int, db: float) -> None:
        cfg = self.s.cfg
        if cfg is None or cfg.stop_rule != "change" or self.controller.state != "running":
            return
        self.ui.status(change_words(cfg, step, db))

    def _on_seeds(self, done: int, total: int, step: int) -> None:
        """The watched run ended and the other seeds run (app/seed_worker.py); the last signal
        says how many picks the coming result averages."""
        if step == SEEDS_FINAL:
            self.s.averaged = done
            return
        self.ui.status(seeds_text(done, total, step))
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.bar.setFormat(f"averaging seeds: {done} of {total} done")

    def _show_progress(self) -> None:
        self._progress_timer.stop()
        if self._pending_progress is None:
            return
        step, total, rate = self._pending_progress
        self._pending_progress = None
        self.bar.setRange(0, total)
        self.bar.setValue(step)
        self.bar.setFormat(progress_text(step, total, rate, self.controller.state == "paused"))

    def _on_snapshot(self, _step: int) -> None:
        hist = self.controller.history
        if hist is not None:
            run = self.controller.run
            self.timeline.set_steps(hist.steps, run.total_steps if run is not None else None)

    def _on_result(self, step: int, array: np.ndarray) -> None:
        if self.tiles.active:
            self.tiles.on_result(step, array)
            return
        doc, s = self.doc, self.s
        if doc.result is not None and doc.result.user_pick and doc.result.run_id == s.record_id:
            # the user's own pick in this run wins over the rule's (e.g. after Continue)
            self.ui.status(f"Kept your chosen iterate (step {doc.result.step}); "
                           f"the rule's best is step {step}", 8000)
            return
        pick = s.cfg.pick if s.cfg else "last"
        kind = None
        if pick == "auto":
            run = self.controller.run
            kind = run.suggested_kind if run is not None else None
        doc.set_result(array, step, result_words(pick, kind, step, s.averaged), run_id=s.record_id)
        if pick == "auto":
            ema = self.show_ema
            if kind in ("ema", "output") and ema.isChecked() != (kind == "ema"):
                # the toggle says what the canvas shows: the rule's image (scrubbing keeps it)
                was = ema.blockSignals(True)
                ema.setChecked(kind == "ema")
                ema.blockSignals(was)
                self.controller.set_show_ema(kind == "ema")
            self._show_result_image(array, step)

    def _show_result_image(self, array: np.ndarray, step: int) -> None:
        """Put the result itself on the canvas (the rule's best is not the last preview)."""
        ready = self.s.ready_image(step, "result")
        self.painter.show(ready if ready is not None else array)
        hist = self.controller.history
        if hist is not None and step in hist.steps:
            self.s.shown_step = step
            self.plots.set_shown(step)
            self.timeline.set_steps(hist.steps)
            self.timeline.set_current(step)
            self.timeline.set_follow(False)

    def _on_finished(self, reason: str) -> None:
        if self.tiles.active:
            info = self.controller.last_summary or {}
            how = info.get("how", "request")
            self.ui.status(self.tiles.on_finished(reason, info), 20000)
            self._enter_review()
            self._record(how, info.get("reason", "") if how != "request" else "stopped on request")
            self.show_result_text(info.get("reason", "") if how != "request" else "")
            self._run_after_stop()
            return
        self._show_progress()
        run = self.controller.run
        step = run.step if run is not None else 0
        end = ending(reason, step, run.total_steps if run else None, self.controller.last_summary or {})
        self.bar.setFormat(end.bar)
        if end.how != "request":
            self.bar.setRange(0, max(step, 1))
            self.bar.setValue(step)
        # the rule's reason stays until the next message (it explains the result)
        self.ui.status(end.text, 0 if end.how == "rule" else 20000)
        self.plots.set_stop_reason(end.reason or None if end.how != "request" else None)
        self._enter_review()
        if (self.controller.last_summary or {}).get("failed_to_fit"):
            self._report_no_fit(step)
        else:
            self._record(end.how, end.reason if end.how != "request" else "stopped on request")
            self.show_result_text(end.reason if end.how == "rule" and not self._user_picked() else "")
        self._run_after_stop()

    def _user_picked(self) -> bool:
        return self.doc.result is not None and self.doc.result.user_pick

    def _report_no_fit(self, step: int) -> None:
        """The run never fitted better than a flat image: say so; its output is no result."""
        self.doc.clear_result()
        self.controls.result_label.setText("No result: the run did not fit the image")
        self.bar.setFormat(f"failed to fit ({step} steps)")
        self.ui.error(NO_FIT_TITLE, no_fit_words(step))

    def _on_failed(self, message: str) -> None:
        self._show_progress()
        self.bar.setFormat("failed")
        self._enter_review()
        self.ui.error("The run failed", message)
        self._run_after_stop()

    def _enter_review(self) -> None:
        """After a run: the curves show every step, the timeline scrubs the kept snapshots."""
        self.plots.flush()
        hist = self.controller.history
        if hist is not None and len(hist):
            run = self.controller.run
            self.timeline.set_steps(hist.steps, run.total_steps if run is not None else None)
            self.timeline.set_scrubbing_enabled(True)
        self.ui.refresh()

    def show_result_text(self, extra: str = "") -> None:
        res = self.doc.result
        if res is not None:
            self.controls.result_label.setText(f"Result: {res.what} (Ctrl+S saves it)"
                                               + (f"\n{extra}" if extra else ""))

    # ------------------------------------------------------------------ the run list
    def _record(self, how: str, reason: str) -> None:
        self.s.record(self.doc, self.controller.run, self.controller.last_summary, how, reason)

    def why_no_continue(self) -> str | None:
        return self.s.why_no_continue(self.doc, self.controller.can_continue, self.controller.active)

    def show_run(self, run_id: int) -> bool:
        """Make run ``run_id``'s picked result the current result and show it."""
        rec = self.doc.runs.get(run_id)
        if rec is None or rec.result is None or self.controller.active:
            if rec is not None and rec.result is None:
                self.ui.status(f"{rec.label}: its image was dropped to stay within the memory budget", 8000)
            return False
        s = self.s
        self.doc.set_result(rec.result, rec.result_step, f"{rec.label}: {rec.result_what or 'its result'}",
                            run_id=rec.id, user_pick=rec.id != s.record_id)
        s.shown_step = None
        self.tiles.show_grid(rec.id == s.record_id)
        self.painter.show(rec.result)
        self.show_curves(rec)
        self.show_result_text("")
        return True

    def show_curves(self, rec: RunRecord) -> None:
        """The Progress plots show run ``rec``'s loss curve, marked at its picked step. The
        run on screen keeps its snapshots scrubbable; another run's curve is only shown."""
        own = rec.id == self.s.record_id and self.controller.history is not None
        if own and self.s.plotted is None:
            return   # the plots show this run already (with its PSNR curves)
        self.plots.show_record(rec)
        self.s.plotted = None if own else rec.id
        hist = self.controller.history
        if own and len(hist):
            self.timeline.set_steps(hist.steps, rec.steps or None)
        self.timeline.set_scrubbing_enabled(own and len(hist) > 0)
        self.ui.refresh()

    def average(self, ids: list[int]) -> bool:
        """Average the chosen runs' results into a new entry, which becomes the result."""
        try:
            rec = average_record(self.doc.runs, ids)
        except ValueError as e:
            self.ui.error("Cannot average these runs", str(e))
            return False
        rec.psnr = self.doc.psnr_of(rec.result, rec.config)
        self.doc.runs.add(rec)
        return self.show_run(rec.id)

    # ------------------------------------------------------------------ scrubbing
    def show_snapshot(self, step: int) -> bool:
        """Show the kept snapshot nearest ``step`` on the canvas (not while a run goes)."""
        hist = self.controller.history
        if hist is None or self.controller.active or self.s.plotted is not None:
            return False   # no snapshots, a run going, or another run's curve on screen
        near = hist.nearest(step)
        if near is None:
            return False
        snap = hist.get(near)
        self.s.shown_step = near
        self.plots.set_shown(near)
        if self.timeline.current_step() != near:
            self.timeline.set_current(near)
        self.display(snap.output, snap.ema)
        return True

    def shown_array(self) -> np.ndarray | None:
        """What the canvas shows as the result now (output or EMA per the toggle)."""
        s = self.s
        if s.shown_step is not None and self.controller.history is not None:
            snap = self.controller.history.get(s.shown_step)
            return self._pick(snap.output, snap.ema)
        if s.live is not None:
            return self._pick(s.live[1], s.live[2])
        return None

    def use_iterate(self, step: int | None = None) -> bool:
        """Make the shown snapshot (output or EMA per the toggle) the result."""
        hist = self.controller.history
        s = self.s
        if hist is None or self.controller.active or s.plotted is not None:
            return False
        if step is None:
            step = s.shown_step if s.shown_step is not None else self.timeline.current_step()
        if step is None:
            return False
        step = hist.nearest(step)
        snap = hist.get(step)
        use_ema = self.show_ema.isChecked() and snap.ema is not None
        what = "EMA" if use_ema else "output"
        self.doc.set_result((snap.ema if use_ema else snap.output).copy(), step,
                            f"the {what} at step {step} (your choice)", run_id=s.record_id, user_pick=True)
        s.keep_pick(self.doc, step, "ema" if use_ema else "output")
        self.show_result_text("")
        self.ui.status(f"The result is now the {what} at step {step}", 5000)
        return True

    def _pick(self, output: np.ndarray, ema) -> np.ndarray:
        return ema if self.show_ema.isChecked() and ema is not None else output

    def display(self, output: np.ndarray, ema, live_step: int | None = None) -> None:
        """Show the output or the EMA (per the toggle); for a live frame, the QImage the
        worker already made, so a large preview costs the GUI thread no conversion."""
        use_ema = self.show_ema.isChecked() and ema is not None
        ready = None if live_step is None else self.s.ready_image(live_step, "ema" if use_ema else "output")
        self.painter.show(ready if ready is not None else (ema if use_ema else output))

    def on_show_ema(self, checked: bool) -> None:
        self.controller.set_show_ema(checked)
        s = self.s
        if s.shown_step is not None and self.controller.history is not None:
            snap = self.controller.history.get(s.shown_step)
            self.display(snap.output, snap.ema)
        elif s.live is not None:
            self.display(s.live[1], s.live[2], s.live[0])

    def show_restored(self, array: np.ndarray) -> None:
        """A result that came back from an autosave or a project: on the canvas, no run."""
        self.painter.show(array)

    def curves_shown(self):
        """The raw curves the Progress plots show (what Export CSV writes)."""
        return self.s.curves_shown(self.doc)
