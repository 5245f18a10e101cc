"""The runs of the current image side by side, mirroring an :class:`app.runs.RunList`.

DIP results vary with the seed and the architecture, so users run an image several times
and compare. This view follows a RunList (it subscribes, the way napari's layer list
follows its layers) and offers what one does with runs: show one, compare two, run one
again with another seed, average several, remove. The buttons only emit requests (except
Remove, which edits the list itself): what "show" means is the main window's business.

Thumbnails are made once per result and cached by run id; an entry holds a weak
reference to the array it was made from, so a list restored with the same ids but other
images gets new thumbnails, and a dropped image is never kept alive by its thumbnail.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QKeySequence, QPainter, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QPushButton, QSplitter,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from .canvas import display_qimage
from .plots import LogLossAxis
from .runs import RunList, RunRecord, averaging_problem, settings_summary, stop_summary

THUMB = 48                      # thumbnail edge, px
_LOSS_FLOOR = 1e-12             # log10(0) is -inf; a perfect fit would otherwise vanish from the plot
# matplotlib's tab10: distinct, and the same colours app/plots.py starts from
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

# the short numbers first and the settings last (they stretch and wrap): in the narrow dock
# the time and the PSNR stay in view without scrolling sideways
COL_RUN, COL_TIME, COL_PSNR, COL_STOP, COL_SETTINGS = range(5)
HEADERS = ("Run", "Time", "PSNR", "Stopped", "Settings")
ID_ROLE = Qt.ItemDataRole.UserRole
DROPPED_TIP = "The image was dropped to stay within the memory budget; settings and numbers remain."


def run_colour(run_id: int) -> QColor:
    """A run's curve colour, fixed by its id so it does not change with the selection."""
    return QColor(PALETTE[(run_id - 1) % len(PALETTE)])


