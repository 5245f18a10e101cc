"""Dragging a rectangle over the canvas once, to pick the region a run works on."""
from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import QRubberBand

from .canvas import ImageCanvas


class RegionPicker(QObject):
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
            k = self.canvas.display_scale   # over a super-resolved result: its pixels, not the input's
            x0, y0 = math.floor(a.x() / k), math.floor(a.y() / k)
            x1, y1 = math.ceil(b.x() / k), math.ceil(b.y() / k)
            self.picked.emit(x0, y0, x1 - x0, y1 - y0)
            return True
        if t == QEvent.KeyPress and event.key() == Qt.Key_Escape:
            self.stop()
            self.cancelled.emit()
            return True
        return False
