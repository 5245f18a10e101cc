"""The image view with a paintable mask overlay (IOPaint / napari conventions).

Scene coordinates are image pixels of the *base* image (the one given to
``set_image``): pixel (row i, column j) covers ``[j, j+1) x [i, i+1)``. Everything else
shown (a reconstruction via ``set_display``, a compare image) is stretched onto that
rectangle, so a super-resolved output lines up with the mask painted on the input.

The overlay is an ARGB32 QImage that wraps a NumPy buffer: a stroke rewrites only its
dirty rect in that buffer and repaints only that rect, which keeps painting smooth on
a 4000x3000 image.
"""
from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QImage, QKeyEvent, QKeySequence, QMouseEvent, QPainter,
                           QPen, QPixmap, QTransform, QWheelEvent)
from PySide6.QtWidgets import (QFrame, QGraphicsItem, QGraphicsLineItem, QGraphicsPixmapItem,
                               QGraphicsRectItem, QGraphicsScene, QGraphicsView,
                               QStyleOptionGraphicsItem, QWidget)

from engine.errors import ImageError, MaskError

from .mask_model import TOOLS, MaskModel, Rect

MIN_BRUSH, MAX_BRUSH = 1, 300
MIN_ZOOM, MAX_ZOOM = 0.01, 64.0
ZOOM_STEP = 1.25
DEFAULT_OVERLAY = QColor(255, 40, 80)


