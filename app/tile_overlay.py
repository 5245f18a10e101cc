"""A photo restored in tiles, on the canvas: a faint grid of the plan's units coloured by
their state (queued, running, done), the crops around the mask as dashed outlines, and
the running unit's live preview in place at its box.

Two scene items over the canvas's image (scene units are the shown image's pixels, which
are the result's pixels while a tiled run is on screen): the live tile sits just above the
image and under the compare view; the grid is drawn over everything but the split line.
A finished unit is painted into the shown image itself (``ImageCanvas.paint_into_display``),
so only the running tile is a separate picture.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QGraphicsView, QStyleOptionGraphicsItem, QWidget

Box = tuple[int, int, int, int]   # left, top, width, height

STATE_COLOURS = {
    "queued": QColor(255, 255, 255, 70),
    "running": QColor(255, 196, 0, 230),
    "done": QColor(80, 220, 120, 150),
}
CROP_COLOUR = QColor(0, 200, 255, 220)
LIVE_Z, GRID_Z = 0.5, 2.5   # the image is at 0, compare at 1, the mask at 2, the split line at 3


def _pen(colour: QColor, width: float, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)   # one screen pixel (or two) at any zoom
    return pen


class TileGrid(QGraphicsItem):
    """The units' outlines by state, and the crops' dashed outlines. Queued and done units
    are drawn as their *cells* (the box less half of each overlap, so neighbours share one
    line instead of two a few pixels apart); the running unit as its whole box."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[Box] = []
        self.cells: list[Box] = []
        self.states: list[str] = []
        self.crops: list[Box] = []
        self._rect = QRectF()

    def set_plan(self, boxes: list[Box], crops: list[Box], cells: list[Box] | None = None) -> None:
        self.prepareGeometryChange()
        self.boxes, self.crops = list(boxes), list(crops)
        self.cells = list(cells) if cells is not None else list(boxes)
        self.states = ["queued"] * len(self.boxes)
        rect = QRectF()
        for b in self.boxes + self.crops:
            rect = rect.united(QRectF(*b))
        self._rect = rect.adjusted(-2, -2, 2, 2)
        self.update()

    def set_states(self, states: list[str]) -> None:
        if list(states) != self.states and len(states) == len(self.boxes):
            self.states = list(states)
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._rect

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem, _widget: QWidget | None = None) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        # queued first, running last: the running tile's outline is never hidden by a neighbour's
        for state, width in (("queued", 1.0), ("done", 1.0), ("running", 2.0)):
            painter.setPen(_pen(STATE_COLOURS[state], width))
            for box, cell, s in zip(self.boxes, self.cells, self.states):
                if s == state:
                    painter.drawRect(QRectF(*(box if state == "running" else cell)))
        if self.crops:
            painter.setPen(_pen(CROP_COLOUR, 1.5, Qt.PenStyle.DashLine))
            for b in self.crops:
                painter.drawRect(QRectF(*b))


class TileOverlay:
    """The grid and the live tile of one tiled run on ``view``'s scene."""

    def __init__(self, view: QGraphicsView) -> None:
        self.view = view
        self.grid = TileGrid()
        self.grid.setZValue(GRID_Z)
        self.grid.setVisible(False)
        self.live = QGraphicsPixmapItem()
        self.live.setZValue(LIVE_Z)
        self.live.setVisible(False)
        scene = view.scene()
        scene.addItem(self.live)
        scene.addItem(self.grid)
        self.live_box: Box | None = None

    @property
    def visible(self) -> bool:
        return self.grid.isVisible()

    def show_plan(self, boxes: list[Box], crops: list[Box], cells: list[Box] | None = None) -> None:
        self.grid.set_plan(boxes, crops, cells)
        self.grid.setVisible(True)
        self.hide_live()

    def set_states(self, states: list[str]) -> None:
        self.grid.set_states(states)

    def show_live(self, box: Box, image: QImage) -> None:
        """The running unit's preview at its box (tile-sized: cheap to show)."""
        left, top, w, h = box
        pixmap = QPixmap.fromImage(image)
        self.live.setPixmap(pixmap)
        self.live.setPos(left, top)
        sx, sy = w / max(1, pixmap.width()), h / max(1, pixmap.height())
        self.live.setScale(min(sx, sy))
        smooth = self.view.transform().m11() < 1.0
        self.live.setTransformationMode(Qt.TransformationMode.SmoothTransformation if smooth
                                        else Qt.TransformationMode.FastTransformation)
        self.live.setVisible(True)
        self.live_box = box

    def hide_live(self) -> None:
        self.live.setVisible(False)
        self.live.setPixmap(QPixmap())
        self.live_box = None

    def clear(self) -> None:
        self.hide_live()
        self.grid.setVisible(False)
        self.grid.set_plan([], [])
