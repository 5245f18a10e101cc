"""The main window: canvas in the centre, settings and run controls on the right, curves
and the snapshot timeline at the bottom; menus for files, the mask and the view.

The window holds the user's work (the loaded image, the mask on the canvas, the result
array) and never a tensor: a :class:`RunController` runs the engine in a worker thread and
hands back NumPy arrays. Whatever fails (a file, a mask, the run) is reported in a dialog
and leaves the image, the mask and the last result as they were.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QByteArray, QEvent, QObject, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
    QProgressBar, QPushButton, QRubberBand, QSpinBox, QVBoxLayout, QWidget,
)

from engine.config import RunConfig
from engine.device import describe, pick_device
from engine.errors import ConfigError, DIPError, ImageError, MaskError
from engine.imageio import (
    OPEN_EXTENSIONS, Loaded, atomic_write, load_image, load_mask, save_image, save_mask,
)

from . import settings_store as keys
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
        self.target = canvas.viewport() if hasattr(canvas, "viewport") else canvas
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
            x0, y0 = self.canvas.map_to_image(rect.topLeft())
            x1, y1 = self.canvas.map_to_image(rect.bottomRight())
            self.picked.emit(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
            return True
        if t == QEvent.KeyPress and event.key() == Qt.Key_Escape:
            self.stop()
            self.cancelled.emit()
            return True
        return False