def _to_u8(a: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 with rounding; uint8 passes through."""
    if a.dtype == np.uint8:
        return a
    f = np.multiply(a, np.float32(255.0), dtype=np.float32)
    f += np.float32(0.5)
    np.fmax(f, np.float32(0.0), out=f)  # fmax, unlike clip, also maps NaN to 0
    np.minimum(f, np.float32(255.0), out=f)
    return f.astype(np.uint8)


def array_to_qimage(array: np.ndarray) -> QImage:
    """A float32 HxWxC [0, 1] (C = 1 or 3, or HxW) or uint8 array as an owning QImage."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or a.size == 0:
        raise ImageError(f"cannot show an array of shape {a.shape}: expected HxW, HxWx1 or HxWx3")
    a = np.ascontiguousarray(_to_u8(a))
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    # .copy() detaches from the NumPy buffer, which dies with this function.
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


def display_qimage(array: np.ndarray) -> QImage:
    """A float32 [0, 1] (or uint8) HxW, HxWx1 or HxWx3 array as an owning QImage in the
    format the screen's pixmaps use (RGB32), so ``QPixmap.fromImage`` is a cheap share
    instead of a conversion. The run's worker calls it in its own thread: a 4000x3000
    preview costs ~0.2 s there and nothing on the GUI thread (see app/worker.py)."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or a.size == 0:
        raise ImageError(f"cannot show an array of shape {a.shape}: expected HxW, HxWx1 or HxWx3")
    a = _to_u8(a)
    h, w, c = a.shape
    buf = np.empty((h, w, 4), np.uint8)
    # RGB32 is 0xffRRGGBB per native-endian 32-bit word
    order = (2, 1, 0, 3) if sys.byteorder == "little" else (3, 0, 1, 2)
    for dst, src in zip(order[:3], (0, 1, 2)):
        buf[:, :, dst] = a[:, :, src if c == 3 else 0]
    buf[:, :, order[3]] = 255
    # .copy() detaches from the NumPy buffer, which dies with this function.
    return QImage(buf.data, w, h, 4 * w, QImage.Format.Format_RGB32).copy()


def _size_step(size: int) -> int:
    """Bracket-key step: fine for small brushes, coarse for big ones (Photoshop-like)."""
    if size < 10:
        return 1
    if size < 30:
        return 2
    if size < 60:
        return 5
    if size < 150:
        return 10
    return 25


class _MaskOverlay(QGraphicsItem):
    """The painted pixels in one colour, drawn from a QImage that views a NumPy buffer."""

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._argb = np.zeros((0, 0), dtype=np.uint32)
        self._image = QImage()
        self._color = np.uint32(0)
        self.set_color(color)

    def set_color(self, color: QColor) -> None:
        # Opaque colour; the item's opacity gives the transparency, so premultiplying is a no-op.
        self._color = np.uint32(QColor(color.red(), color.green(), color.blue(), 255).rgba())

    def resize(self, height: int, width: int) -> None:
        self.prepareGeometryChange()
        self._argb = np.zeros((height, width), dtype=np.uint32)
        self._image = QImage(self._argb.data, width, height, 4 * width,
                             QImage.Format.Format_ARGB32_Premultiplied)

    def refresh(self, paint: np.ndarray, rect: Rect | None = None) -> None:
        h, w = self._argb.shape
        x0, y0, x1, y1 = rect if rect is not None else (0, 0, w, h)
        if x0 >= x1 or y0 >= y1:
            return
        np.multiply(paint[y0:y1, x0:x1], self._color, out=self._argb[y0:y1, x0:x1], casting="unsafe")
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def boundingRect(self) -> QRectF:
        h, w = self._argb.shape
        return QRectF(0, 0, w, h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        h, w = self._argb.shape
        if h == 0 or w == 0:
            return
        r = option.exposedRect
        x0, y0 = max(0, math.floor(r.left())), max(0, math.floor(r.top()))
        x1, y1 = min(w, math.ceil(r.right())), min(h, math.ceil(r.bottom()))
        if x0 >= x1 or y0 >= y1:
            return
        zoom = painter.worldTransform().m11()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0)
        target = QRectF(x0, y0, x1 - x0, y1 - y0)
        painter.drawImage(target, self._image, target)


class _BrushCursor(QGraphicsItem):
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


class ImageCanvas(QGraphicsView):
    """Shows an image with a semi-transparent mask overlay the user paints with brush/eraser.

    Mouse: left = paint (when ``painting_enabled``), middle or Space+left = pan,
    wheel = zoom under the pointer, Alt+wheel = brush size. Keys (when focused):
    B brush, E eraser, [ ] size, Space (hold) pan, C (hold) show the compare image
    when ``set_compare(..., None)``, Ctrl+Z / Ctrl+Shift+Z undo/redo.
    """

    brushSizeChanged = Signal(int)
    toolChanged = Signal(str)
    maskChanged = Signal()
    zoomChanged = Signal(float)
    cursorMoved = Signal(int, int)

    compare_key = Qt.Key.Key_C

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QBrush(QColor(40, 40, 40)))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Zoom anchoring is done by hand (see set_zoom) so it works for synthetic events too.
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)

        self._image_item = QGraphicsPixmapItem()
        self._image_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._scene.addItem(self._image_item)

        self._compare_clip = QGraphicsRectItem()
        self._compare_clip.setPen(QPen(Qt.PenStyle.NoPen))
        self._compare_clip.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self._compare_clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self._compare_clip.setZValue(1)
        self._compare_clip.setVisible(False)
        self._compare_item = QGraphicsPixmapItem(self._compare_clip)
        self._scene.addItem(self._compare_clip)

        self._overlay = _MaskOverlay(DEFAULT_OVERLAY)
        self._overlay.setZValue(2)
        self._overlay.setOpacity(0.5)
        self._scene.addItem(self._overlay)

        line_pen = QPen(QColor(255, 255, 255), 2.0)
        line_pen.setCosmetic(True)
        self._split_line = QGraphicsLineItem()
        self._split_line.setPen(line_pen)
        self._split_line.setZValue(3)
        self._split_line.setVisible(False)
        self._scene.addItem(self._split_line)

        self._cursor_item = _BrushCursor()
        self._cursor_item.setZValue(4)
        self._cursor_item.setVisible(False)
        self._scene.addItem(self._cursor_item)

        self._image_size: tuple[int, int] | None = None  # (width, height) of the base image
        self._base_pixmap = QPixmap()
        self._base_array: Any = None
        self._mask_model: MaskModel | None = None
        self._tool = "brush"
        self._sizes = {"brush": 30, "eraser": 30}
        self._painting_enabled = True
        self._stroking = False
        self._panning = False
        self._pan_last = QPointF()
        self._space_held = False
        self._pointer: QPointF | None = None  # last pointer position in viewport coordinates
        self._compare_split: float | None = 0.5
        self._compare_on = False
        self._compare_held = False
        self._fit_mode = True
        self._alt_wheel = 0
        self._last_zoom = 1.0

    # ----------------------------------------------------------------- images
    @property
    def has_image(self) -> bool:
        return self._image_size is not None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the base image, or None."""
        return self._image_size

    def set_image(self, array: np.ndarray) -> None:
        """Show a new image with a new empty mask of its size, fitted to the view."""
        qimage = display_qimage(array)
        self._end_stroke()
        self._base_pixmap = QPixmap.fromImage(qimage)
        self._base_array = array   # compare against the same array: no second conversion
        w, h = qimage.width(), qimage.height()
        self._image_size = (w, h)
        self._image_item.setPixmap(self._base_pixmap)
        self._image_item.setTransform(QTransform())
        self.set_compare(None)
        self.set_mask_model(MaskModel(h, w))
        self.fit()

    def set_display(self, array: np.ndarray | QImage | None) -> None:
        """Show another image (e.g. a reconstruction) in place of the base one; the mask stays.
        A QImage (from :func:`display_qimage`) is shown without any conversion here.

        Any size is stretched onto the base image's rectangle; None shows the base image again.
        """
        if self._image_size is None:
            if array is not None:
                self.set_image(array)
            return
        if array is None:
            pixmap = self._base_pixmap
        elif isinstance(array, QImage):   # converted already (in the run's thread)
            pixmap = QPixmap.fromImage(array)
        else:
            pixmap = QPixmap.fromImage(display_qimage(array))
        self._image_item.setPixmap(pixmap)
        self._image_item.setTransform(self._stretch(pixmap))
        self._update_smoothing()

    def set_compare(self, array: np.ndarray | None, split: float | None = 0.5) -> None:
        """Show ``array`` left of a vertical line at ``split`` (fraction of the width).

        ``split=None``: the compare image covers everything, but only while the compare
        key (C) is held or ``set_compare_held(True)``. ``array=None`` ends compare mode.
        """
        if array is None or self._image_size is None:
            self._compare_on = False
            self._compare_item.setPixmap(QPixmap())
        else:
            pixmap = self._base_pixmap if array is self._base_array \
                else QPixmap.fromImage(display_qimage(array))
            self._compare_item.setPixmap(pixmap)
            self._compare_item.setTransform(self._stretch(pixmap))
            self._compare_on = True
            self._compare_split = None if split is None else min(1.0, max(0.0, float(split)))
            self._update_smoothing()
        self._update_compare()

    def set_compare_split(self, split: float | None) -> None:
        self._compare_split = None if split is None else min(1.0, max(0.0, float(split)))
        self._update_compare()

    def set_compare_held(self, held: bool) -> None:
        self._compare_held = bool(held)
        self._update_compare()

    @property
    def compare_visible(self) -> bool:
        return self._compare_clip.isVisible()

    def _stretch(self, pixmap: QPixmap) -> QTransform:
        assert self._image_size is not None
        w, h = self._image_size
        return QTransform.fromScale(w / max(1, pixmap.width()), h / max(1, pixmap.height()))

    def _update_compare(self) -> None:
        if not self._compare_on or self._image_size is None:
            self._compare_clip.setVisible(False)
            self._split_line.setVisible(False)
            return
        w, h = self._image_size
        if self._compare_split is None:
            self._compare_clip.setRect(QRectF(0, 0, w, h))
            self._compare_clip.setVisible(self._compare_held)
            self._split_line.setVisible(False)
        else:
            x = self._compare_split * w
            self._compare_clip.setRect(QRectF(0, 0, x, h))
            self._compare_clip.setVisible(True)
            self._split_line.setLine(x, 0, x, h)
            self._split_line.setVisible(True)

    # ------------------------------------------------------------------- mask
    @property
    def mask_model(self) -> MaskModel | None:
        return self._mask_model

    def set_mask_model(self, model: MaskModel) -> None:
        if self._image_size is not None and model.shape != (self._image_size[1], self._image_size[0]):
            raise MaskError(f"the mask is {model.width}x{model.height} "
                            f"but the image is {self._image_size[0]}x{self._image_size[1]}")
        self._end_stroke()
        if self._mask_model is not None and self._on_mask_rect in self._mask_model.changed:
            self._mask_model.changed.remove(self._on_mask_rect)
        self._mask_model = model
        model.changed.append(self._on_mask_rect)
        self._overlay.resize(model.height, model.width)
        self._overlay.refresh(model.paint)
        self._update_scene_rect()
        self.maskChanged.emit()

    def _on_mask_rect(self, rect: Rect) -> None:
        if self._mask_model is not None:
            self._overlay.refresh(self._mask_model.paint, rect)
        if not self._stroking:
            self.maskChanged.emit()

    def undo(self) -> bool:
        self._end_stroke()
        return self._mask_model.undo() if self._mask_model is not None else False

    def redo(self) -> bool:
        self._end_stroke()
        return self._mask_model.redo() if self._mask_model is not None else False

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay.setOpacity(min(1.0, max(0.0, float(opacity))))

    @property
    def overlay_opacity(self) -> float:
        return self._overlay.opacity()

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay.setVisible(bool(visible))

    @property
    def overlay_visible(self) -> bool:
        return self._overlay.isVisible()

    def set_overlay_color(self, color: QColor) -> None:
        self._overlay.set_color(color)
        if self._mask_model is not None:
            self._overlay.refresh(self._mask_model.paint)

    # ------------------------------------------------------------ tools, size
    @property
    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        if tool == self._tool:
            return
        self._end_stroke()
        self._tool = tool
        self._update_cursor()
        self.toolChanged.emit(tool)
        self.brushSizeChanged.emit(self._sizes[tool])

    @property
    def brush_size(self) -> int:
        """Diameter of the current tool, in image pixels."""
        return self._sizes[self._tool]

    @brush_size.setter
    def brush_size(self, size: int) -> None:
        self.set_brush_size(size)

    def set_brush_size(self, size: int) -> None:
        self.set_tool_size(self._tool, size)

    def tool_size(self, tool: str) -> int:
        return self._sizes[tool]

    def set_tool_size(self, tool: str, size: int) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        size = int(min(MAX_BRUSH, max(MIN_BRUSH, round(size))))
        if size == self._sizes[tool]:
            return
        self._sizes[tool] = size
        if tool == self._tool:
            self._update_cursor()
            self.brushSizeChanged.emit(size)

    def increase_brush_size(self, steps: int = 1) -> None:
        size = self.brush_size
        for _ in range(max(0, steps)):
            size += _size_step(size)
        self.set_brush_size(size)

    def decrease_brush_size(self, steps: int = 1) -> None:
        size = self.brush_size
        for _ in range(max(0, steps)):
            size -= _size_step(max(MIN_BRUSH, size - 1))
        self.set_brush_size(size)

    @property
    def painting_enabled(self) -> bool:
        return self._painting_enabled

    @painting_enabled.setter
    def painting_enabled(self, enabled: bool) -> None:
        self.set_painting_enabled(enabled)

    def set_painting_enabled(self, enabled: bool) -> None:
        self._painting_enabled = bool(enabled)
        if not self._painting_enabled:
            self._end_stroke()
        self._update_cursor()

    def _can_paint(self) -> bool:
        return self._painting_enabled and self._mask_model is not None

    # ------------------------------------------------------------------ zoom
    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (viewport coordinates; default centre) fixed."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        scene_point = self.image_pos(anchor, centre=False)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._update_scene_rect()
        moved = self.viewportTransform().map(scene_point) - anchor
        hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
        hbar.setValue(hbar.value() + round(moved.x()))
        vbar.setValue(vbar.value() + round(moved.y()))
        self._fit_mode = False
        self._zoom_changed()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def reset_zoom(self) -> None:
        """1:1, one image pixel per screen pixel."""
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Fit the whole image in the view; it stays fitted when the view is resized."""
        rect = self._content_rect()
        vp = self.viewport().rect()
        if rect.isEmpty() or vp.isEmpty():
            return
        zoom = min((vp.width() - 4) / rect.width(), (vp.height() - 4) / rect.height())
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._update_scene_rect()
        self.centerOn(rect.center())
        self._fit_mode = True
        self._zoom_changed()

    def _content_rect(self) -> QRectF:
        """The base image's rectangle (or the mask's, when there is no image) in scene units."""
        if self._image_size is not None:
            return QRectF(0, 0, *self._image_size)
        if self._mask_model is not None:
            return QRectF(0, 0, self._mask_model.width, self._mask_model.height)
        return QRectF()

    def _update_scene_rect(self) -> None:
        # Half a view of slack around the image: its edges can be brought to the centre
        # (to paint there), and zooming stays anchored under the mouse even when the
        # image is smaller than the view.
        rect = self._content_rect()
        if rect.isEmpty():
            return
        z = max(self.zoom, 1e-6)
        mx, my = self.viewport().width() / (2 * z), self.viewport().height() / (2 * z)
        wanted = rect.adjusted(-mx, -my, mx, my)
        if wanted != self.sceneRect():
            self._scene.setSceneRect(wanted)

    def _zoom_changed(self) -> None:
        self._update_smoothing()
        self._update_cursor()
        z = self.zoom
        if z != self._last_zoom:
            self._last_zoom = z
            self.zoomChanged.emit(z)

    def _update_smoothing(self) -> None:
        # Smooth when shown smaller than 1:1; crisp pixels when magnified (to paint with
        # precision). A stretched display (e.g. a 2x super-resolved output) has its own scale.
        for item in (self._image_item, self._compare_item):
            scale = self.zoom * item.transform().m11()
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation if scale < 1.0
                                       else Qt.TransformationMode.FastTransformation)

    # ------------------------------------------------------------ coordinates
    def image_pos(self, view_pos: QPointF, centre: bool = True) -> QPointF:
        """Image coordinates of a viewport position (of the centre of that screen pixel)."""
        p = QPointF(view_pos)
        if centre:
            p += QPointF(0.5, 0.5)
        inverted, _ = self.viewportTransform().inverted()
        return inverted.map(p)

    def _over_image(self, scene_pos: QPointF) -> bool:
        return self._image_size is not None and self._content_rect().contains(scene_pos)

    # ----------------------------------------------------------------- stroke
    def _paint_at(self, view_pos: QPointF) -> None:
        if self._mask_model is None:
            return
        p = self.image_pos(view_pos)
        self._mask_model.stroke_to(p.x(), p.y(), self.brush_size / 2.0)

    def _end_stroke(self) -> None:
        if not self._stroking:
            return
        self._stroking = False
        if self._mask_model is not None and self._mask_model.end_stroke():
            self.maskChanged.emit()

    # ----------------------------------------------------------------- cursor
    def _update_cursor(self) -> None:
        pos = self._pointer
        show_brush = self._can_paint() and pos is not None and not self._panning and not self._space_held
        if show_brush:
            scene_pos = self.image_pos(pos)
            self._cursor_item.set_geometry(self.brush_size / 2.0, self.zoom)
            self._cursor_item.setPos(scene_pos)
        self._cursor_item.setVisible(show_brush)
        if self._panning:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._space_held:
            shape = Qt.CursorShape.OpenHandCursor
        elif show_brush and self._over_image(self.image_pos(pos)):
            shape = Qt.CursorShape.BlankCursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        if self.viewport().cursor().shape() != shape:
            self.viewport().setCursor(shape)

    def _report_pointer(self, view_pos: QPointF | None) -> None:
        if view_pos is None or self._image_size is None:
            self.cursorMoved.emit(-1, -1)
            return
        p = self.image_pos(view_pos)
        if self._over_image(p):
            self.cursorMoved.emit(int(math.floor(p.x())), int(math.floor(p.y())))
        else:
            self.cursorMoved.emit(-1, -1)

    # ----------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._pointer = QPointF(pos)
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._end_stroke()
            self._panning = True
            self._pan_last = QPointF(pos)
            self._update_cursor()
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._can_paint() and not self._stroking:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._stroking = True
            assert self._mask_model is not None
            self._mask_model.begin_stroke(self._tool)
            self._paint_at(pos)
            self._update_cursor()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # The second click of a quick double click arrives here, not in mousePressEvent;
        # it is still a dab of paint (or a pan), never a scene double click.
        self.mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._pointer = QPointF(pos)
        if self._panning:
            delta = pos - self._pan_last
            self._pan_last = QPointF(pos)
            hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
            hbar.setValue(hbar.value() - round(delta.x()))
            vbar.setValue(vbar.value() - round(delta.y()))
        elif self._stroking:
            self._paint_at(pos)
        self._update_cursor()
        self._report_pointer(pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if self._panning and button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = False
            self._update_cursor()
            event.accept()
            return
        if self._stroking and button == Qt.MouseButton.LeftButton:
            self._end_stroke()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        # Several platforms turn Alt+wheel into a horizontal wheel.
        amount = delta.y() if delta.y() != 0 else delta.x()
        if event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self._alt_wheel += amount
            steps = int(self._alt_wheel / 120)
            if steps:
                self._alt_wheel -= steps * 120
                if steps > 0:
                    self.increase_brush_size(steps)
                else:
                    self.decrease_brush_size(-steps)
            event.accept()
            return
        if amount == 0 or not self.has_image:
            event.ignore()
            return
        self.set_zoom(self.zoom * ZOOM_STEP ** (amount / 120.0), anchor=event.position())
        self._pointer = QPointF(event.position())
        self._update_cursor()
        event.accept()

    def _is_canvas_key(self, event: QKeyEvent) -> bool:
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier):
            return False
        return event.key() in (Qt.Key.Key_B, Qt.Key.Key_E, Qt.Key.Key_BracketLeft,
                               Qt.Key.Key_BracketRight, Qt.Key.Key_Space, self.compare_key)

    def event(self, event: QEvent) -> bool:
        # Claim our single keys while focused, even if the window binds them to shortcuts.
        if event.type() == QEvent.Type.ShortcutOverride and self._is_canvas_key(event):  # type: ignore[arg-type]
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        undo = event.matches(QKeySequence.StandardKey.Undo)
        redo = not undo and (event.matches(QKeySequence.StandardKey.Redo) or (
            key == Qt.Key.Key_Z and event.modifiers() & Qt.KeyboardModifier.ControlModifier
            and event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        if undo or redo:
            # the same guard as painting: while a run uses the mask, or outside inpainting,
            # the window disables its Undo action and the key must not edit the mask here
            if self._can_paint():
                self.undo() if undo else self.redo()
                event.accept()
            else:
                event.ignore()
            return
        if not self._is_canvas_key(event):
            super().keyPressEvent(event)
            return
        if key == Qt.Key.Key_B:
            self.set_tool("brush")
        elif key == Qt.Key.Key_E:
            self.set_tool("eraser")
        elif key == Qt.Key.Key_BracketLeft:
            self.decrease_brush_size()
        elif key == Qt.Key.Key_BracketRight:
            self.increase_brush_size()
        elif key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self._update_cursor()
        elif key == self.compare_key:
            if not event.isAutoRepeat():
                self.set_compare_held(True)
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space:
            self._space_held = False
            self._update_cursor()
        elif event.key() == self.compare_key:
            self.set_compare_held(False)
        else:
            super().keyReleaseEvent(event)
            return
        event.accept()

    def viewportEvent(self, event: QEvent) -> bool:
        # The viewport's Leave never reaches leaveEvent(); hide the brush when the pointer goes.
        if event.type() == QEvent.Type.Leave:
            self._pointer = None
            self._update_cursor()
            self._report_pointer(None)
        return super().viewportEvent(event)

    def focusOutEvent(self, event) -> None:
        # A key released while unfocused never reaches us; do not stay stuck in pan/compare.
        self._space_held = False
        if self._compare_held:
            self.set_compare_held(False)
        self._update_cursor()
        super().focusOutEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode and self.has_image:
            self.fit()
        else:
            self._update_scene_rect()
