"""The image view with a paintable mask overlay (IOPaint / napari conventions).

Scene coordinates are image pixels of the shown geometry: pixel (row i, column j)
covers ``[j, j+1) x [i, i+1)``. Normally that is the *base* image (the one given to
``set_image``) and everything else shown (a reconstruction via ``set_display``, a
compare image) is stretched onto its rectangle. A display exactly k times the base
image (a super-resolved output) is shown at its own pixels instead, with the base image
upscaled under it for compare; ``display_scale`` is then k.

Its behaviours live beside it as mixins: mask painting (app/canvas_mask.py), zoom and pan
(app/canvas_zoom.py), compare (app/canvas_compare.py); this module keeps the layers and the
input events. The graphics items live beside it too: the mask overlay in app/mask_overlay.py, the brush
cursor and split grip in app/canvas_items.py; the array -> QImage conversions in
app/qimage.py. Their public names are re-exported here, where callers import them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QImage, QKeyEvent, QKeySequence, QMouseEvent, QPainter, QPen,
                           QPixmap, QTransform, QWheelEvent)
from PySide6.QtWidgets import (QFrame, QGraphicsItem, QGraphicsLineItem, QGraphicsPixmapItem,
                               QGraphicsRectItem, QGraphicsScene, QGraphicsView, QWidget)


from .canvas_compare import SPLIT_GRAB_PX, CompareMixin
from .canvas_items import BrushCursor, SplitHandle
from .canvas_mask import MAX_BRUSH, MIN_BRUSH, MaskPaintingMixin
from .canvas_zoom import MAX_ZOOM, MIN_ZOOM, ZOOM_STEP, ZoomMixin
from .mask_model import MaskModel
from .mask_overlay import ANT_DASH, ANT_LIGHT, OVERLAY_STYLES, MaskOverlay, device_sample, outline_pixels
from .qimage import array_to_qimage, display_qimage

__all__ = [
    "ANT_DASH", "ANT_LIGHT", "DEFAULT_OVERLAY", "MAX_BRUSH", "MAX_ZOOM", "MIN_BRUSH", "MIN_ZOOM",
    "OVERLAY_STYLES", "SPLIT_GRAB_PX", "ZOOM_STEP", "ImageCanvas", "array_to_qimage", "device_sample",
    "display_qimage", "outline_pixels",
]

DEFAULT_OVERLAY = QColor(255, 40, 80)


class ImageCanvas(MaskPaintingMixin, ZoomMixin, CompareMixin, QGraphicsView):
    """Shows an image with a semi-transparent mask overlay the user paints with brush/eraser.

    Mouse: left = paint (when ``painting_enabled``), or drag the compare split line by
    its handle; middle or Space+left = pan, wheel = zoom under the pointer, Alt+wheel =
    brush size. Keys (when focused): B brush, E eraser, [ ] size, Space (hold) pan,
    C (hold) show the compare image when ``set_compare(..., None)``, Ctrl+Z /
    Ctrl+Shift+Z undo/redo.

    Geometry: scene units are the pixels of what is shown. Normally that is the input
    (``set_image``) and anything else is stretched onto it. A display exactly k times the
    input (k >= 2, a super-resolved result) is shown at its own pixels instead: the
    input is upscaled under it for compare, the mask overlay is hidden and painting is
    off until the input geometry returns (``set_display(None)`` or ``set_image``).
    """

    brushSizeChanged = Signal(int)
    toolChanged = Signal(str)
    maskChanged = Signal()
    zoomChanged = Signal(float)
    cursorMoved = Signal(int, int)
    overlayStyleChanged = Signal(str)
    splitChanged = Signal(float)

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

        self._overlay = MaskOverlay(DEFAULT_OVERLAY)
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
        self._split_handle = SplitHandle()
        self._split_handle.setZValue(3.5)
        self._split_handle.setVisible(False)
        self._scene.addItem(self._split_handle)

        self._cursor_item = BrushCursor()
        self._cursor_item.setZValue(4)
        self._cursor_item.setVisible(False)
        self._scene.addItem(self._cursor_item)

        self._input_size: tuple[int, int] | None = None  # (width, height) of the base image
        self._scale = 1   # display pixels per input pixel: k while an SR result is shown
        self._overlay_wanted = True
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
        self._split_drag: float | None = None   # grab offset (screen px) while dragging the split
        self._fit_mode = True
        self._alt_wheel = 0
        self._last_zoom = 1.0

    # ----------------------------------------------------------------- images
    @property
    def has_image(self) -> bool:
        return self._input_size is not None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the shown geometry, or None: the input's, or a
        super-resolved result's while one is shown (see ``display_scale``)."""
        if self._input_size is None:
            return None
        w, h = self._input_size
        return w * self._scale, h * self._scale

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(width, height) of the image given to ``set_image`` (the mask's size), or None."""
        return self._input_size

    @property
    def display_scale(self) -> int:
        """Shown pixels per input pixel: k while a k-times super-resolved result is
        shown at its own geometry, else 1. Divide ``image_pos`` by it for input pixels."""
        return self._scale

    def set_image(self, array: np.ndarray) -> None:
        """Show a new image with a new empty mask of its size, fitted to the view."""
        qimage = display_qimage(array)
        self._end_stroke()
        self._base_pixmap = QPixmap.fromImage(qimage)
        self._base_array = array   # compare against the same array: no second conversion
        w, h = qimage.width(), qimage.height()
        self._input_size = (w, h)
        self._scale = 1
        self._overlay.setTransform(QTransform())
        self._apply_overlay_visibility()
        self._image_item.setPixmap(self._base_pixmap)
        self._image_item.setTransform(QTransform())
        self.set_compare(None)
        self.set_mask_model(MaskModel(h, w))
        self.fit()

    def set_display(self, array: np.ndarray | QImage | None) -> None:
        """Show another image (e.g. a reconstruction) in place of the base one; the mask stays.
        A QImage (from :func:`display_qimage`) is shown without any conversion here.

        A display exactly k times the input (integer k >= 2) switches to its own geometry
        (see the class notes), keeping the visible area; any other size is stretched onto
        the input's rectangle. None shows the base image again, at the input geometry.
        """
        if self._input_size is None:
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
        self._set_scale(self._sr_factor(pixmap.width(), pixmap.height()))
        self._image_item.setTransform(self._stretch(pixmap))
        self._update_smoothing()

    def paint_into_display(self, left: int, top: int, image: QImage) -> None:
        """Paint ``image`` into the shown image at (left, top) of the shown geometry, in
        place (a finished tile of a photo: the rest of the picture is not converted again)."""
        pixmap = self._image_item.pixmap()
        if pixmap.isNull():
            return
        sx = pixmap.width() / max(1, self.image_size[0]) if self.image_size else 1.0
        sy = pixmap.height() / max(1, self.image_size[1]) if self.image_size else 1.0
        painter = QPainter(pixmap)   # detaches from the base image's pixmap: the input stays
        painter.drawImage(QRectF(left * sx, top * sy, image.width() * sx, image.height() * sy), image)
        painter.end()
        self._image_item.setPixmap(pixmap)

    def _sr_factor(self, width: int, height: int) -> int:
        assert self._input_size is not None
        w, h = self._input_size
        if width % w or height % h or width // w != height // h:
            return 1
        return max(1, width // w)

    def _set_scale(self, k: int) -> None:
        """Switch the scene to k display pixels per input pixel, keeping what is in view."""
        if k == self._scale:
            return
        self._end_stroke()
        factor = k / self._scale
        centre = self.view_center()
        zoom = self.zoom
        self._scale = k
        self._overlay.setTransform(QTransform.fromScale(k, k))
        self._apply_overlay_visibility()
        compare = self._compare_item.pixmap()
        if not compare.isNull():
            self._compare_item.setTransform(self._stretch(compare))
        self._update_compare()
        if self._fit_mode:
            self.fit()
        else:
            self.set_view(zoom / factor, QPointF(centre.x() * factor, centre.y() * factor))
        self._update_cursor()

    # ------------------------------------------------------------ coordinates
    def image_pos(self, view_pos: QPointF, centre: bool = True) -> QPointF:
        """Image coordinates of a viewport position (of the centre of that screen pixel)."""
        p = QPointF(view_pos)
        if centre:
            p += QPointF(0.5, 0.5)
        inverted, _ = self.viewportTransform().inverted()
        return inverted.map(p)

    def _over_image(self, scene_pos: QPointF) -> bool:
        return self._input_size is not None and self._content_rect().contains(scene_pos)

    # ----------------------------------------------------------------- cursor
    def _update_cursor(self) -> None:
        pos = self._pointer
        on_split = self._split_drag is not None or (
            not self._panning and not self._space_held and not self._stroking and self._over_split(pos))
        show_brush = (self._can_paint() and pos is not None and not self._panning
                      and not self._space_held and not on_split)
        if show_brush:
            scene_pos = self.image_pos(pos)
            self._cursor_item.set_geometry(self.brush_size / 2.0, self.zoom)
            self._cursor_item.setPos(scene_pos)
        self._cursor_item.setVisible(show_brush)
        if self._panning:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._space_held:
            shape = Qt.CursorShape.OpenHandCursor
        elif on_split:
            shape = Qt.CursorShape.SplitHCursor
        elif show_brush and self._over_image(self.image_pos(pos)):
            shape = Qt.CursorShape.BlankCursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        if self.viewport().cursor().shape() != shape:
            self.viewport().setCursor(shape)

    def _report_pointer(self, view_pos: QPointF | None) -> None:
        if view_pos is None or self._input_size is None:
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
        if button == Qt.MouseButton.LeftButton and not self._stroking and self._over_split(pos):
            # the split line wins over painting: a drag there moves it and never paints
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            lx = self._split_screen_x()
            self._split_drag = pos.x() - lx if lx is not None else 0.0
            self._update_cursor()
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._can_paint() and not self._stroking \
                and self._split_drag is None:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            # the fill shows what the brush does; an outline would hide the new paint
            self.set_overlay_style("fill")
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
        elif self._split_drag is not None:
            self._drag_split_to(pos)
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
        if self._split_drag is not None and button == Qt.MouseButton.LeftButton:
            self._drag_split_to(event.position())
            self._split_drag = None
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

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._place_split_handle()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode and self.has_image:
            self.fit()
        else:
            self._update_scene_rect()