def make_thumbnail(array: np.ndarray, size: int = THUMB) -> QPixmap:
    """A pixmap of ``array`` (float [0, 1] HxW, HxWx1 or HxWx3) fitting ``size`` x ``size``."""
    a = np.asarray(array)
    h, w = a.shape[:2]
    # Box-average down to about twice the size before converting: a 4000x3000 result then
    # costs one pass over its pixels and a tiny conversion, and noise does not alias the
    # way plain striding would. Qt's smooth scaling does the last step.
    step = max(1, max(h, w) // (2 * size))
    if step > 1 and h >= step and w >= step:
        hh, ww = h // step * step, w // step * step
        blocks = a[:hh, :ww].reshape(hh // step, step, ww // step, step, *a.shape[2:])
        a = blocks.mean(axis=(1, 3), dtype=np.float32)
    image = display_qimage(a)
    h, w = image.height(), image.width()
    scale = size / max(h, w)
    # max(1, ...): a 5000x3 strip must not scale to an empty (null) image
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    return QPixmap.fromImage(image.scaled(tw, th, Qt.AspectRatioMode.IgnoreAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))


def _placeholder(size: int = THUMB) -> QPixmap:
    """What a run whose image was dropped shows instead of a thumbnail."""
    pm = QPixmap(size, size)
    pm.fill(QColor("#eeeeee"))
    p = QPainter(pm)
    p.setPen(QPen(QColor("#999999"), 1, Qt.PenStyle.DashLine))
    p.drawRect(0, 0, size - 1, size - 1)
    font = p.font()
    font.setPointSizeF(max(6.0, size / 9))
    p.setFont(font)
    p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "no image")
    p.end()
    return pm


def _seconds_text(seconds: float) -> str:
    if seconds <= 0:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s"


class RunListView(QWidget):
    """One row per run (thumbnail, label, settings, how it stopped, time, PSNR), buttons that
    act on the selected runs, and the loss curves of the selected runs under the list."""

    showRequested = Signal(int)             # run id
    compareRequested = Signal(int, int)     # run ids, in list order
    runAgainRequested = Signal(int)         # run id whose settings to run with another seed
    averageRequested = Signal(list)         # run ids (two or more, images of one shape)

    def __init__(self, run_list: RunList | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runList")
        self._run_list: RunList | None = None
        self._listener: Callable[[], None] | None = None
        self._items: dict[int, QTreeWidgetItem] = {}     # run id -> row, in list order
        self._thumbs: dict[int, tuple[weakref.ref, QIcon]] = {}
        self._placeholder = QIcon(_placeholder())
        self._curves: dict[int, pg.PlotDataItem] = {}
        self._current_id: int | None = None
        self._busy = False
        self._updating = False
        self.thumbnails_made = 0     # thumbnails rendered so far (tests: the cache holds)

        self.tree = QTreeWidget()
        self.tree.setObjectName("runTree")
        self.tree.setColumnCount(len(HEADERS))
        self.tree.setHeaderLabels(list(HEADERS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.tree.header()
        header.setStretchLastSection(False)
        for col in range(len(HEADERS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_SETTINGS, QHeaderView.ResizeMode.Stretch)
        # the dock is narrow: the name and the settings wrap inside the thumbnail's height
        # rather than being cut to "ski..."
        self.tree.setWordWrap(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        header.setSectionResizeMode(COL_RUN, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_RUN, THUMB + 96)
        header.setSectionResizeMode(COL_STOP, QHeaderView.ResizeMode.Interactive)   # it wraps
        header.resizeSection(COL_STOP, 110)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.tree)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.remove_selected)

        def button(text: str, name: str, slot) -> QPushButton:
            b = QPushButton(text)
            b.setObjectName(name)
            b.clicked.connect(slot)
            return b

        self.show_button = button("Show", "showRunButton", self._show)
        self.compare_button = button("Compare", "compareRunsButton", self._compare)
        self.run_again_button = button("Run again with another seed", "runAgainButton", self._run_again)
        self.average_button = button("Average selected", "averageRunsButton", self._average)
        self.remove_button = button("Remove", "removeRunsButton", self.remove_selected)
        buttons = QGridLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        # two rows: the panel usually sits in a narrow dock
        buttons.addWidget(self.show_button, 0, 0)
        buttons.addWidget(self.compare_button, 0, 1)
        buttons.addWidget(self.remove_button, 0, 2)
        buttons.addWidget(self.run_again_button, 1, 0, 1, 2)
        buttons.addWidget(self.average_button, 1, 2)

        # the same readable log axis as the main loss plot (labels never crowd)
        self.plot = pg.PlotWidget(axisItems={"left": LogLossAxis("left")})
        self.plot.setObjectName("runCurvePlot")
        self.plot.setBackground("w")
        self.plot.setMinimumHeight(100)
        item = self.plot.getPlotItem()
        item.setLogMode(x=False, y=True)
        item.getAxis("left").enableAutoSIPrefix(False)
        item.setLabel("left", "loss")
        item.setLabel("bottom", "step")
        item.setMenuEnabled(False)
        item.addLegend(offset=(-10, 10))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.tree)
        top_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(top)
        splitter.addWidget(self.plot)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._update_buttons()
        if run_list is not None:
            self.set_run_list(run_list)

    # ---- the model -------------------------------------------------------------
    @property
    def run_list(self) -> RunList | None:
        return self._run_list

    def set_run_list(self, run_list: RunList | None) -> None:
        """Mirror ``run_list`` (None: show nothing); the previous list is let go."""
        if self._run_list is not None and self._listener is not None:
            self._run_list.changed.disconnect(self._listener)
        self._run_list, self._listener = run_list, None
        self._updating = True
        try:
            self.tree.clear()
            self._items.clear()
        finally:
            self._updating = False
        self._thumbs.clear()
        if run_list is not None:
            # The list may outlive this widget (it belongs to the document): hold the
            # widget weakly and drop the subscription once the widget is gone, instead of
            # calling into a deleted C++ object.
            me = weakref.ref(self)

            def listener() -> None:
                view = me()
                if view is None or not shiboken6.isValid(view):
                    run_list.changed.disconnect(listener)
                    return
                view.refresh()

            self._listener = listener
            run_list.changed.connect(listener)
        self.refresh()

    def refresh(self) -> None:
        """Bring the rows in line with the list; the list's listener calls this."""
        records = self._run_list.records if self._run_list is not None else []
        ids = [r.id for r in records]
        alive = set(ids)
        self._updating = True
        try:
            kept = [i for i in self._items if i in alive]
            if kept != [i for i in ids if i in self._items]:
                # reordered (a restore): rebuilding is simpler than moving rows
                self.tree.clear()
                self._items.clear()
            for run_id in [i for i in self._items if i not in alive]:
                item = self._items.pop(run_id)
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
            new: list[QTreeWidgetItem] = []
            for index, record in enumerate(records):
                item = self._items.get(record.id)
                if item is None:
                    item = QTreeWidgetItem()
                    item.setData(COL_RUN, ID_ROLE, record.id)
                    self.tree.insertTopLevelItem(index, item)
                    self._items[record.id] = item
                    new.append(item)
                self._fill(item, record)
            # keep the dict in list order: selected_ids() and the curves follow it
            self._items = {i: self._items[i] for i in ids}
            for run_id in [i for i in self._thumbs if i not in alive]:
                del self._thumbs[run_id]
            if new:
                # the newest run is what the user wants to look at next
                newest = new[-1]
                self.tree.clearSelection()
                newest.setSelected(True)
                self.tree.setCurrentItem(newest, 0, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.tree.scrollToItem(newest)
        finally:
            self._updating = False
        self._selection_changed()

    def _fill(self, item: QTreeWidgetItem, record: RunRecord) -> None:
        item.setIcon(COL_RUN, self._thumbnail(record))
        item.setText(COL_RUN, record.label)
        tip = record.result_what or record.label
        if record.result is None:
            tip += "\n" + DROPPED_TIP
        item.setToolTip(COL_RUN, tip)
        config = record.config
        if record.sources:
            # the first source's seed says nothing about an average
            config = {k: v for k, v in config.items() if k != "seed"}
        item.setText(COL_SETTINGS, settings_summary(config))
        item.setText(COL_STOP, stop_summary(record))
        item.setToolTip(COL_STOP, record.stop_reason)
        item.setText(COL_TIME, _seconds_text(record.seconds))
        item.setText(COL_PSNR, "" if record.psnr is None else f"{record.psnr:.2f} dB")
        for col in (COL_TIME, COL_PSNR):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._apply_current(item, record.id)

    def _thumbnail(self, record: RunRecord) -> QIcon:
        cached = self._thumbs.get(record.id)
        if record.result is None:
            # its image went to keep the memory budget (a photo-sized run): the small picture
            # it had stays, only "no image" for a run never shown
            return cached[1] if cached is not None else self._placeholder
        if cached is not None and cached[0]() is record.result:
            return cached[1]
        icon = QIcon(make_thumbnail(record.result))
        self.thumbnails_made += 1
        self._thumbs[record.id] = (weakref.ref(record.result), icon)
        return icon

    # ---- the current result ----------------------------------------------------
    @property
    def current_id(self) -> int | None:
        return self._current_id

    def set_current(self, run_id: int | None) -> None:
        """Mark (bold) the run whose result is the current result; None marks none."""
        if run_id == self._current_id:
            return      # the main window calls this on every state change
        self._current_id = run_id
        for rid, item in self._items.items():
            self._apply_current(item, rid)

    def _apply_current(self, item: QTreeWidgetItem, run_id: int) -> None:
        font = QFont(self.tree.font())
        font.setBold(run_id == self._current_id)
        for col in range(len(HEADERS)):
            item.setFont(col, font)

    # ---- selection and buttons -------------------------------------------------
    def selected_ids(self) -> list[int]:
        """The selected runs' ids, in list order (oldest first)."""
        return [i for i, item in self._items.items() if item.isSelected()]

    def select_ids(self, ids: list[int]) -> None:
        """Select exactly the runs ``ids`` (unknown ids are ignored)."""
        wanted = set(ids)
        self._updating = True
        try:
            for rid, item in self._items.items():
                item.setSelected(rid in wanted)
        finally:
            self._updating = False
        self._selection_changed()

    def set_busy(self, busy: bool) -> None:
        """While a run goes, starting another (run again) or averaging is off."""
        self._busy = bool(busy)
        self._update_buttons()

    @property
    def busy(self) -> bool:
        return self._busy

    def _selected_records(self) -> list[RunRecord]:
        if self._run_list is None:
            return []
        return [r for r in (self._run_list.get(i) for i in self.selected_ids()) if r is not None]

    def _selection_changed(self) -> None:
        if self._updating:
            return
        self._update_buttons()
        self._update_curves()

    def _update_buttons(self) -> None:
        records = self._selected_records()
        n = len(records)
        # a run whose image was dropped for the memory budget has nothing to show
        pictured = all(r.result is not None for r in records)
        self.show_button.setEnabled(n == 1 and pictured)
        self.compare_button.setEnabled(n == 2 and pictured)
        self.remove_button.setEnabled(n >= 1)
        self.run_again_button.setEnabled(n == 1 and not self._busy)
        self.run_again_button.setToolTip(
            "Wait for the current run to end." if self._busy and n == 1 else
            "Run the selected run's settings again with a new seed.")
        problem = averaging_problem(records) if n >= 2 else "Select two or more runs to average them."
        if problem is None and self._busy:
            problem = "Wait for the current run to end."
        self.average_button.setEnabled(problem is None)
        self.average_button.setToolTip(
            "The pixel mean of the selected runs' results, added as a new run." if problem is None
            else problem[:1].upper() + problem[1:].rstrip(".") + ".")

    # ---- the curves ------------------------------------------------------------
    @property
    def curves(self) -> dict[int, pg.PlotDataItem]:
        """The plotted loss curves by run id (the selected runs that have a curve)."""
        return dict(self._curves)

    def _update_curves(self) -> None:
        plot = self.plot.getPlotItem()
        wanted = {r.id: r for r in self._selected_records() if len(r.curve_steps) and len(r.curve_loss)}
        for run_id in [i for i in self._curves if i not in wanted]:
            plot.removeItem(self._curves.pop(run_id))
        for run_id, record in wanted.items():
            item = self._curves.get(run_id)
            if item is None:
                item = pg.PlotDataItem(pen=pg.mkPen(run_colour(run_id), width=1.5), name=record.label,
                                       autoDownsample=True, downsampleMethod="peak", clipToView=True)
                plot.addItem(item)
                self._curves[run_id] = item
            n = min(len(record.curve_steps), len(record.curve_loss))
            item.setData(np.asarray(record.curve_steps[:n], np.float64),
                         np.maximum(np.asarray(record.curve_loss[:n], np.float64), _LOSS_FLOOR))

    # ---- actions ---------------------------------------------------------------
    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        run_id = item.data(COL_RUN, ID_ROLE)
        if run_id is not None:
            self.showRequested.emit(int(run_id))

    def _show(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.showRequested.emit(ids[0])

    def _compare(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 2:
            self.compareRequested.emit(ids[0], ids[1])

    def _run_again(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1 and not self._busy:
            self.runAgainRequested.emit(ids[0])

    def _average(self) -> None:
        # the button's rule, asked again: a shortcut or a stale click must not slip past it
        if self._busy or averaging_problem(self._selected_records()) is not None:
            return
        self.averageRequested.emit(self.selected_ids())

    def remove_selected(self) -> None:
        """Remove the selected runs from the list, asking nothing (the rows to go are the
        visible selection), then select the row that took the first one's place so that
        Delete can be pressed again."""
        ids = self.selected_ids()
        if not ids or self._run_list is None:
            return
        row = self.tree.indexOfTopLevelItem(self._items[ids[0]])
        for run_id in ids:
            self._run_list.remove(run_id)
        count = self.tree.topLevelItemCount()
        if count:
            self.select_ids([self.tree.topLevelItem(min(row, count - 1)).data(COL_RUN, ID_ROLE)])
