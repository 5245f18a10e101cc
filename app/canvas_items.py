"""The canvas's small screen-space items: the brush cursor and the compare split's grip."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget


class BrushCursor(QGraphicsItem):
    """A two-tone circle at the true brush size, plus a small cross when it gets tiny on screen."""

    CROSS_PX = 4.0  # half-length of the cross, in screen pixels

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._radius = 1.0
        self._zoom = 1.0

    def set_geometry(self, radius: float, zoom: float) -> None:
        if radius != self._radius or zoom != self._zoom:
            self.prepareGeometryChange()
            self._radius, self._zoom = radius, zoom

    def boundingRect(self) -> QRectF:
        extent = max(self._radius, (self.CROSS_PX + 2) / max(self._zoom, 1e-6)) + 2.0 / max(self._zoom, 1e-6)
        return QRectF(-extent, -extent, 2 * extent, 2 * extent)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        circle = QRectF(-self._radius, -self._radius, 2 * self._radius, 2 * self._radius)
        dark = QPen(QColor(0, 0, 0, 200), 1.0)
        dark.setCosmetic(True)
        light = QPen(QColor(255, 255, 255, 230), 1.0, Qt.PenStyle.DashLine)
        light.setCosmetic(True)
        for pen in (dark, light):
            painter.setPen(pen)
            painter.drawEllipse(circle)
        if self._radius * self._zoom < 3.0 * self.CROSS_PX:
            c = self.CROSS_PX / max(self._zoom, 1e-6)
            for pen in (dark, light):
                painter.setPen(pen)
                painter.drawLine(QPointF(-c, 0), QPointF(c, 0))
                painter.drawLine(QPointF(0, -c), QPointF(0, c))


class SplitHandle(QGraphicsItem):
    """The grip on the compare split line: a pill with two arrows, a fixed size on screen."""

    HALF_W, HALF_H = 7.0, 16.0   # screen pixels

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # one size at any zoom; the canvas moves it along the line to stay in view
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)

    def boundingRect(self) -> QRectF:
        return QRectF(-self.HALF_W - 1, -self.HALF_H - 1, 2 * self.HALF_W + 2, 2 * self.HALF_H + 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 180), 1.0))
        painter.setBrush(QBrush(QColor(255, 255, 255)))
        w, h = self.HALF_W, self.HALF_H
        painter.drawRoundedRect(QRectF(-w, -h, 2 * w, 2 * h), w, w)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(60, 60, 60)))
        for sign in (-1, 1):   # a small triangle pointing each way
            tip = sign * (w - 2.0)
            painter.drawPolygon([QPointF(tip, 0), QPointF(sign * 1.5, -4.5), QPointF(sign * 1.5, 4.5)])
