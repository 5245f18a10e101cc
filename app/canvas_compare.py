"""The canvas's compare view: an image under the display, shown while C is held or on one
side of a draggable split line. A mixin of ImageCanvas (app/canvas.py), which owns the items
and the state it reads (``_compare_item``, ``_split``, ``_split_handle``...)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPixmap, QTransform

from .qimage import display_qimage

SPLIT_GRAB_PX = 8.0   # how near (screen pixels) the split line a press grabs it: the handle is 14 wide


class CompareMixin:
    """set_compare / split / hold-C behaviour of the canvas."""

    def set_compare(self, array: np.ndarray | None, split: float | None = 0.5) -> None:
        """Show ``array`` left of a vertical line at ``split`` (fraction of the width).

        ``split=None``: the compare image covers everything, but only while the compare
        key (C) is held or ``set_compare_held(True)``. ``array=None`` ends compare mode.
        The compare image is stretched onto the shown geometry (an input under a
        super-resolved result is upscaled).
        """
        if array is None or self._input_size is None:
            self._compare_on = False
            self._split_drag = None
            self._compare_item.setPixmap(QPixmap())
        else:
            pixmap = self._base_pixmap if array is self._base_array \
                else QPixmap.fromImage(display_qimage(array))
            self._compare_item.setPixmap(pixmap)
            self._compare_item.setTransform(self._stretch(pixmap))
            self._compare_on = True
            self._update_smoothing()
            self._set_split(split)
        self._update_compare()
        self._update_cursor()

    @property
    def compare_split(self) -> float | None:
        """Where the split line is (fraction of the width), or None for hold-to-compare."""
        return self._compare_split

    def set_compare_split(self, split: float | None) -> None:
        """Move the split line (None: hold-to-compare); emits ``splitChanged`` when it moves."""
        self._set_split(split)
        self._update_compare()
        self._update_cursor()

    def _set_split(self, split: float | None) -> None:
        value = None if split is None else min(1.0, max(0.0, float(split)))
        if value == self._compare_split:
            return
        self._compare_split = value
        if value is None:
            self._split_drag = None
        else:
            self.splitChanged.emit(value)

    def set_compare_held(self, held: bool) -> None:
        self._compare_held = bool(held)
        self._update_compare()

    @property
    def compare_visible(self) -> bool:
        return self._compare_clip.isVisible()

    def _stretch(self, pixmap: QPixmap) -> QTransform:
        size = self.image_size
        assert size is not None
        w, h = size
        return QTransform.fromScale(w / max(1, pixmap.width()), h / max(1, pixmap.height()))

    def _update_compare(self) -> None:
        size = self.image_size
        if not self._compare_on or size is None:
            self._compare_clip.setVisible(False)
            self._split_line.setVisible(False)
            self._split_handle.setVisible(False)
            return
        w, h = size
        if self._compare_split is None:
            self._compare_clip.setRect(QRectF(0, 0, w, h))
            self._compare_clip.setVisible(self._compare_held)
            self._split_line.setVisible(False)
            self._split_handle.setVisible(False)
        else:
            x = self._compare_split * w
            self._compare_clip.setRect(QRectF(0, 0, x, h))
            self._compare_clip.setVisible(True)
            self._split_line.setLine(x, 0, x, h)
            self._split_line.setVisible(True)
            self._split_handle.setVisible(True)
            self._place_split_handle()

    @property
    def split_visible(self) -> bool:
        """Whether a draggable split line is on screen."""
        return self._split_line.isVisible()

    def _place_split_handle(self) -> None:
        # The handle sits on the line at the height of the view's centre (kept on the
        # image), so it is at hand however far the view is zoomed or scrolled.
        size = self.image_size
        if size is None or not self._split_handle.isVisible() or self._compare_split is None:
            return
        w, h = size
        y = min(max(self.view_center().y(), 0.0), float(h))
        self._split_handle.setPos(self._compare_split * w, y)

    def _split_screen_x(self) -> float | None:
        """The split line's x in viewport coordinates, or None when there is no line."""
        size = self.image_size
        if size is None or not self.split_visible or self._compare_split is None:
            return None
        return self.viewportTransform().map(QPointF(self._compare_split * size[0], 0.0)).x()

    def _over_split(self, view_pos: QPointF | None) -> bool:
        """Whether a viewport position grabs the split line (near it, over the image)."""
        if view_pos is None:
            return False
        lx = self._split_screen_x()
        if lx is None or abs(view_pos.x() - lx) > SPLIT_GRAB_PX:
            return False
        size = self.image_size
        assert size is not None
        top = self.viewportTransform().map(QPointF(0.0, 0.0)).y()
        bottom = self.viewportTransform().map(QPointF(0.0, float(size[1]))).y()
        return top - SPLIT_GRAB_PX <= view_pos.y() <= bottom + SPLIT_GRAB_PX

    def _drag_split_to(self, view_pos: QPointF) -> None:
        size = self.image_size
        if size is None or self._split_drag is None:
            return
        x = self.image_pos(QPointF(view_pos.x() - self._split_drag, view_pos.y()), centre=False).x()
        self.set_compare_split(x / size[0])
