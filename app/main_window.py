"""The main window: a thin shell that builds the widgets and the rooms and wires them together.
It is the only module that builds rooms; each room takes what it uses (the document, the run
session, the controller, a :class:`~app.ui_port.UiPort`, specific widgets), never the window.

- :mod:`app.document`  the user's work (image, region, mask, reference, guide, result, runs), no Qt
- :mod:`app.session`   the run on screen as plain data: its state, raw curves, words and record
- :mod:`app.actions`   every action with its shortcut and enable rule, the menus and the tool bar
- :mod:`app.files`     opening and saving images, masks, results, curves and projects
- :mod:`app.run_view`  the run on screen: controller signals, progress, scrubbing, the run list
- :mod:`app.autosave`  the mask and the unsaved result kept beside the settings

The window holds no tensor: a :class:`RunController` runs the engine in a worker thread and
hands back NumPy arrays. Whatever fails is reported in a dialog and leaves the document as
it was.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from engine.device import describe, pick_device
from engine.errors import ConfigError, DIPError
from engine.imageio import OPEN_EXTENSIONS
from engine.job_parts import remove_parts
from engine.noise import measure_noise

from . import settings_store as keys
from .actions import GROW_SHRINK_PX, Actions, UiState
from .app_info import APP_TITLE, RESOURCES, SAMPLE_IMAGE, SAMPLE_REFERENCE  # noqa: F401 - tests read them here
from .autosave import AutosaveKeeper
from .settings_store import tile_parts_directory
from .canvas import ImageCanvas
from .compare_view import compare_dialog
from .document import Document
from .experiments_view import ExperimentsView
from .files import FileHandling
from .mask_toolbar import MaskToolBar
from .plots import RunPlots
from .project import EXTENSION as PROJECT_SUFFIX
from .recent import RecentFiles
from .region_picker import RegionPicker
from .result_painter import ResultPainter
from .run_controls import RunControls
from .run_list import RunListView
from .run_view import RunView, RunWidgets
from .session import RunSession
from .settings_panel import SettingsPanel
from .tile_view import TileView
from .timeline import Timeline
from .controller import RunController
from .ui_port import UiPort

DEFAULT_CONTINUE_STEPS = 500


class MainWindow(QMainWindow):
    """DIP Studio's window. ``open_path`` / ``start_run`` / ``save_result`` are the entry
    points the menus use (and tests drive); each forwards to the room that owns it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.doc = Document()
        self.recent = RecentFiles()
        self.controller = RunController(self)
        self.session = RunSession()
        self.batch_window = None        # File > Batch restore a folder, made when first asked for
        self._build_widgets()
        self._build_actions()
        self._build_rooms()
        self.actions["overlay"].setChecked(True)   # its toggle refreshes, which reads the rooms
        self._connect()
        self._restore_settings()
        self.refresh()

    # ================================================================== construction
    def _build_widgets(self) -> None:
        self.canvas = ImageCanvas(self)
        self.setCentralWidget(self.canvas)
        self.region_picker = RegionPicker(self.canvas)

        self.panel = SettingsPanel(cost=self.doc.cost)
        right = QWidget()
        col = QVBoxLayout(right)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self.panel, 1)
        self.controls = RunControls()
        col.addWidget(self.controls)
        # the names the rooms and tests use
        c = self.controls
        self.run_button, self.pause_button, self.stop_button = c.run_button, c.pause_button, c.stop_button
        self.continue_button, self.continue_spin = c.continue_button, c.continue_spin
        self.progress_bar, self.progress_label, self.result_label = c.progress_bar, c.progress_label, c.result_label
        self.right_dock = self._dock("Restoration", "settingsDock", right, Qt.RightDockWidgetArea)

        self.plots = RunPlots()
        self.timeline = Timeline()
        self.timeline.set_scrubbing_enabled(False)
        bottom = QWidget()
        bcol = QVBoxLayout(bottom)
        bcol.setContentsMargins(0, 0, 0, 0)
        bcol.addWidget(self.plots, 1)
        bcol.addWidget(self.timeline)
        self.bottom_dock = self._dock("Progress", "plotsDock", bottom, Qt.BottomDockWidgetArea)

        self.run_list = RunListView()
        self.run_list.set_run_list(self.doc.runs)
        # under the settings: that column is tall and mostly empty once a preset is chosen
        self.runs_dock = self._dock("Runs", "runsDock", self.run_list, Qt.RightDockWidgetArea)
        self.splitDockWidget(self.right_dock, self.runs_dock, Qt.Vertical)

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
        self.resizeDocks([self.right_dock, self.runs_dock], [470, 420], Qt.Vertical)

    def _build_rooms(self) -> None:
        doc, s, c = self.doc, self.session, self.controller
        ui = self.ui = UiPort(self, self.statusBar(), self.refresh, lambda: self.save_result(), lambda: doc.unsaved)
        self.painter = ResultPainter(self.canvas, doc, s, self.act_split)
        tiles = TileView(doc, s, c, ui, self.canvas, self.painter, self.plots, self.progress_bar,
                         self.device_label, self)
        widgets = RunWidgets(self.plots, self.timeline, self.controls, self.device_label, self.act_show_ema,
                             self.panel)
        self.run_view = RunView(doc, s, c, ui, widgets, self.painter, tiles, self)
        self.files = FileHandling(doc, ui, self.panel, self.run_view, c, self.recent, self.region_picker, self)
        # preimage/actmax curve, TV comparison, Help demo
        self.experiments = ExperimentsView(doc, s, c, ui, self.panel, self.run_view, self)
        self.keeper = AutosaveKeeper(doc, ui, self.files, self.run_view, self.panel, parent=self)
        self.autosave = self.keeper.store

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        # the rooms take some of these actions, so they are built after them: look them up when triggered
        def f(name):
            return lambda: getattr(self.files, name)()
        self.actions = Actions(self, {
            "open": f("open_dialog"), "open_project": f("open_project_dialog"),
            "save_project": f("save_project_dialog"), "open_mask": f("open_mask_dialog"),
            "open_reference": f("open_reference_dialog"), "open_guide": f("open_guide_dialog"),
            "save": lambda: self.save_result(), "save_mask": f("save_mask_dialog"),
            "export_csv": lambda: self.export_csv(), "simulate": f("simulate_dialog"), "region": f("pick_region"),
            "whole": f("clear_region"), "quit": self.close,
            "undo": lambda: self._mask_op("undo"), "redo": lambda: self._mask_op("redo"),
            "clear_mask": lambda: self._mask_op("clear"), "invert_mask": lambda: self._mask_op("invert"),
            "grow_mask": lambda: self._mask_op("grow"), "shrink_mask": lambda: self._mask_op("shrink"),
            "zoom_in": self.canvas.zoom_in, "zoom_out": self.canvas.zoom_out, "fit": self.canvas.fit,
            "show_ema": lambda on: self.run_view.on_show_ema(on), "split": lambda _on: self.painter.apply_compare(),
            "overlay": lambda _on: self.refresh(),   # refresh() shows it for masked tasks only
            "run": self.start_run, "pause": self.toggle_pause, "stop": self.stop_run,
            "continue": self.continue_run, "impedance": lambda: self.experiments.show_impedance(),
            "batch": self.show_batch, "about": self.show_about,
        })
        # the names tests and the rooms use: window.act_save, window.act_show_ema, ...
        for key, action in self.actions.items():
            setattr(self, f"act_{key}", action)
        for pct, a in self.actions.opacity.items():
            a.triggered.connect(lambda _c=False, p=pct: self._set_overlay_opacity(p / 100))

        def recent(menu):
            sub = menu.addMenu("Open &Recent")
            sub.aboutToShow.connect(self._fill_recent_menu)
            return sub

        def hold_c(menu):
            menu.addAction("Hold C to see the input").setEnabled(False)

        def opacity(menu):
            sub = menu.addMenu("Mask overlay &opacity")
            for a in self.actions.opacity.values():
                sub.addAction(a)

        def docks(menu):
            for d in (self.right_dock, self.bottom_dock, self.runs_dock):
                menu.addAction(d.toggleViewAction())

        made = self.actions.build_menus(self.menuBar(), {"recent": recent, "hold_c": hold_c,
                                                         "opacity": opacity, "docks": docks})
        self.recent_menu = made["recent"]
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolBar")
        self.actions.build_toolbar(tb)
        a = self.actions
        self.mask_bar = MaskToolBar(self.canvas, {
            "undo": a["undo"], "redo": a["redo"], "clear": a["clear_mask"], "invert": a["invert_mask"],
            "grow": a["grow_mask"], "shrink": a["shrink_mask"], "open": a["open_mask"], "save": a["save_mask"]},
            self)
        for key, short in (("undo", "Undo"), ("redo", "Redo"), ("clear_mask", "Clear"), ("invert_mask", "Invert"),
                           ("grow_mask", "Grow"), ("shrink_mask", "Shrink"), ("open_mask", "Open..."),
                           ("save_mask", "Save...")):
            a[key].setIconText(short)   # the bar's buttons; menus keep the full text
        self.mask_bar.setWindowTitle("Mask")
        self.addToolBarBreak()
        self.addToolBar(self.mask_bar)

    def _connect(self) -> None:
        f, r, s = self.files, self.run_view, self.session
        self.run_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop_run)
        self.continue_button.clicked.connect(lambda: self.continue_run())
        self.controller.stateChanged.connect(lambda _s: self.refresh())

        self.panel.taskChanged.connect(lambda _t: self.refresh())
        self.panel.validityChanged.connect(lambda _v: self.refresh())
        # the document first: the device label and every room read the settings from it
        self.panel.configChanged.connect(self._settings_to_doc)
        self._settings_to_doc()
        self.panel.configChanged.connect(self._update_device_label)
        self.panel.guideRequested.connect(f.open_guide_dialog)
        self.panel.tooLarge.connect(f.on_too_large)
        self.panel.regionRequested.connect(f.pick_region)
        self.panel.downscaleRequested.connect(f.downscale_for_time)

        self.region_picker.picked.connect(self.set_region)
        self.region_picker.cancelled.connect(lambda: self.ui.status("Region selection cancelled", 3000))
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.canvas.cursorMoved.connect(self._on_cursor)
        self.canvas.brushSizeChanged.connect(lambda v: keys.settings().setValue(keys.BRUSH_SIZE, v))
        self.canvas.splitChanged.connect(lambda x: setattr(s, "split_position", x))
        self.mask_bar.opacityChanged.connect(self._set_overlay_opacity)

        self.run_list.showRequested.connect(r.show_run)
        self.run_list.compareRequested.connect(self.compare_runs)
        self.run_list.runAgainRequested.connect(r.run_again)
        self.run_list.averageRequested.connect(r.average)

        d = self.doc
        d.image_changed.connect(self._on_image_changed)
        d.result_changed.connect(self._on_result_changed)
        d.reference_changed.connect(lambda: self.plots.set_reference_known(d.reference() is not None))
        d.guide_changed.connect(lambda: self.panel.set_guide_name(d.guide_name))
        # from the mask model, whoever edited it (canvas strokes, the mask actions, a loaded mask)
        for follow in (self.refresh, self.keeper.schedule, self.panel.mask_changed):   # its estimate rows
            d.mask_changed.connect(follow)

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
        pct = min(100, max(0, keys.value(keys.OVERLAY_OPACITY, 50, int)))
        self._set_overlay_opacity(pct / 100, persist=False)
        self.continue_spin.setValue(keys.value(keys.CONTINUE_STEPS, DEFAULT_CONTINUE_STEPS, int))
        self._update_device_label()

    def _save_settings(self) -> None:
        s = keys.settings()
        s.setValue(keys.GEOMETRY, self.saveGeometry())
        s.setValue(keys.STATE, self.saveState())
        s.setValue(keys.SHOW_EMA, self.act_show_ema.isChecked())
        s.setValue(keys.CONTINUE_STEPS, self.continue_spin.value())
        self.panel.save_state(s)
        s.sync()

    # ================================================================== entry points
    def open_path(self, path: str, reference: str | None = None) -> bool:
        return self.files.open_path(path, reference)

    def open_mask(self, path: str) -> bool:
        return self.files.open_mask(path)

    def save_result(self, path: str | None = None) -> bool:
        return self.files.save_result(path)

    def export_csv(self, path: str | None = None) -> bool:
        return self.files.export_csv(path)

    def save_project(self, path: str) -> bool:
        return self.files.save_project(path)

    def open_project(self, path: str) -> bool:
        return self.files.open_project(path)

    def apply_simulated(self, sim) -> None:
        self.files.apply_simulated(sim)

    def set_region(self, x: int, y: int, w: int, h: int) -> bool:
        return self.files.set_region(x, y, w, h)

    def use_sample_settings(self) -> None:
        self.files.use_sample_settings()

    def start_run(self) -> bool:
        return self.run_view.start()

    def toggle_pause(self) -> None:
        self.run_view.toggle_pause()

    def stop_run(self) -> None:
        if self.region_picker.active:
            self.region_picker.stop()
            self.ui.status("Region selection cancelled", 3000)
            return
        self.run_view.stop()

    def continue_run(self, steps: int | None = None) -> bool:
        return self.run_view.continue_run(steps)

    def show_snapshot(self, step: int) -> bool:
        return self.run_view.show_snapshot(step)

    def use_iterate(self, step: int | None = None) -> bool:
        return self.run_view.use_iterate(step)

    def shown_array(self) -> np.ndarray | None:
        return self.run_view.shown_array()

    def compare_runs(self, a: int, b: int) -> bool:
        """Two runs' results side by side, zoom and pan shared, in a window of their own."""
        ra, rb = self.doc.runs.get(a), self.doc.runs.get(b)
        if ra is None or rb is None or ra.result is None or rb.result is None:
            self.ui.status("Both runs need their images to compare them", 5000)
            return False
        dlg = compare_dialog(self, ra.result, rb.result, self._run_title(ra), self._run_title(rb))
        self.compare_window = dlg
        return True

    @staticmethod
    def _run_title(rec) -> str:
        psnr = f", {rec.psnr:.2f} dB" if rec.psnr is not None else ""
        step = f" at step {rec.result_step}" if rec.result_step is not None else ""
        return f"{rec.label}{step}{psnr}"

    # ================================================================== the document on screen
    def _on_image_changed(self) -> None:
        doc = self.doc
        image = doc.image
        self.run_view.reset()
        self.canvas.set_image(image)       # also ends compare mode
        self.canvas.set_mask_model(doc.mask)
        h, w, c = image.shape
        self.panel.set_image_size(h, w, c)
        self.panel.set_noise(measure_noise(image))   # a sampled few hundred patches: milliseconds
        region = f" (region {doc.region[2]} x {doc.region[3]} at {doc.region[0]},{doc.region[1]})" \
            if doc.region else ""
        note = f" ({doc.note})" if doc.note else ""
        self.size_label.setText(f"{w} x {h} {'gray' if c == 1 else 'RGB'}{region}{note}")
        self.painter.apply_compare()
        self.refresh()
        self.keeper.schedule()

    def _on_result_changed(self) -> None:
        if self.doc.result is None:
            self.result_label.setText("no result yet")
        self.refresh()
        self.keeper.schedule()

    def refresh(self, *_args) -> None:
        """Enable what may be done now (rules in app/actions.py) and show the state."""
        c, doc = self.controller, self.doc
        model = doc.mask
        inpaint = self.panel.task() == "inpaint"
        st = UiState(has_image=doc.has_image, active=c.active, state=c.state, inpaint=inpaint,
                     valid=self.panel.is_valid(), can_continue=c.can_continue, has_result=doc.result is not None,
                     has_curve=len(self.run_view.curves_shown()) > 0, region=doc.region is not None,
                     mask_painted=model is not None and not model.is_empty,
                     can_undo=model is not None and model.can_undo, can_redo=model is not None and model.can_redo)
        self.actions.update(st)
        self.run_button.setEnabled(self.act_run.isEnabled())
        self.pause_button.setEnabled(self.act_pause.isEnabled())
        self.pause_button.setText("Resume" if c.state == "paused" else "Pause")
        self.stop_button.setEnabled(self.act_stop.isEnabled())
        self.continue_button.setEnabled(self.act_continue.isEnabled())
        why = self.run_view.why_no_continue()
        tip = why or self.act_continue.statusTip()
        self.act_continue.setToolTip(tip)
        self.continue_button.setToolTip(tip)
        self.panel.set_running(st.active)
        self.canvas.set_painting_enabled(st.mask_editable)
        self.mask_bar.set_editing_enabled(st.mask_editable)
        self.mask_bar.setVisible(inpaint)
        self.canvas.set_overlay_visible(inpaint and self.act_overlay.isChecked())
        self.run_list.set_busy(st.active)
        current = doc.result.run_id if doc.result is not None else None
        self.run_list.set_current(current)
        self._update_title()

    def _update_title(self) -> None:
        if self.doc.loaded is None:
            self.setWindowTitle(APP_TITLE)
            return
        mark = "*" if self.doc.unsaved else ""
        self.setWindowTitle(f"{self.doc.name}{mark} - {APP_TITLE}")

    @property
    def result(self) -> np.ndarray | None:
        return self.doc.result.array if self.doc.result is not None else None

    @property
    def dirty(self) -> bool:
        return self.doc.unsaved

    # ================================================================== view
    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        paths = self.recent.paths()
        for p in paths:
            a = menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.setStatusTip(p)
            a.triggered.connect(lambda _c=False, path=p: self.files.open_recent(path))
        if not paths:
            menu.addAction("(none)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear list").triggered.connect(self.recent.clear)

    def _set_overlay_opacity(self, opacity: float, persist: bool = True) -> None:
        self.canvas.set_overlay_opacity(opacity)
        self.mask_bar.set_opacity(opacity)
        pct = int(round(opacity * 100))
        for p, a in self.actions.opacity.items():
            a.setChecked(p == pct)
        if persist:
            keys.settings().setValue(keys.OVERLAY_OPACITY, pct)

    def _on_cursor(self, x: int, y: int) -> None:
        self.cursor_label.setText("" if x < 0 or y < 0 else f"x {x}, y {y}")

    def _update_device_label(self) -> None:
        if self.controller.run is not None:
            return
        self.device_label.setText(self.device_text() or "device: ?")

    def _settings_to_doc(self) -> None:
        try:
            self.doc.set_settings(self.panel.config())
        except ConfigError as e:
            self.doc.set_settings(None, str(e))

    def device_text(self) -> str:
        """The device the settings run on, in words ('' when they name none that works)."""
        try:
            device = pick_device(self.doc.config().device)
        except DIPError:
            return ""
        return f"cpu ({self.controller.threads} threads)" if device.type == "cpu" else describe(device)

    def _mask_op(self, op: str) -> None:
        doc = self.doc
        if doc.image is None or self.controller.active or self.panel.task() != "inpaint":
            return
        if op in ("undo", "redo"):
            getattr(self.canvas, op)()
        elif op in ("grow", "shrink"):
            getattr(doc.mask, op)(GROW_SHRINK_PX)
        else:
            getattr(doc.mask, op)()
        self.refresh()

    @staticmethod
    def _is_compare_key(event) -> bool:
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

    # ================================================================== drag & drop, closing
    @staticmethod
    def _dropped_file(event) -> str | None:
        md = event.mimeData()
        if not md.hasUrls():
            return None
        for url in md.urls():
            if url.isLocalFile():
                p = url.toLocalFile()
                if Path(p).suffix.lower() in (*OPEN_EXTENSIONS, PROJECT_SUFFIX):
                    return p
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:   # noqa: N802
        if self._dropped_file(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:   # noqa: N802
        p = self._dropped_file(event)
        if p:
            event.acceptProposedAction()
            self.files.drop(p)

    def show_batch(self):
        """File > Batch restore a folder (app/batch_window.py): the panel's settings, results open here."""
        if self.batch_window is None:
            from .batch_window import BatchWindow
            self.batch_window = BatchWindow(self.doc.config, self.open_path, self)
        self.batch_window.show_settings()
        self.batch_window.show()
        self.batch_window.raise_()
        return self.batch_window

    def show_about(self):
        """Help > About: versions, the device, where settings, autosaves and finished tiles live
        (app/about.py)."""
        from .about import AboutDialog, about_rows
        dialog = AboutDialog(about_rows(self.device_text(), str(self.autosave.directory),
                                        str(tile_parts_directory())), self)
        dialog.show()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:   # noqa: N802
        bw = self.batch_window
        if bw is not None and bw.running:
            if self.ui.ask("A batch is running", "A batch restoration is running. Stop it and quit? (Photos already "
                        "done are kept; File > Batch resumes the rest.)") == QMessageBox.Yes:
                bw.stop_then(self.close)
            event.ignore()
            return
        if self.controller.active:
            # stop, and close again once the run has ended: no wait on the GUI thread
            self.run_view.confirm_stop("quit", self.close)
            event.ignore()
            return
        if not self.ui.confirm_discard_result("quitting"):
            event.ignore()
            return
        self._save_settings()
        self.controller.discard()
        # a clean close: the user has been asked about the result; nothing to restore, and no
        # tiles to go on from
        self.keeper.clear()
        remove_parts(tile_parts_directory())
        event.accept()

    # the autosave entry points tests and run_app use
    def autosave_now(self) -> bool:
        return self.keeper.write_now()

    def offer_restore(self) -> bool:
        return self.keeper.offer_restore()


def build_window() -> MainWindow:
    """The window the program's start (app/start.run_app, called by main.py) opens."""
    return MainWindow()
