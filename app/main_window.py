"""The main window: canvas in the centre, settings and run controls on the right, curves
and the snapshot timeline at the bottom; menus for files, the mask and the view.

The window holds the user's work (the loaded image, the mask on the canvas, the result
array) and never a tensor: a :class:`RunController` runs the engine in a worker thread and
hands back NumPy arrays. Whatever fails (a file, a mask, the run) is reported in a dialog
and leaves the image, the mask and the last result as they were.
"""
from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QByteArray, QEvent, QObject, QPoint, QPointF, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
    QProgressBar, QPushButton, QRubberBand, QSpinBox, QVBoxLayout, QWidget,
)

from engine.config import TASKS, RunConfig
from engine.device import describe, pick_device
from engine.presets import get_config
from engine.errors import ConfigError, DIPError, MaskError
from engine.imageio import (
    OPEN_EXTENSIONS, Loaded, atomic_write, load_image, load_mask, save_image, save_mask,
)

from . import settings_store as keys
from .autosave import Autosave
from .canvas import ImageCanvas
from .plots import RunPlots
from .recent import RecentFiles
from .settings_panel import SettingsPanel, device_memory_bytes
from .simulate_dialog import SimulateDialog
from .timeline import Timeline
from .worker import RunController

log = logging.getLogger(__name__)

APP_TITLE = "DIP Studio"
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SAMPLE_IMAGE = RESOURCES / "sample_noisy.png"
SAMPLE_REFERENCE = RESOURCES / "sample_clean.png"
SAVE_FILTERS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;TIFF image (*.tif *.tiff)"
DEFAULT_CONTINUE_STEPS = 500
GROW_SHRINK_PX = 2
PROGRESS_MS = 300        # the progress bar's refresh period while a run streams
AUTOSAVE_MS = 1000       # the mask and the result are autosaved this long after a change


