"""File > Batch restore a folder: every photo of a folder with the panel's settings, in the
background, here or on a Ray cluster.

The window is a front for :class:`engine.batch.Batch`, the same code as ``restore --input
DIR``: it runs in a :class:`BatchWorker` in its own QThread (the GUI thread runs no torch
kernel), with the same executors (this computer by default; a Ray address kept in the
preferences), and shows the batch's events in a table: image, status, progress, stop step,
time. Double-clicking a finished image (or *Open result*) opens its result in the main
window. Closing the main window while a batch runs asks first.

A batch that did not end (stopped, the app closed, a crash) is remembered in the settings
with its folders and its settings; the window offers to *Resume* it, which runs the same
batch again: photos whose result is already complete are skipped (engine/batch.py).

A batch estimated at over an hour (``engine.tiling.LONG_PLAN_S``, the rule for one photo in
the main window too) is refused by the engine unless told yes: the window then asks, and
runs it again with yes when the user agrees. Whatever stops a batch before it runs (that
refusal, bad folders, a cluster out of reach) is said in the window in the engine's words.
"""
from __future__ import annotations

import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMessageBox, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from engine import tiling
from engine.batch import Batch, BatchOptions
from engine.executors import make_executor
from engine.config import RunConfig
from engine.durations import format_clock
from engine.errors import DIPError

from . import settings_store as keys

log = logging.getLogger(__name__)

RAY_ADDRESS = "batch/ray_address"       # the preference: "" = a Ray on this computer
EXECUTOR = "batch/executor"             # "local" | "ray"
UNFINISHED = "batch/unfinished"         # JSON: the batch that has not ended (folders, settings, executor)
LAST_FOLDERS = "batch/last"             # JSON: the folders last used
COLUMNS = ("Image", "Status", "Progress", "Stop step", "Time")