def resize_image(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of a float HxWxC image (for display, downscale-to-fit, region paste)."""
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(a[:, :, c]), mode="F")
                        .resize((int(width), int(height)), Image.BICUBIC)) for c in range(a.shape[2])]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0).astype(np.float32)


def _format_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class _RegionPicker(QObject):
    """Lets the user drag a rectangle over the canvas once; emits it in image pixels."""

    picked = Signal(int, int, int, int)   # x, y, w, h in image pixels
    cancelled = Signal()

    def __init__(self, canvas: ImageCanvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.target = canvas.viewport()
        self.band = QRubberBand(QRubberBand.Rectangle, self.target)
        self.origin: QPoint | None = None
        self.active = False

    def start(self) -> None:
        self.active = True
        self.target.installEventFilter(self)
        self.target.setCursor(Qt.CrossCursor)

    def stop(self) -> None:
        self.active = False
        self.origin = None
        self.band.hide()
        self.target.removeEventFilter(self)
        self.target.unsetCursor()

    def eventFilter(self, obj, event) -> bool:   # noqa: N802 - Qt's name
        t = event.type()
        if t == QEvent.MouseButtonPress and event.button() == Qt.LeftButton:
            self.origin = event.position().toPoint()
            self.band.setGeometry(QRect(self.origin, QSize()))
            self.band.show()
            return True
        if t == QEvent.MouseMove and self.origin is not None:
            self.band.setGeometry(QRect(self.origin, event.position().toPoint()).normalized())
            return True
        if t == QEvent.MouseButtonRelease and self.origin is not None and event.button() == Qt.LeftButton:
            rect = QRect(self.origin, event.position().toPoint()).normalized()
            self.stop()
            a = self.canvas.image_pos(QPointF(rect.topLeft()), centre=False)
            b = self.canvas.image_pos(QPointF(rect.bottomRight()), centre=False)
            x0, y0 = math.floor(a.x()), math.floor(a.y())
            x1, y1 = math.ceil(b.x()), math.ceil(b.y())
            self.picked.emit(x0, y0, x1 - x0, y1 - y0)
            return True
        if t == QEvent.KeyPress and event.key() == Qt.Key_Escape:
            self.stop()
            self.cancelled.emit()
            return True
        return False


class MainWindow(QMainWindow):
    """DIP Studio's window. ``open_path`` / ``start_run`` / ``save_result`` are the entry
    points the menus use (and tests drive)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        # the user's work
        self._loaded: Loaded | None = None          # the file as loaded (for save like=)
        self._full: np.ndarray | None = None        # the whole image the user works on
        self._image: np.ndarray | None = None       # what a run sees: _full or a region of it
        self._region: tuple[int, int, int, int] | None = None   # x, y, w, h within _full
        self._full_reference: np.ndarray | None = None
        self._guide: np.ndarray | None = None
        self._guide_name: str | None = None
        self._scale_note = ""                       # "downscaled from ..." for the title bar
        # what the run produced
        self._result: np.ndarray | None = None
        self._result_step: int | None = None
        self._result_what = ""
        self._dirty = False
        self._live: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self._images: tuple[int, dict] | None = None   # the worker's QImages of the newest frame
        self._shown_step: int | None = None         # a snapshot on the canvas (None: live)
        self._run_cfg: RunConfig | None = None
        self._run_input: np.ndarray | None = None   # the input of the run (for compare)
        self._user_pick: int | None = None          # a step the user chose ("Use this iterate"): it wins
        self._after_stop = None                     # what to do once the stopping run has ended
        self._too_large_seen: set[str] = set()
        self._showing_result = False                # the canvas shows an output, not the input
        self._compare_key: tuple | None = None      # what the canvas compares against now
        self.recent = RecentFiles()

        self.controller = RunController(self)
        self._pending_progress: tuple[int, int, float] | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        # the painted mask and the unsaved result, kept beside the settings (app/autosave.py)
        self.autosave = Autosave()
        self._autosaved_image: np.ndarray | None = None   # the work image already in image.npy
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self._update_actions()
        self._update_title()

    # ================================================================== construction
    def _build_widgets(self) -> None:
        self.canvas = ImageCanvas(self)
        self.setCentralWidget(self.canvas)
        self.region_picker = _RegionPicker(self.canvas)

        # right dock: settings + run controls
        self.panel = SettingsPanel()
        right = QWidget()
        col = QVBoxLayout(right)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self.panel, 1)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        for b in (self.run_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        col.addLayout(buttons)
        cont = QHBoxLayout()
        self.continue_button = QPushButton("Continue")
        self.continue_spin = QSpinBox()
        self.continue_spin.setRange(1, 1_000_000)
        self.continue_spin.setSingleStep(100)
        self.continue_spin.setPrefix("+")
        self.continue_spin.setSuffix(" steps")
        self.continue_spin.setToolTip("How many steps Continue adds to a stopped or finished run")
        cont.addWidget(self.continue_button)
        cont.addWidget(self.continue_spin, 1)
        col.addLayout(cont)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("idle")
        col.addWidget(self.progress_bar)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        col.addWidget(self.progress_label)
        self.result_label = QLabel("no result yet")
        self.result_label.setWordWrap(True)
        col.addWidget(self.result_label)
        self.right_dock = QDockWidget("Restoration", self)
        self.right_dock.setObjectName("settingsDock")
        self.right_dock.setWidget(right)
        self.right_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, self.right_dock)

        # bottom dock: curves + timeline
        self.plots = RunPlots()
        self.timeline = Timeline()
        self.timeline.set_scrubbing_enabled(False)
        bottom = QWidget()
        bcol = QVBoxLayout(bottom)
        bcol.setContentsMargins(0, 0, 0, 0)
        bcol.addWidget(self.plots, 1)
        bcol.addWidget(self.timeline)
        self.bottom_dock = QDockWidget("Progress", self)
        self.bottom_dock.setObjectName("plotsDock")
        self.bottom_dock.setWidget(bottom)
        self.bottom_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.bottom_dock)

        # status bar
        sb = self.statusBar()
        self.size_label = QLabel("no image")
        self.device_label = QLabel("")
        self.zoom_label = QLabel("")
        self.cursor_label = QLabel("")
        for w in (self.cursor_label, self.zoom_label, self.size_label, self.device_label):
            sb.addPermanentWidget(w)
        # the settings column runs the full height; the curves sit under the image only
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.setCorner(Qt.TopRightCorner, Qt.RightDockWidgetArea)
        self.resize(1280, 860)
        self.resizeDocks([self.right_dock], [380], Qt.Horizontal)
        self.resizeDocks([self.bottom_dock], [260], Qt.Vertical)

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.setCheckable(checkable)
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        self.addAction(a)   # shortcuts work even when the menu bar is hidden
        return a

    def _build_actions(self) -> None:
        A = self._action
        self.act_open = A("&Open...", lambda: self.open_dialog(), QKeySequence.Open, "Open an image")
        self.act_open_mask = A("Open &mask...", lambda: self.open_mask_dialog(), None,
                               "Load an inpainting mask (white = known, black = to fill)")
        self.act_open_reference = A("Open &reference...", lambda: self.open_reference_dialog(), None,
                                    "A clean image to measure PSNR against (never used by the run)")
        self.act_open_guide = A("Open &flash photo...", lambda: self.open_guide_dialog(), None,
                                "The flash photo that guides a flash/no-flash run")
        self.act_save = A("&Save result...", lambda: self.save_result(), QKeySequence.Save,
                          "Save the result at full resolution")
        self.act_save_mask = A("Save mas&k...", lambda: self.save_mask_dialog(), None, "Save the painted mask")
        self.act_export_csv = A("&Export loss CSV...", lambda: self.export_csv(), None,
                                "Write the loss (and PSNR) curve as CSV")
        self.act_simulate = A("Si&mulate degradation...", lambda: self.simulate_dialog(), None,
                              "Degrade the current image to try a task with a known answer")
        self.act_region = A("Work on a &region...", lambda: self.pick_region(), None,
                            "Drag a rectangle on the image: the run uses only that part")
        self.act_whole = A("Work on the &whole image", lambda: self.clear_region(), None)
        self.act_quit = A("&Quit", self.close, QKeySequence.Quit)

        self.act_undo = A("&Undo mask edit", lambda: self._mask_op("undo"), QKeySequence.Undo)
        self.act_redo = A("&Redo mask edit", lambda: self._mask_op("redo"), QKeySequence.Redo)
        self.act_clear_mask = A("&Clear mask", lambda: self._mask_op("clear"), None)
        self.act_invert_mask = A("&Invert mask", lambda: self._mask_op("invert"), None)
        self.act_grow_mask = A(f"&Grow mask ({GROW_SHRINK_PX} px)", lambda: self._mask_op("grow"), "Ctrl+]")
        self.act_shrink_mask = A(f"S&hrink mask ({GROW_SHRINK_PX} px)", lambda: self._mask_op("shrink"), "Ctrl+[")

        self.act_zoom_in = A("Zoom &in", lambda: self.canvas.zoom_in(), ["Ctrl+=", "Ctrl++"])
        self.act_zoom_out = A("Zoom &out", lambda: self.canvas.zoom_out(), "Ctrl+-")
        self.act_fit = A("&Fit to window", lambda: self.canvas.fit(), "Ctrl+0")
        self.act_show_ema = A("Show &EMA (smoothed output)", self._on_show_ema, "Ctrl+E",
                              "Show the exponential moving average of the outputs", checkable=True)
        self.act_split = A("&Split view (input | result)", self._on_split, "Ctrl+D",
                           "Compare the input and the result side by side", checkable=True)
        self.act_overlay = A("Show mask &overlay", self._on_overlay_visible, "Ctrl+M", checkable=True)
        self.act_overlay.setChecked(True)
        self.opacity_group = QActionGroup(self)
        self.opacity_actions: dict[int, QAction] = {}
        for pct in (25, 50, 75, 100):
            a = QAction(f"{pct}%", self, checkable=True)
            a.triggered.connect(lambda _c=False, p=pct: self._set_overlay_opacity(p / 100))
            self.opacity_group.addAction(a)
            self.opacity_actions[pct] = a

        self.act_run = A("&Run", lambda: self.start_run(), ["F5", "Ctrl+Return", "Ctrl+Enter"],
                         "Start a restoration with the settings on the right")
        self.act_pause = A("&Pause", lambda: self.toggle_pause(), ["F6", "Ctrl+P"], "Pause or resume the run")
        self.act_stop = A("S&top", lambda: self.stop_run(), ["Esc", "Shift+F5"], "Stop the run after this step")
        self.act_continue = A("&Continue", lambda: self.continue_run(), "F7",
                              "Extend a stopped or finished run by the given number of steps")

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.act_open)
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        f.addAction(self.act_open_mask)
        f.addAction(self.act_open_reference)
        f.addAction(self.act_open_guide)
        f.addSeparator()
        f.addAction(self.act_save)
        f.addAction(self.act_save_mask)
        f.addAction(self.act_export_csv)
        f.addSeparator()
        f.addAction(self.act_simulate)
        f.addAction(self.act_region)
        f.addAction(self.act_whole)
        f.addSeparator()
        f.addAction(self.act_quit)
        e = mb.addMenu("&Edit")
        for a in (self.act_undo, self.act_redo):
            e.addAction(a)
        e.addSeparator()
        for a in (self.act_clear_mask, self.act_invert_mask, self.act_grow_mask, self.act_shrink_mask):
            e.addAction(a)
        v = mb.addMenu("&View")
        for a in (self.act_zoom_in, self.act_zoom_out, self.act_fit):
            v.addAction(a)
        v.addSeparator()
        v.addAction(self.act_show_ema)
        v.addAction(self.act_split)
        hold = v.addAction("Hold C to see the input")
        hold.setEnabled(False)
        v.addSeparator()
        v.addAction(self.act_overlay)
        om = v.addMenu("Mask overlay &opacity")
        for a in self.opacity_actions.values():
            om.addAction(a)
        v.addSeparator()
        v.addAction(self.right_dock.toggleViewAction())
        v.addAction(self.bottom_dock.toggleViewAction())
        r = mb.addMenu("&Run")
        for a in (self.act_run, self.act_pause, self.act_stop, self.act_continue):
            r.addAction(a)

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolBar")
        for a in (self.act_open, self.act_save, None, self.act_run, self.act_pause, self.act_stop,
                  self.act_continue, None, self.act_zoom_in, self.act_zoom_out, self.act_fit, None,
                  self.act_show_ema, self.act_split):
            if a is None:
                tb.addSeparator()
            else:
                tb.addAction(a)

    def _connect(self) -> None:
        self.run_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop_run)
        self.continue_button.clicked.connect(self.continue_run)

        c = self.controller
        c.ready.connect(self._on_ready)
        c.losses.connect(self.plots.append_losses)
        c.display.connect(self._on_display_images)
        c.preview.connect(self._on_preview)
        c.psnr.connect(self._on_psnr)
        c.suggested.connect(self._on_suggested)
        c.progress.connect(self._on_progress)
        c.snapshot.connect(self._on_snapshot)
        c.result.connect(self._on_result)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.stateChanged.connect(lambda _s: self._update_actions())

        self.panel.taskChanged.connect(self._on_task_changed)
        self.panel.validityChanged.connect(lambda _v: self._update_actions())
        self.panel.configChanged.connect(self._update_device_label)
        self.panel.guideRequested.connect(self.open_guide_dialog)
        self.panel.tooLarge.connect(self._on_too_large)

        self.timeline.stepChosen.connect(self.show_snapshot)
        self.timeline.useRequested.connect(self.use_iterate)
        self.plots.stepClicked.connect(self._on_plot_clicked)
        self.region_picker.picked.connect(self.set_region)
        self.region_picker.cancelled.connect(lambda: self.statusBar().showMessage("Region selection cancelled", 3000))

        self.canvas.zoomChanged.connect(self._on_zoom)
        self.canvas.cursorMoved.connect(self._on_cursor)
        self.canvas.brushSizeChanged.connect(lambda v: keys.settings().setValue(keys.BRUSH_SIZE, v))
        self.canvas.maskChanged.connect(self._update_actions)
        self.canvas.maskChanged.connect(self._schedule_autosave)

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = keys.settings()
        geo = s.value(keys.GEOMETRY)
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = s.value(keys.STATE)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.panel.restore_state(s)
        brush = keys.value(keys.BRUSH_SIZE, 0, int)
        if brush > 0:
            self.canvas.set_brush_size(brush)
        self.act_show_ema.setChecked(keys.value(keys.SHOW_EMA, False, bool))
        pct = keys.value(keys.OVERLAY_OPACITY, 50, int)
        pct = pct if pct in self.opacity_actions else 50
        self.opacity_actions[pct].setChecked(True)
        self.canvas.set_overlay_opacity(pct / 100)
        self.continue_spin.setValue(keys.value(keys.CONTINUE_STEPS, DEFAULT_CONTINUE_STEPS, int))
        self._on_task_changed(self.panel.task())
        self._update_device_label()

    def _save_settings(self) -> None:
        s = keys.settings()
        s.setValue(keys.GEOMETRY, self.saveGeometry())
        s.setValue(keys.STATE, self.saveState())
        s.setValue(keys.SHOW_EMA, self.act_show_ema.isChecked())
        s.setValue(keys.CONTINUE_STEPS, self.continue_spin.value())
        self.panel.save_state(s)
        s.sync()

    def _last_dir(self) -> str:
        d = keys.value(keys.LAST_DIR, "", str)
        return d if d and os.path.isdir(d) else str(Path.home())

    def _remember_dir(self, path: str) -> None:
        keys.settings().setValue(keys.LAST_DIR, str(Path(path).resolve().parent))

    # ================================================================== questions and errors
    def _error(self, title: str, message: str) -> None:
        self.statusBar().showMessage(message, 10000)
        QMessageBox.warning(self, title, message)

    def _ask(self, title: str, text: str, buttons=QMessageBox.Yes | QMessageBox.No,
             default=QMessageBox.No):
        return QMessageBox.question(self, title, text, buttons, default)

    def _confirm_discard_result(self, action: str) -> bool:
        """True when there is no unsaved result or the user lets it go (or saved it)."""
        if self._result is None or not self._dirty:
            return True
        ans = self._ask("Unsaved result", f"The result has not been saved. Save it before {action}?",
                        QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if ans == QMessageBox.Save:
            return self.save_result()
        return ans == QMessageBox.Discard

    def _confirm_stop_run(self, action: str, retry=None) -> bool:
        """True when no run is going. Otherwise ask; on Yes the run is told to stop and
        ``retry`` is called once it has ended (the window never waits for a step in
        flight, which can take seconds on a large image), and this returns False."""
        if not self.controller.active:
            return True
        if self._after_stop is not None:
            self.statusBar().showMessage("The run is stopping; try again in a moment", 5000)
            return False
        ans = self._ask("A run is going", f"A restoration is running. Stop it and {action}?",
                        QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if ans != QMessageBox.Yes:
            return False
        self._stop_then(action, retry or (lambda: None))
        return False

    # ================================================================== files
    def _ask_image_path(self, title: str) -> str:
        """An image file picked in an open dialog starting in the last folder ('' = cancelled)."""
        exts = " ".join(f"*{e}" for e in OPEN_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_dir(),
                                              f"Images ({exts});;All files (*)")
        return path

    def open_dialog(self) -> None:
        path = self._ask_image_path("Open image")
        if path:
            self.open_path(path)

    def use_sample_settings(self) -> None:
        """The bundled sample is noisy: start on the narrow denoising preset, which shows a
        clean result within a couple of minutes on a laptop CPU (the paper's 128-channel
        network needs ~10x longer there)."""
        try:
            device = self.panel.config().device
        except Exception:  # noqa: BLE001 - an invalid saved field must not block the sample
            device = "auto"
        stop = "auto" if self.panel.auto_stop_check.isChecked() else "never"
        self.panel.set_config(get_config("denoise-fast", device=device, stop=stop))

    def open_path(self, path: str, reference: str | None = None) -> bool:
        """Open an image (and optionally its clean reference). False: nothing changed."""
        if not self._confirm_stop_run("open another image", lambda: self.open_path(path, reference)) \
                or not self._confirm_discard_result(
                "opening another image"):
            return False
        try:
            loaded = load_image(path)
        except DIPError as e:
            self._error("Cannot open image", str(e))
            return False
        ref = None
        if reference:
            try:
                ref = load_image(reference).array
            except DIPError as e:
                self.statusBar().showMessage(f"reference not loaded: {e}", 8000)
        self._set_loaded(loaded, ref)
        self.recent.add(path)
        self._remember_dir(path)
        h, w, c = loaded.array.shape
        self.statusBar().showMessage(f"Opened {Path(path).name}: {w} x {h}, "
                                     f"{'grayscale' if c == 1 else 'colour'}", 8000)
        return True

    def _set_loaded(self, loaded: Loaded, reference: np.ndarray | None = None,
                    note: str = "") -> None:
        self.controller.discard()
        self._loaded = loaded
        self._full = loaded.array
        self._full_reference = reference
        self._region = None
        self._scale_note = note
        if self._guide is not None:   # a flash photo belongs to the image it was opened for
            self._guide = None
            self._guide_name = None
            self.panel.set_guide_name(None)
        self._too_large_seen.clear()
        self._set_work_image(self._full)

    def _set_work_image(self, image: np.ndarray) -> None:
        """Show ``image`` as what a run restores; clears the run and the result."""
        self.controller.discard()
        self._image = image
        self._result = None
        self._result_step = None
        self._dirty = False
        self._live = None
        self._images = None
        self._shown_step = None
        self._run_input = None
        self._run_cfg = None
        self.canvas.set_image(image)     # also ends compare mode
        self._showing_result = False
        self._compare_key = None
        self.plots.reset(reference_known=self._reference() is not None)
        self.timeline.clear()
        self.timeline.set_scrubbing_enabled(False)
        self.result_label.setText("no result yet")
        self._pending_progress = None
        self._progress_timer.stop()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("idle")
        self.progress_label.setText("")
        h, w, c = image.shape
        self.panel.set_image_size(h, w, c)
        region = f" (region {self._region[2]} x {self._region[3]} at {self._region[0]},{self._region[1]})" \
            if self._region else ""
        note = f" ({self._scale_note})" if self._scale_note else ""
        self.size_label.setText(f"{w} x {h} {'gray' if c == 1 else 'RGB'}{region}{note}")
        self._apply_compare()
        self._update_title()
        self._update_actions()
        self._schedule_autosave()

    def _reference(self) -> np.ndarray | None:
        """The reference in the geometry of the current work image's result, if it fits."""
        ref = self._full_reference
        if ref is None or self._full is None:
            return None
        fh, fw = self._full.shape[:2]
        rh, rw = ref.shape[:2]
        if rh % fh or rw % fw or rh // fh != rw // fw:
            return None
        k = rh // fh
        if self._region is not None:
            x, y, w, h = self._region
            ref = ref[y * k:(y + h) * k, x * k:(x + w) * k]
        return ref

    def _run_reference(self, cfg: RunConfig) -> np.ndarray | None:
        ref = self._reference()
        if ref is None or self._image is None:
            return None
        h, w = self._image.shape[:2]
        k = cfg.scale if cfg.task == "superres" else 1
        return ref if ref.shape[:2] == (h * k, w * k) else None

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for p in paths:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.setStatusTip(p)
            a.triggered.connect(lambda _c=False, path=p: self._open_recent(path))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.recent.clear)

    def _open_recent(self, path: str) -> None:
        if not os.path.exists(path):
            self.recent.remove(path)
            self._error("Cannot open image", f"{path} no longer exists; removed it from the list")
            return
        self.open_path(path)

    def open_mask_dialog(self) -> None:
        if self._image is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open mask", self._last_dir(),
                                              "Masks (*.png *.tif *.tiff *.bmp);;All files (*)")
        if path:
            self.open_mask(path)

    def open_mask(self, path: str) -> bool:
        """Load a known-mask (white = known) for the work image; a whole-image mask is cropped
        to the region."""
        if self._image is None:
            return False
        try:
            if self._region is not None:
                try:
                    full = load_mask(path, self._full.shape[:2])
                    x, y, w, h = self._region
                    known = full[y:y + h, x:x + w]
                except MaskError:
                    known = load_mask(path, self._image.shape[:2])
            else:
                known = load_mask(path, self._image.shape[:2])
            if self.panel.task() != "inpaint":
                self.panel.set_task("inpaint")
            self.canvas.mask_model.set_from_known(known)
        except DIPError as e:
            self._error("Cannot use mask", str(e))
            return False
        self._remember_dir(path)
        self.statusBar().showMessage(f"Mask {Path(path).name}: {int((~known).sum())} pixels to fill", 8000)
        return True

    def save_mask_dialog(self) -> None:
        if self._image is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save mask", str(Path(self._last_dir()) / "mask.png"),
                                              "PNG (*.png);;TIFF (*.tif *.tiff)")
        if path:
            try:
                save_mask(path, self.canvas.mask_model.known)
            except DIPError as e:
                self._error("Cannot save mask", str(e))
                return
            self._remember_dir(path)
            self.statusBar().showMessage(f"Saved mask {path}", 5000)

    def open_reference_dialog(self) -> None:
        if self._full is None:
            return
        path = self._ask_image_path("Open clean reference")
        if not path:
            return
        try:
            ref = load_image(path).array
        except DIPError as e:
            self._error("Cannot open reference", str(e))
            return
        fh, fw = self._full.shape[:2]
        rh, rw = ref.shape[:2]
        if rh % fh or rw % fw or rh // fh != rw // fw:
            self._error("Reference does not fit",
                        f"the reference is {rw}x{rh} but the image is {fw}x{fh}: it must be the same "
                        f"size (or, for super-resolution, the size times the factor)")
            return
        self._full_reference = ref
        self.plots.set_reference_known(True)
        self.statusBar().showMessage(f"Reference {Path(path).name}: PSNR is shown during the next run", 8000)

    def open_guide_dialog(self) -> None:
        if self._image is None:
            return
        path = self._ask_image_path("Open flash photo")
        if path:
            self.open_guide(path)

    def open_guide(self, path: str) -> bool:
        try:
            guide = load_image(path).array
        except DIPError as e:
            self._error("Cannot open flash photo", str(e))
            return False
        if self._region is not None and guide.shape[:2] == self._full.shape[:2]:
            x, y, w, h = self._region
            guide = guide[y:y + h, x:x + w]
        if guide.shape[:2] != self._image.shape[:2]:
            gh, gw = guide.shape[:2]
            h, w = self._image.shape[:2]
            self._error("Flash photo does not fit",
                        f"the flash photo is {gw}x{gh} but the no-flash photo is {w}x{h} (W x H)")
            return False
        self._guide = guide
        self._guide_name = Path(path).name
        self.panel.set_guide_name(self._guide_name)
        return True

    # ---- saving ------------------------------------------------------------------
    def _default_save_name(self) -> str:
        stem = Path(self._loaded.path).stem if self._loaded else "result"
        return str(Path(self._last_dir()) / f"{stem}_restored.png")

    def _full_result(self) -> np.ndarray:
        """The result at the size the user expects: a region's result pasted back."""
        res = self._result
        if self._region is None:
            return res
        x, y, w, h = self._region
        k = res.shape[0] // h
        full = self._full
        if k != 1:   # super-resolution of a region: the rest of the image is upscaled bicubically
            full = resize_image(full, full.shape[1] * k, full.shape[0] * k)
        else:
            full = full.copy()
        if full.shape[2] != res.shape[2]:
            res = np.repeat(res[:, :, :1], full.shape[2], axis=2) if full.shape[2] == 3 else \
                res.mean(axis=2, keepdims=True)
        full[y * k:(y + h) * k, x * k:(x + w) * k] = res
        return full

    def save_result(self, path: str | None = None) -> bool:
        """Write the result (exactly the chosen array) to ``path`` or a chosen file."""
        if self._result is None:
            self.statusBar().showMessage("Nothing to save yet: run a restoration first", 5000)
            return False
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save result", self._default_save_name(), SAVE_FILTERS)
            if not path:
                return False
            if not Path(path).suffix:
                path += ".png"
        try:
            save_image(path, self._full_result(), like=self._loaded)
        except DIPError as e:
            self._error("Cannot save", str(e))
            return False
        self._remember_dir(path)
        self._dirty = False
        self._update_title()
        self._schedule_autosave()   # the result is safe now: only the mask stays autosaved
        self.statusBar().showMessage(f"Saved {self._result_what} to {path}", 8000)
        return True

    def export_csv(self, path: str | None = None) -> bool:
        steps, losses = self.plots.loss_data()
        if len(steps) == 0:
            self.statusBar().showMessage("No loss curve to export yet", 5000)
            return False
        if path is None:
            stem = Path(self._loaded.path).stem if self._loaded else "run"
            path, _ = QFileDialog.getSaveFileName(self, "Export loss CSV",
                                                  str(Path(self._last_dir()) / f"{stem}_loss.csv"),
                                                  "CSV (*.csv)")
            if not path:
                return False
        ps = self.plots.psnr_data()
        out = dict(zip(ps["output"][0].tolist(), ps["output"][1].tolist()))
        ema = dict(zip(ps["ema"][0].tolist(), ps["ema"][1].tolist()))
        lines = ["step,loss,psnr_output,psnr_ema"]
        for s, l in zip(steps.tolist(), losses.tolist()):
            o, e = out.get(s), ema.get(s)
            lines.append(f"{s},{l:.8g},{'' if o is None else f'{o:.4f}'},{'' if e is None else f'{e:.4f}'}")
        text = "\n".join(lines) + "\n"

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(text)

        try:
            atomic_write(path, write)
        except DIPError as e:
            self._error("Cannot export", str(e))
            return False
        self.statusBar().showMessage(f"Wrote {len(steps)} steps to {path}", 5000)
        return True

    # ---- simulate, region, downscale -------------------------------------------
    def simulate_dialog(self) -> None:
        if self._image is None or not self._confirm_stop_run("simulate", self.simulate_dialog) or \
                not self._confirm_discard_result("simulating"):
            return
        dlg = SimulateDialog(self._image, self)
        if dlg.exec() != SimulateDialog.Accepted:
            return
        sim = dlg.result_data()
        if sim is not None:
            self.apply_simulated(sim)

    def apply_simulated(self, sim) -> None:
        """Replace the work image by a simulated degradation with its known answer."""
        name = Path(self._loaded.path).name if self._loaded else "image"
        loaded = Loaded(array=np.asarray(sim.degraded, dtype=np.float32), mode="RGB" if sim.degraded.shape[2] == 3
                        else "L", bit_depth=8, alpha=None, path=str(Path(self._last_dir()) / f"simulated_{name}"),
                        format=None)
        self._set_loaded(loaded, np.asarray(sim.reference, dtype=np.float32),
                         note=getattr(sim, "description", "") or "simulated")
        self.panel.set_task(sim.task)
        if sim.task == "superres" and sim.scale:
            try:
                self.panel.set_config(self.panel.config().replace(scale=int(sim.scale)))
            except DIPError as e:
                self.statusBar().showMessage(f"set the factor x{sim.scale} by hand: {e}", 8000)
        if sim.mask is not None:
            self.canvas.mask_model.set_from_known(sim.mask)
        self._update_title()

    def pick_region(self) -> None:
        if self._full is None or self.controller.active:
            return
        if self._region is not None:
            self.clear_region()
        self.statusBar().showMessage("Drag a rectangle over the part to restore (Esc cancels)")
        self.region_picker.start()

    def set_region(self, x: int, y: int, w: int, h: int) -> bool:
        """Work on ``_full[y:y+h, x:x+w]``; the result is pasted back when saving."""
        if self._full is None or self.controller.active:
            return False
        fh, fw = self._full.shape[:2]
        x0, y0 = max(0, min(x, fw)), max(0, min(y, fh))
        x1, y1 = max(0, min(x + w, fw)), max(0, min(y + h, fh))
        if x1 - x0 < 8 or y1 - y0 < 8:
            self.statusBar().showMessage("The region is too small (at least 8 x 8 pixels)", 5000)
            return False
        if not self._confirm_discard_result("working on a region"):
            return False
        paint = self.canvas.mask_model.paint[y0:y1, x0:x1].copy() \
            if self._region is None and self.canvas.mask_model.shape == (fh, fw) else None
        self._region = (x0, y0, x1 - x0, y1 - y0)
        if self._guide is not None and self._guide.shape[:2] == (fh, fw):
            self._guide = self._guide[y0:y1, x0:x1]
        elif self._guide is not None:
            self._guide = None
            self.panel.set_guide_name(None)
        self._set_work_image(self._full[y0:y1, x0:x1])
        if paint is not None and paint.any():
            self.canvas.mask_model.set_paint(paint)
        self.statusBar().showMessage(f"Working on a {x1 - x0} x {y1 - y0} region; saving pastes the "
                                     "result back into the whole image", 8000)
        return True

    def clear_region(self) -> None:
        if self._region is None or self.controller.active:
            return
        if not self._confirm_discard_result("going back to the whole image"):
            return
        self._region = None
        self._guide = None
        self.panel.set_guide_name(None)
        self._set_work_image(self._full)

    def _fit_scale(self) -> float | None:
        """The downscale factor (< 1) at which the estimate fits the device, or None."""
        try:
            cfg = self.panel.config()
            from engine.estimate import estimate_cost
            dev = pick_device(cfg.device).type
            budget = 0.8 * device_memory_bytes(dev)
            h, w = self._image.shape[:2]
            k = cfg.scale if cfg.task == "superres" else 1
            s = 1.0
            for _ in range(20):
                s *= 0.8
                if estimate_cost(cfg, max(8, int(h * s)) * k, max(8, int(w * s)) * k, dev).bytes <= budget:
                    return s
        except (DIPError, ValueError, RuntimeError) as e:
            log.warning("no downscale estimate: %s", e)
        return None

    def downscale_to_fit(self, scale: float | None = None) -> bool:
        if self._full is None:
            return False
        scale = scale or self._fit_scale()
        if scale is None:
            self._error("Cannot downscale", "no size found at which the estimate fits; try fewer channels")
            return False
        h, w = self._full.shape[:2]
        nh, nw = max(8, int(round(h * scale))), max(8, int(round(w * scale)))
        small = resize_image(self._full, nw, nh)
        ref = None
        if self._full_reference is not None and self._full_reference.shape[:2] == (h, w):
            ref = resize_image(self._full_reference, nw, nh)
        loaded = Loaded(array=small, mode=self._loaded.mode, bit_depth=self._loaded.bit_depth, alpha=None,
                        path=self._loaded.path, format=self._loaded.format,
                        icc_profile=self._loaded.icc_profile)
        self._set_loaded(loaded, ref, note=f"downscaled from {w} x {h}")
        self.canvas.mask_model.clear_history()
        self.statusBar().showMessage(f"Downscaled to {nw} x {nh} (from {w} x {h})", 8000)
        return True

    def _on_too_large(self, message: str) -> None:
        if self._image is None or self.controller.active or message in self._too_large_seen:
            return
        self._too_large_seen.add(message)
        box = QMessageBox(QMessageBox.Warning, "Image too large for the device", message, parent=self)
        down = box.addButton("Downscale to fit", QMessageBox.AcceptRole)
        region = box.addButton("Work on a region...", QMessageBox.ActionRole)
        box.addButton("Keep as is", QMessageBox.RejectRole)
        box.exec()
        if box.clickedButton() is down:
            self.downscale_to_fit()
        elif box.clickedButton() is region:
            self.pick_region()

    # ================================================================== the run
    def start_run(self) -> bool:
        if self._image is None or self.controller.active:
            return False
        try:
            cfg = self.panel.config()
        except ConfigError as e:
            self._error("Settings", str(e))
            return False
        mask = guide = None
        if cfg.task == "inpaint":
            mask = self.canvas.mask_model.known
            if mask.all():
                self._error("Nothing to fill", "Paint over the pixels to fill (or File > Open mask) first.")
                return False
        if cfg.task == "flash":
            if self._guide is None:
                self._error("Flash photo needed", "Flash / no-flash needs the flash photo: File > Open flash photo.")
                return False
            guide = self._guide
        if not self._confirm_discard_result("starting a new run"):
            return False
        if cfg.stop == "auto":
            # stopping at the best iterate means presenting it: the rule's pick, whatever
            # the preset writes on the command line (the user can still pick another)
            cfg = cfg.replace(pick="auto")
        reference = self._run_reference(cfg)
        self._result = None
        self._result_step = None
        self._dirty = False
        self._live = None
        self._shown_step = None
        self._run_cfg = cfg
        self._user_pick = None
        self._images = None
        self._run_input = self._image
        self._showing_result = False
        self.canvas.set_display(None)
        self._apply_compare()
        self.plots.reset(reference_known=reference is not None, total=cfg.iterations)
        self.timeline.clear()
        self.timeline.set_total(cfg.iterations)
        self.timeline.set_scrubbing_enabled(False)
        self.result_label.setText("no result yet")
        self._pending_progress = None
        self._progress_timer.stop()
        self.progress_bar.setRange(0, cfg.iterations)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("building the network...")
        self.progress_label.setText("")
        self.controller.start(cfg, self._image, mask, guide, reference)
        self._after_run_state_change()
        return True

    def toggle_pause(self) -> None:
        st = self.controller.state
        if st == "paused":
            self.controller.resume()
            self.statusBar().showMessage("Resumed", 3000)
        elif st in ("running", "building"):
            self.controller.pause()
            self.progress_bar.setFormat("paused at step %v of %m")
            self.statusBar().showMessage("Paused (F6 resumes)")

    def stop_run(self) -> None:
        if self.region_picker.active:
            self.region_picker.stop()
            self.statusBar().showMessage("Region selection cancelled", 3000)
            return
        if self.controller.state in ("building", "running", "paused"):
            self.controller.stop()
            self.progress_bar.setFormat("stopping...")

    def continue_run(self, steps: int | None = None) -> bool:
        if not self.controller.can_continue:
            return False
        n = int(steps or self.continue_spin.value())
        self.controller.continue_run(n)
        run = self.controller.run
        self._shown_step = None
        self.plots.set_shown(None)
        self.timeline.set_follow(True)
        self.timeline.set_scrubbing_enabled(False)
        self.timeline.set_total(run.total_steps)
        self.plots.set_total(run.total_steps)
        self.progress_bar.setRange(0, run.total_steps)
        self._after_run_state_change()
        return True

    def _after_run_state_change(self) -> None:
        self._update_actions()
        self._on_task_changed(self.panel.task())

    # ---- controller signals --------------------------------------------------------
    def _on_ready(self, info: dict) -> None:
        self.device_label.setText(info["device"])
        self.progress_bar.setFormat("step %v of %m")
        self.statusBar().showMessage(f"Network: {info['params']:,} parameters on {info['device']}", 5000)
        oh, ow = info["out_shape"][:2]
        if self._image is not None and (oh, ow) != self._image.shape[:2]:
            self.statusBar().showMessage(f"The result will be {ow} x {oh}", 5000)

    def _on_display_images(self, step: int, images: dict) -> None:
        self._images = (step, images)

    def _ready_image(self, step: int, key: str):
        """The worker's QImage of ``key`` at ``step``, or None (then the canvas converts)."""
        if self._images is None or self._images[0] != step:
            return None
        return self._images[1].get(key)

    def _on_preview(self, step: int, output: np.ndarray, ema) -> None:
        self._live = (step, output, ema)
        if self._shown_step is None:
            # a super-resolved preview is larger: the canvas stretches it over the input's
            # frame, so it shows at full detail when zoomed in and the view stays put
            self._display(output, ema, step)

    def _on_psnr(self, step: int, values: dict) -> None:
        self.plots.add_psnr(step, values)
        parts = [f"{k} {v:.2f} dB" for k, v in values.items() if v is not None and np.isfinite(v)]
        self.progress_label.setText("PSNR: " + ", ".join(parts))

    def _on_suggested(self, step: int, score: float, kind: str) -> None:
        rule = self._run_cfg.stop_rule if self._run_cfg is not None else "holdout"
        what = "held-out pixel error" if rule == "holdout" else "window variance"
        img = "moving average" if kind == "ema" else "output"
        self.plots.set_suggested(step, f"best @{step} ({'avg' if kind == 'ema' else 'out'})",
                                 f"The stopping rule's best iterate so far: step {step}, the {img} "
                                 f"({what} {score:.3g})")

    def _on_progress(self, step: int, total: int, rate: float) -> None:
        # QProgressBar.setValue repaints synchronously (holding the GIL the worker needs):
        # show the newest values a few times per second, not on every batch
        self._pending_progress = (step, total, rate)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        self._progress_timer.stop()
        if self._pending_progress is None:
            return
        step, total, rate = self._pending_progress
        self._pending_progress = None
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        text = f"step {step} of {total}"
        if rate > 0:
            text += f" \u00b7 {rate:.2f} steps/s \u00b7 ETA {_format_eta((total - step) / rate)}"
        if self.controller.state == "paused":
            text += " \u00b7 paused"
        self.progress_bar.setFormat(text)

    def _on_snapshot(self, _step: int) -> None:
        hist = self.controller.history
        if hist is not None:
            run = self.controller.run
            self.timeline.set_steps(hist.steps, run.total_steps if run is not None else None)

    def _on_result(self, step: int, array: np.ndarray) -> None:
        if self._user_pick is not None and self._result is not None:
            # the user's own pick wins over the rule's (e.g. after Continue)
            self.statusBar().showMessage(f"Kept your chosen iterate (step {self._user_pick}); "
                                         f"the rule's best is step {step}", 8000)
            return
        pick = self._run_cfg.pick if self._run_cfg else "last"
        if pick == "auto":
            run = self.controller.run
            kind = run.suggested_kind if run is not None else None
            what = "the best iterate" + (" (moving average)" if kind == "ema" else " (output)" if kind else "")
        else:
            what = {"ema": "the EMA", "last": "the last output"}.get(pick, pick)
        self._set_result(array, step, f"{what} at step {step}")
        if pick == "auto":
            if kind in ("ema", "output") and self.act_show_ema.isChecked() != (kind == "ema"):
                # the toggle says what the canvas shows: the rule's image (scrubbing keeps it)
                was = self.act_show_ema.blockSignals(True)
                self.act_show_ema.setChecked(kind == "ema")
                self.act_show_ema.blockSignals(was)
            self._show_result_image(array, step)

    def _show_result_image(self, array: np.ndarray, step: int) -> None:
        """Put the result itself on the canvas (the rule's best is not the last preview)."""
        ready = self._ready_image(step, "result")
        self.canvas.set_display(ready if ready is not None else array)
        self._showing_result = True
        self._apply_compare()
        hist = self.controller.history
        if hist is not None and step in hist.steps:
            self._shown_step = step
            self.plots.set_shown(step)
            self.timeline.set_steps(hist.steps)
            self.timeline.set_current(step)
            self.timeline.set_follow(False)

    def _set_result(self, array: np.ndarray, step: int, what: str) -> None:
        self._result = array
        self._result_step = step
        self._result_what = what
        self._dirty = True
        self.result_label.setText(f"Result: {what} (Ctrl+S saves it)")
        self._update_title()
        self._update_actions()
        self._schedule_autosave()

    def _on_finished(self, reason: str) -> None:
        self._show_progress()
        run = self.controller.run
        step = run.step if run is not None else 0
        info = self.controller.last_summary or {}
        how = info.get("how", "limit" if reason == "done" else "request")
        best = info.get("suggested")
        kind = "moving average" if info.get("kind") == "ema" else "output"
        if how == "rule" and best is not None:
            text = f"Stopped at the best iterate (step {best[0]}, {kind}): {info.get('reason', '')}"
            self.progress_bar.setFormat(f"stopped by itself at step {step}: best at {best[0]}")
        elif reason == "done":
            text = f"Done: {step} steps"
            if best is not None:
                text += f"; best iterate at step {best[0]} ({kind})"
            self.progress_bar.setFormat(f"done: {step} steps")
        else:
            text = f"Stopped at step {step}"
            self.progress_bar.setFormat(f"stopped at step {step} of {run.total_steps if run else step}")
        if how != "request":
            self.progress_bar.setRange(0, max(step, 1))
            self.progress_bar.setValue(step)
        # the rule's reason stays until the next message (it explains the result)
        self.statusBar().showMessage(text, 0 if how == "rule" else 20000)
        self.plots.set_stop_reason(info.get("reason") if how != "request" else None)
        self._enter_review()
        if info.get("failed_to_fit"):
            self._report_no_fit(step)
        elif self._result is not None and self._user_pick is None:
            self.result_label.setText(f"Result: {self._result_what} (Ctrl+S saves it)"
                                      + (f"\n{info['reason']}" if how == "rule" else ""))
        self._run_after_stop()

    def _report_no_fit(self, step: int) -> None:
        """The run never fitted better than a flat image: say so; its output is no result."""
        self._result = None
        self._result_step = None
        self._dirty = False
        self.result_label.setText("No result: the run did not fit the image")
        self.progress_bar.setFormat(f"failed to fit ({step} steps)")
        self._update_title()
        self._update_actions()
        self._schedule_autosave()
        self._error("The run did not fit the image",
                    f"In {step} steps the network never matched the image better than a flat colour, "
                    "so its output is not a restoration (this happens when the learning rate is far "
                    "too high). Lower the learning rate under Advanced, or choose a preset again, "
                    "and run again.")

    def _on_failed(self, message: str) -> None:
        self._show_progress()
        self.progress_bar.setFormat("failed")
        self._enter_review()
        self._error("The run failed", message)
        self._run_after_stop()

    def _run_after_stop(self) -> None:
        """The run has ended: do what waited for it (open, simulate, close)."""
        fn, self._after_stop = self._after_stop, None
        if fn is not None:
            QTimer.singleShot(0, fn)

    def _stop_then(self, what: str, fn) -> None:
        """Stop the run and call ``fn`` once it has ended; never waits on this thread."""
        if not self.controller.active:   # it ended while the question was open
            QTimer.singleShot(0, fn)
            return
        self._after_stop = fn
        if self.controller.state in ("building", "running", "paused"):
            self.controller.stop()
        self.progress_bar.setFormat("stopping...")
        self.statusBar().showMessage(f"Stopping the run; {what} when the step in flight ends")

    def _enter_review(self) -> None:
        """After a run: the curves show every step, the timeline scrubs the kept snapshots."""
        self.plots.flush()
        hist = self.controller.history
        if hist is not None and len(hist):
            run = self.controller.run
            self.timeline.set_steps(hist.steps, run.total_steps if run is not None else None)
            self.timeline.set_scrubbing_enabled(True)
        self._after_run_state_change()

    # ---- scrubbing ---------------------------------------------------------------
    def show_snapshot(self, step: int) -> bool:
        """Show the kept snapshot nearest ``step`` on the canvas (not while a run goes)."""
        hist = self.controller.history
        if hist is None or self.controller.active:
            return False
        near = hist.nearest(step)
        if near is None:
            return False
        snap = hist.get(near)
        self._shown_step = near
        self.plots.set_shown(near)
        if self.timeline.current_step() != near:
            self.timeline.set_current(near)
        self._display(snap.output, snap.ema)
        return True

    def _on_plot_clicked(self, step: int) -> None:
        self.show_snapshot(step)

    def shown_array(self) -> np.ndarray | None:
        """What the canvas shows as the result now (output or EMA per the toggle)."""
        if self._shown_step is not None and self.controller.history is not None:
            snap = self.controller.history.get(self._shown_step)
            return self._pick(snap.output, snap.ema)
        if self._live is not None:
            return self._pick(self._live[1], self._live[2])
        return None

    def use_iterate(self, step: int | None = None) -> bool:
        """Make the shown snapshot (output or EMA per the toggle) the result."""
        hist = self.controller.history
        if hist is None or self.controller.active:
            return False
        if step is None:
            step = self._shown_step if self._shown_step is not None else self.timeline.current_step()
        if step is None:
            return False
        step = hist.nearest(step)
        snap = hist.get(step)
        use_ema = self.act_show_ema.isChecked() and snap.ema is not None
        self._set_result((snap.ema if use_ema else snap.output).copy(), step,
                         f"the {'EMA' if use_ema else 'output'} at step {step} (your choice)")
        self._user_pick = step
        self.statusBar().showMessage(f"The result is now the {'EMA' if use_ema else 'output'} at step {step}", 5000)
        return True

    def _pick(self, output: np.ndarray, ema) -> np.ndarray:
        return ema if self.act_show_ema.isChecked() and ema is not None else output

    def _display(self, output: np.ndarray, ema, live_step: int | None = None) -> None:
        """Show the output or the EMA (per the toggle); for a live frame, the QImage the
        worker already made, so a large preview costs the GUI thread no conversion."""
        use_ema = self.act_show_ema.isChecked() and ema is not None
        ready = None if live_step is None else self._ready_image(live_step, "ema" if use_ema else "output")
        self.canvas.set_display(ready if ready is not None else (ema if use_ema else output))
        self._showing_result = True
        self._apply_compare()

    # ================================================================== view
    def _on_show_ema(self, _checked: bool) -> None:
        if self._shown_step is not None and self.controller.history is not None:
            snap = self.controller.history.get(self._shown_step)
            self._display(snap.output, snap.ema)
        elif self._live is not None:
            self._display(self._live[1], self._live[2], self._live[0])

    def _apply_compare(self) -> None:
        """Split view shows input | result; otherwise holding C shows the input (the canvas
        handles the key while it has focus). The canvas stretches the input onto the
        result, so a super-resolution input needs no resizing here."""
        if self._image is None:
            return
        src = self._run_input if self._run_input is not None else self._image
        key = None if not self._showing_result else (id(src), self.act_split.isChecked())
        if key == self._compare_key:
            return   # previews arrive every 200 ms: do not re-upload the same input each time
        self._compare_key = key
        if key is None:   # the canvas shows the input already
            self.canvas.set_compare(None)
        else:
            self.canvas.set_compare(src, 0.5 if self.act_split.isChecked() else None)

    def _on_split(self, _checked: bool) -> None:
        self._apply_compare()

    def _on_overlay_visible(self, on: bool) -> None:
        self.canvas.set_overlay_visible(on)

    def _set_overlay_opacity(self, opacity: float) -> None:
        self.canvas.set_overlay_opacity(opacity)
        keys.settings().setValue(keys.OVERLAY_OPACITY, int(round(opacity * 100)))

    def _on_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def _on_cursor(self, x: int, y: int) -> None:
        if x < 0 or y < 0:
            self.cursor_label.setText("")
        else:
            self.cursor_label.setText(f"x {x}, y {y}")

    def _update_device_label(self) -> None:
        if self.controller.run is not None:
            return
        try:
            device = pick_device(self.panel.config().device)
            # the GUI thread's torch is pinned to one thread; runs get the rest
            text = f"cpu ({self.controller.threads} threads)" if device.type == "cpu" else describe(device)
            self.device_label.setText(text)
        except DIPError:
            self.device_label.setText("device: ?")

    def _is_compare_key(self, event) -> bool:
        return event.key() == Qt.Key_C and not event.isAutoRepeat() and \
            not event.modifiers() & (Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier)

    def keyPressEvent(self, event) -> None:   # noqa: N802
        # C held while the canvas is not focused: the same as on the canvas
        if self._is_compare_key(event):
            self.canvas.set_compare_held(True)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:   # noqa: N802
        if self._is_compare_key(event):
            self.canvas.set_compare_held(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # ================================================================== state
    def _on_task_changed(self, task: str) -> None:
        inpaint = task == "inpaint"
        self.canvas.set_painting_enabled(inpaint and not self.controller.active)
        self.canvas.set_overlay_visible(inpaint and self.act_overlay.isChecked())
        self._update_actions()

    def _update_actions(self, *_args) -> None:
        c = self.controller
        has_image = self._image is not None
        active = c.active
        inpaint = self.panel.task() == "inpaint"
        can_edit_mask = has_image and inpaint and not active
        model = self.canvas.mask_model if has_image else None
        self.act_run.setEnabled(has_image and not active and self.panel.is_valid())
        self.run_button.setEnabled(self.act_run.isEnabled())
        self.act_pause.setEnabled(c.state in ("building", "running", "paused"))
        self.act_pause.setText("&Resume" if c.state == "paused" else "&Pause")
        self.pause_button.setEnabled(self.act_pause.isEnabled())
        self.pause_button.setText("Resume" if c.state == "paused" else "Pause")
        self.act_stop.setEnabled(c.state in ("building", "running", "paused"))
        self.stop_button.setEnabled(self.act_stop.isEnabled())
        self.act_continue.setEnabled(c.can_continue)
        self.continue_button.setEnabled(c.can_continue)
        self.act_save.setEnabled(self._result is not None)
        self.act_export_csv.setEnabled(len(self.plots.loss) > 0)
        for a in (self.act_open_mask, self.act_open_reference, self.act_simulate):
            a.setEnabled(has_image and not active)
        self.act_open_guide.setEnabled(has_image and not active)
        self.act_region.setEnabled(has_image and not active)
        self.act_whole.setEnabled(self._region is not None and not active)
        self.act_save_mask.setEnabled(has_image and model is not None and not model.is_empty)
        self.act_undo.setEnabled(can_edit_mask and model is not None and model.can_undo)
        self.act_redo.setEnabled(can_edit_mask and model is not None and model.can_redo)
        for a in (self.act_clear_mask, self.act_invert_mask, self.act_grow_mask, self.act_shrink_mask):
            a.setEnabled(can_edit_mask)
        self.panel.set_running(active)
        self.canvas.set_painting_enabled(can_edit_mask)

    def _mask_op(self, op: str) -> None:
        if self._image is None or self.controller.active or self.panel.task() != "inpaint":
            return
        m = self.canvas.mask_model
        if op in ("undo", "redo"):
            getattr(self.canvas, op)()
        elif op in ("grow", "shrink"):
            getattr(m, op)(GROW_SHRINK_PX)
        else:
            getattr(m, op)()
        self._update_actions()

    def _update_title(self) -> None:
        if self._loaded is None:
            self.setWindowTitle(APP_TITLE)
            return
        name = Path(self._loaded.path).name
        mark = "*" if self._dirty and self._result is not None else ""
        self.setWindowTitle(f"{name}{mark} - {APP_TITLE}")

    @property
    def result(self) -> np.ndarray | None:
        return self._result

    @property
    def dirty(self) -> bool:
        return self._dirty and self._result is not None

    # ================================================================== drag & drop
    @staticmethod
    def _dropped_image(event) -> str | None:
        md = event.mimeData()
        if not md.hasUrls():
            return None
        for url in md.urls():
            if url.isLocalFile():
                p = url.toLocalFile()
                if Path(p).suffix.lower() in OPEN_EXTENSIONS:
                    return p
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:   # noqa: N802
        if self._dropped_image(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:   # noqa: N802
        p = self._dropped_image(event)
        if p:
            event.acceptProposedAction()
            # after the drop returns: a modal question inside a drop handler upsets some platforms
            QTimer.singleShot(0, lambda: self.open_path(p))

    # ================================================================== closing
    def closeEvent(self, event: QCloseEvent) -> None:   # noqa: N802
        if self.controller.active:
            # stop, and close again once the run has ended: no wait on the GUI thread
            self._confirm_stop_run("quit", self.close)
            event.ignore()
            return
        if not self._confirm_discard_result("quitting"):
            event.ignore()
            return
        self._save_settings()
        self.controller.discard()
        # a clean close: the user has been asked about the result; nothing to restore
        self._autosave_timer.stop()
        self.autosave.clear()
        event.accept()

    # ================================================================== autosave
    def _schedule_autosave(self, *_args) -> None:
        if self._image is not None:
            self._autosave_timer.start()

    def autosave_now(self) -> bool:
        """Write the painted mask and the unsaved result beside the settings (the timer
        calls it a second after a change)."""
        self._autosave_timer.stop()
        if self._image is None or self._full is None:
            return False
        model = self.canvas.mask_model
        known = None if model is None or model.is_empty or model.shape != self._image.shape[:2] \
            else model.known
        result = self._result if self._result is not None and self._dirty else None
        path = self._loaded.path if self._loaded is not None else ""
        # no file holds this image (simulated, downscaled): keep the pixels themselves
        needs_image = bool(self._scale_note) or not (path and os.path.isfile(path))
        image = None
        keep = False
        if needs_image:
            keep = self._autosaved_image is self._full
            image = None if keep else self._full
        session = {"image_path": path, "full_shape": list(self._full.shape),
                   "work_shape": list(self._image.shape[:2]),
                   "region": list(self._region) if self._region else None,
                   "note": self._scale_note, "task": self.panel.task(),
                   "result_step": self._result_step, "result_what": self._result_what}
        ok = self.autosave.write(session, known, result, image, keep_image=keep)
        if ok and needs_image and (known is not None or result is not None):
            self._autosaved_image = self._full
        elif known is None and result is None:
            self._autosaved_image = None
        return ok

    def offer_restore(self) -> bool:
        """At start: when the last session ended without a clean close and left a painted
        mask or an unsaved result, ask whether to restore them. True when restored."""
        info = self.autosave.load()
        if info is None:
            self.autosave.clear()
            return False
        name = Path(info.get("image_path") or "the simulated image").name
        what = " and ".join(w for w in ("the mask you painted" if info["known"] is not None else "",
                                        "the unsaved result" if info["result"] is not None else "") if w)
        ans = self._ask("Restore your work?",
                        f"DIP Studio did not close normally last time. Restore {what} for {name}?",
                        QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if ans != QMessageBox.Yes:
            self.autosave.clear()
            return False
        return self.restore_autosave(info)

    def restore_autosave(self, info: dict) -> bool:
        path = info.get("image_path") or ""
        name = Path(path).name or "the image"
        full_shape = tuple(int(v) for v in info.get("full_shape", ()))
        if info.get("image") is not None:
            a = info["image"]
            loaded = Loaded(array=a, mode="RGB" if a.shape[2] == 3 else "L", bit_depth=8, alpha=None,
                            path=path or str(Path(self._last_dir()) / "restored.png"), format=None)
            self._set_loaded(loaded, None, note=info.get("note") or "restored")
        else:
            try:
                loaded = load_image(path)
            except DIPError as e:
                self._error("Cannot restore", f"{name} cannot be opened any more: {e}")
                self.autosave.clear()
                return False
            if tuple(loaded.array.shape) != full_shape:
                self._error("Cannot restore", f"{name} has changed since the mask was painted "
                                              f"(it is {loaded.array.shape[1]}x{loaded.array.shape[0]} now)")
                self.autosave.clear()
                return False
            self._set_loaded(loaded)
            self.recent.add(path)
        region = info.get("region")
        if region and len(region) == 4:
            self.set_region(*(int(v) for v in region))
        task = info.get("task")
        if task in TASKS:
            self.panel.set_task(task)
        if info.get("known") is not None and info["known"].shape == self._image.shape[:2]:
            self.canvas.mask_model.set_from_known(info["known"])
            self.canvas.mask_model.clear_history()
        if info.get("result") is not None:
            res = info["result"]
            step = info.get("result_step")
            what = info.get("result_what") or "the result"
            self._set_result(res, step, f"{what} (restored)")
            self.canvas.set_display(res)
            self._showing_result = True
            self._apply_compare()
        self.statusBar().showMessage(f"Restored your work on {name}", 8000)
        self.autosave_now()
        return True


def run_app(path: str | None = None) -> int:
    """Open the GUI on ``path`` (or the bundled sample, with its clean reference); returns
    the exit code of the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(keys.ORGANIZATION)
    app.setApplicationName(keys.APPLICATION)
    app.setApplicationDisplayName(APP_TITLE)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    win = MainWindow()
    win.show()
    if win.autosave.exists() and win.offer_restore():
        pass
    elif path:
        win.open_path(path)
    elif SAMPLE_IMAGE.exists():
        win.open_path(str(SAMPLE_IMAGE), str(SAMPLE_REFERENCE) if SAMPLE_REFERENCE.exists() else None)
        win.use_sample_settings()
    return app.exec()