class BatchWorker(QObject):
    """Runs one batch in the thread it is moved to; every engine event goes out as ``event``."""

    event = Signal(object)          # the engine's event dicts (kind: plan | image | progress)
    finished = Signal(int)          # the batch's exit status (0, 1: a photo failed, 130: stopped, 2: refused)
    failed = Signal(str)            # the batch could not start (one line)
    refused = Signal(str)           # before finished(2): the engine's reason, its "error:" lines

    def __init__(self, opts: BatchOptions, ray: str | None):
        super().__init__()
        self.opts = opts
        self.ray = ray
        self.stop_event = threading.Event()
        self.log = io.StringIO()        # the CLI's lines and summary table, kept for the status line

    def request_stop(self) -> None:
        self.stop_event.set()

    @Slot()
    def start(self) -> None:
        code = 2
        executor = None
        try:
            executor = make_executor(self.ray, stop=self.stop_event)
            code = Batch(self.opts, executor, on_event=self.event.emit, stream=self.log).run()
            if code == 2:
                self.refused.emit(refusal(self.log.getvalue()))
        except DIPError as exc:
            self.failed.emit(" ".join(str(exc).split()))
        except Exception as exc:  # noqa: BLE001 - the window reports it instead of the thread dying silently
            log.exception("batch failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            if executor is not None:
                executor.close()
            self.finished.emit(code)


class BatchWindow(QWidget):
    """The Batch window. ``config_source()`` gives the settings (the main window's panel);
    ``open_result(path)`` opens a finished image's result (the main window's open_path)."""

    stateChanged = Signal(bool)     # running

    def __init__(self, config_source: Callable[[], RunConfig], open_result: Callable[[str], object] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent, Qt.Window)
        self.setObjectName("BatchWindow")
        self.setWindowTitle("Batch restore - DIP Studio")
        self.config_source = config_source
        self.open_result = open_result
        self._thread: QThread | None = None
        self._worker: BatchWorker | None = None
        self._after_stop: list[Callable[[], None]] = []
        self._rows: dict[int, int] = {}
        self._outputs: dict[int, str] = {}
        self._started: dict[int, float] = {}
        self._plan: dict | None = None          # the running batch's plan event
        self._launched: tuple[dict, bool] | None = None   # its spec, and whether a long batch was agreed
        self._unfinished_before = ""             # UNFINISHED before it: a batch refused leaves it so
        self._reason = ""                        # why it did not start, in the engine's words
        self.last_code: int | None = None
        self._build()
        self._restore()

    # ---- widgets -----------------------------------------------------------------------
    def _build(self) -> None:
        grid = QGridLayout()
        self.input_edit, self.mask_edit, self.output_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.mask_edit.setPlaceholderText("optional: masks beside the photos are found by themselves")
        self.output_edit.setPlaceholderText("default: a 'restored' folder inside the photos' folder")
        for row, (label, edit, title) in enumerate((("Photos", self.input_edit, "Folder of photos"),
                                                     ("Masks", self.mask_edit, "Folder of masks"),
                                                     ("Results", self.output_edit, "Folder for the results"))):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(edit, row, 1)
            b = QPushButton("Browse...")
            b.clicked.connect(lambda _c=False, e=edit, t=title: self._browse(e, t))
            grid.addWidget(b, row, 2)
        self.executor_combo = QComboBox()
        self.executor_combo.addItem("This computer", "local")
        self.executor_combo.addItem("Ray cluster", "ray")
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("empty: a Ray on this computer; auto; ray://host:10001")
        grid.addWidget(QLabel("Run on"), 3, 0)
        run_on = QHBoxLayout()
        run_on.addWidget(self.executor_combo)
        run_on.addWidget(self.address_edit, 1)
        grid.addLayout(run_on, 3, 1, 1, 2)
        self.executor_combo.currentIndexChanged.connect(
            lambda _i: self.address_edit.setEnabled(self.executor_combo.currentData() == "ray"))
        self.address_edit.setEnabled(False)

        self.settings_label = QLabel()
        self.settings_label.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        # a failure's reason is read in the progress column: it gets the room and wraps
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.setWordWrap(True)
        self.table.cellDoubleClicked.connect(lambda r, _c: self.open_row(r))
        self.status_label = QLabel("Pick a folder of photos; the settings are the panel's")
        self.status_label.setWordWrap(True)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        self.open_button = QPushButton("Open result")
        self.start_button.clicked.connect(self.start)
        self.resume_button.clicked.connect(self.resume)
        self.stop_button.clicked.connect(self.stop)
        self.open_button.clicked.connect(lambda: self.open_row(self.table.currentRow()))
        for b in (self.start_button, self.resume_button, self.stop_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        col = QVBoxLayout(self)
        col.addLayout(grid)
        col.addWidget(self.settings_label)
        col.addLayout(buttons)
        col.addWidget(self.table, 1)
        col.addWidget(self.status_label)
        self.resize(760, 520)
        self._update_buttons()

    def _browse(self, edit: QLineEdit, title: str) -> None:
        start = edit.text() or self.input_edit.text() or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, title, start)
        if path:
            edit.setText(path)

    def _restore(self) -> None:
        last = self._read_json(LAST_FOLDERS) or {}
        self.input_edit.setText(last.get("input", ""))
        self.mask_edit.setText(last.get("mask", ""))
        self.output_edit.setText(last.get("output", ""))
        self.executor_combo.setCurrentIndex(1 if keys.value(EXECUTOR, "local", str) == "ray" else 0)
        self.address_edit.setText(keys.value(RAY_ADDRESS, "", str))
        un = self.unfinished()
        if un is not None:
            self.status_label.setText(f"The batch of {un['input']} did not finish: Resume runs it again with the "
                                      f"same settings (photos already done are skipped)")
        self._update_buttons()
        self.show_settings()

    @staticmethod
    def _read_json(key: str) -> dict | None:
        text = keys.value(key, "", str)
        if not text:
            return None
        try:
            v = json.loads(text)
        except ValueError:
            return None
        return v if isinstance(v, dict) else None

    def unfinished(self) -> dict | None:
        """The batch that has not ended (folders, settings, executor), or None."""
        un = self._read_json(UNFINISHED)
        if un is None or not isinstance(un.get("config"), dict) or not un.get("input"):
            return None
        return un

    def show_settings(self) -> None:
        try:
            cfg = self.config_source()
        except Exception as exc:  # noqa: BLE001 - the panel's fields may be invalid right now
            self.settings_label.setText(f"Settings: not valid ({exc})")
            return
        self.settings_label.setText(f"Settings (from the panel): {cfg.task}, preset {cfg.preset}, "
                                    f"at most {cfg.iterations} steps, stop {cfg.stop}")

    # ---- state ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None

    def _update_buttons(self) -> None:
        run = self.running
        self.start_button.setEnabled(not run)
        self.resume_button.setEnabled(not run and self.unfinished() is not None)
        self.stop_button.setEnabled(run and not (self._worker is not None and self._worker.stop_event.is_set()))
        for w in (self.input_edit, self.mask_edit, self.output_edit, self.executor_combo):
            w.setEnabled(not run)
        self.address_edit.setEnabled(not run and self.executor_combo.currentData() == "ray")

    # ---- start, resume, stop --------------------------------------------------------------
    def start(self) -> bool:
        """A batch of the folders in the fields with the panel's settings."""
        if self.running:
            return False
        try:
            cfg = self.config_source()
        except Exception as exc:  # noqa: BLE001
            self.status_label.setText(f"The settings are not valid: {exc}")
            return False
        src = self.input_edit.text().strip()
        if not src or not Path(src).is_dir():
            self.status_label.setText("Pick the folder of photos first")
            return False
        out = self.output_edit.text().strip() or str(Path(src) / "restored")
        self.output_edit.setText(out)
        mode = self.executor_combo.currentData()
        address = self.address_edit.text().strip()
        keys.settings().setValue(EXECUTOR, mode)
        keys.settings().setValue(RAY_ADDRESS, address)
        spec = {"input": src, "mask": self.mask_edit.text().strip(), "output": out, "config": cfg.to_dict(),
                "ray": (address or "local") if mode == "ray" else None}
        keys.settings().setValue(LAST_FOLDERS, json.dumps({k: spec[k] for k in ("input", "mask", "output")}))
        return self._launch(spec)

    def resume(self) -> bool:
        """Run the unfinished batch again, with its own folders and settings."""
        un = self.unfinished()
        if un is None or self.running:
            return False
        for edit, k in ((self.input_edit, "input"), (self.mask_edit, "mask"), (self.output_edit, "output")):
            edit.setText(un.get(k) or "")
        return self._launch(un)

    def _launch(self, spec: dict, long_agreed: bool = False) -> bool:
        try:
            cfg = RunConfig.from_dict(spec["config"]).validate()
        except Exception as exc:  # noqa: BLE001 - a damaged saved batch
            self.status_label.setText(f"Cannot run that batch: {exc}")
            return False
        opts = BatchOptions(cfg=cfg, inputs=spec["input"], output=spec["output"], mask=spec.get("mask") or None,
                            metrics=str(Path(spec["output"]) / "metrics.jsonl"), quiet=True, yes=long_agreed)
        if not long_agreed:
            self._unfinished_before = keys.value(UNFINISHED, "", str)
        keys.settings().setValue(UNFINISHED, json.dumps(spec))
        self.table.setRowCount(0)
        self._rows.clear()
        self._outputs.clear()
        self._started.clear()
        self._plan, self._launched, self._reason = None, (spec, long_agreed), ""
        self.last_code = None
        worker = BatchWorker(opts, spec.get("ray"))
        thread = QThread()
        thread.setObjectName("dip-batch")
        worker.moveToThread(thread)
        worker.event.connect(self._on_event)
        worker.failed.connect(self._on_refused)
        worker.refused.connect(self._on_refused)
        worker.finished.connect(self._on_finished)
        thread.started.connect(worker.start)
        self._worker, self._thread = worker, thread
        where = "this computer" if spec.get("ray") is None else f"Ray ({spec['ray']})"
        self.status_label.setText(f"Planning the photos of {spec['input']} on {where}...")
        thread.start()
        self._update_buttons()
        self.stateChanged.emit(True)
        return True

    def stop(self) -> None:
        """Stop after the steps in flight (Ray: the units still out are cancelled); what is
        done stays done, and Resume finishes the rest."""
        if self._worker is not None:
            self._worker.request_stop()
            self.status_label.setText("Stopping...")
        self._update_buttons()

    def stop_then(self, callback: Callable[[], None]) -> None:
        """Stop, and call ``callback`` once the batch has ended (the main window's quit)."""
        if not self.running:
            callback()
            return
        self._after_stop.append(callback)
        self.stop()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop and wait for the thread (tests, the end of the process)."""
        if self._worker is not None:
            self._worker.request_stop()
        thread = self._thread
        if thread is None:
            return True
        ok = thread.wait(timeout_ms)
        return ok

    @Slot(str)
    def _on_refused(self, reason: str) -> None:
        self._reason = reason
        self.status_label.setText(f"The batch did not start: {reason}")

    @Slot(int)
    def _on_finished(self, code: int) -> None:
        stopped = self._worker is not None and self._worker.stop_event.is_set()
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            thread.quit()
            thread.wait(5000)
            thread.deleteLater()
        self.last_code = code
        if code == 2:
            self._refused(asked_to_stop=stopped or bool(self._after_stop))
            return
        counts = {s: 0 for s in ("done", "skipped", "failed", "interrupted")}
        for r in range(self.table.rowCount()):
            st = self.table.item(r, 1).text()
            counts[st] = counts.get(st, 0) + 1
        if code in (0, 1):
            keys.settings().remove(UNFINISHED)          # ended: nothing to resume
        tail = "; Resume finishes the rest" if code == 130 else ""
        self.status_label.setText(f"{'Stopped' if code == 130 else 'Finished'}: {counts['done']} done, "
                                  f"{counts['skipped']} skipped, {counts['failed']} failed{tail}")
        self._ended()

    def _ended(self) -> None:
        self._update_buttons()
        self.stateChanged.emit(False)
        callbacks, self._after_stop = self._after_stop, []
        for cb in callbacks:
            cb()

    def _refused(self, asked_to_stop: bool) -> None:
        """The batch did not run: a long one is asked about (and run again with yes) unless the
        user stopped it meanwhile, any other refusal stays in the status line; a batch that
        never ran leaves nothing to resume."""
        spec, agreed = self._launched or ({}, True)
        plan = self._plan
        if self._unfinished_before:
            keys.settings().setValue(UNFINISHED, self._unfinished_before)
        else:
            keys.settings().remove(UNFINISHED)
        long = plan is not None and plan["seconds"] > tiling.LONG_PLAN_S and not agreed
        if long and not asked_to_stop and self.ask_long(plan):
            self._launch(spec, long_agreed=True)
            return
        if long:
            self.status_label.setText(f"Not started: {plan_words(plan)}. A batch estimated at over an hour "
                                      "runs once you agree to it (Start again)")
        elif not self._reason:
            self.status_label.setText("The batch did not start")
        self._ended()

    def ask_long(self, plan: dict) -> bool:
        """The main window's question for a long run, for a batch."""
        return QMessageBox.question(
            self, "A long batch", f"{plan_words(plan)}.\n\nStart it? (fewer photos, or a faster preset in "
            "the panel, take less)", QMessageBox.Yes | QMessageBox.No, QMessageBox.No) == QMessageBox.Yes

    # ---- the table ---------------------------------------------------------------------------
    def _row(self, index: int, name: str) -> int:
        r = self._rows.get(index)
        if r is None:
            r = self.table.rowCount()
            self.table.insertRow(r)
            self._rows[index] = r
            for c in range(len(COLUMNS)):
                self.table.setItem(r, c, QTableWidgetItem(""))
            self.table.item(r, 0).setText(name)
        return r

    def _set(self, r: int, col: int, text: str, tip: str | None = None) -> None:
        item = self.table.item(r, col)
        item.setText(text)
        if tip is not None:
            item.setToolTip(tip)

    @Slot(object)
    def _on_event(self, ev: dict) -> None:
        kind = ev.get("kind")
        if kind == "plan":
            self._plan = ev
            self.status_label.setText(plan_words(ev))
            return
        r = self._row(ev.get("index", ev.get("job")), ev["name"])
        if kind == "image":
            st = ev["status"]
            self._set(r, 1, st, ev.get("reason") or None)
            idx = ev["index"]
            if st == "running":
                self._started[idx] = time.monotonic()
            if st == "done":
                self._outputs[idx] = ev["output"]
                self._set(r, 2, "100%")
                steps = ev.get("steps") or []
                self._set(r, 3, str(steps[0]) if len(steps) == 1 else
                          f"{min(steps)}-{max(steps)} ({len(steps)} units)" if steps else "")
                self._set(r, 4, format_clock(ev.get("seconds", 0.0)))
            elif st == "skipped":
                self._outputs[idx] = ev["output"]
                self._set(r, 2, "already done")
            elif st in ("failed", "interrupted"):
                self._set(r, 2, ev.get("reason", ""), ev.get("reason", ""))
                self.table.resizeRowToContents(r)
        elif kind == "progress":
            count, unit = ev["count"], ev["unit"]
            if ev["state"] == "done":
                self._set(r, 3, str(ev["step"]) if count == 1 else self.table.item(r, 3).text())
                return
            frac = min(1.0, ev["step"] / max(1, ev["total"]))
            # the step starts again with each tile and each seed: the row says which, so it
            # never seems to go backwards
            parts = ([f"tile {unit + 1}/{count}"] if count > 1 else []) + \
                ([f"seed {ev.get('seed_index', 0) + 1}/{ev['seeds']}"] if ev.get("seeds", 1) > 1 else [])
            where = ", ".join(parts) + ": " if parts else ""
            best = f", best {ev['best']}" if ev.get("best") else ""
            self._set(r, 2, f"{where}step {ev['step']}/{ev['total']} ({100 * frac:.0f}%){best}")
            started = self._started.get(ev["job"])
            if started is not None:
                self._set(r, 4, format_clock(time.monotonic() - started))

    def status_of(self, name: str) -> str:
        """The status column of the image named ``name`` (tests)."""
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == name:
                return self.table.item(r, 1).text()
        return ""

    def open_row(self, r: int) -> bool:
        """Open row ``r``'s result in the main window."""
        index = next((i for i, row in self._rows.items() if row == r), None)
        path = self._outputs.get(index) if index is not None else None
        if path is None or self.open_result is None or not Path(path).is_file():
            self.status_label.setText("That image has no result yet")
            return False
        self.open_result(path)
        return True

    def closeEvent(self, event) -> None:   # noqa: N802
        # the batch goes on in the background; the main window asks before quitting
        event.accept()


def plan_words(ev: dict) -> str:
    """A batch's plan event in words."""
    return (f"{ev['to_run']} of {ev['images']} photos to restore ({ev['units']} units) on {ev['where']}: "
            f"about {format_clock(ev['seconds'])}")


def refusal(log: str) -> str:
    """The engine's reason for not running a batch: its "error:" lines, else its last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errors = [ln[len("error:"):].strip() for ln in lines if ln.startswith("error:")]
    return "; ".join(errors) or (lines[-1] if lines else "")


