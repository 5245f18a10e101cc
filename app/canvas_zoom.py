"""Zoom and pan of the canvas: the zoom factor, fitting the image, the view's centre, the scene
rectangle and the smoothing that goes with the zoom. A mixin of ImageCanvas (app/canvas.py),
which owns the items and the state it reads (``_fit_mode``, ``_input_size``, ``_mask_model``...)."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QTransform

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0
ZOOM_STEP = 1.25


class ZoomMixin:
    """set_zoom / fit / set_view of the canvas."""

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

    @property
    def is_fitted(self) -> bool:
        """Whether the view is in fit mode (it refits on resize until zoomed or panned by hand)."""
        return self._fit_mode

    def view_center(self) -> QPointF:
        """The scene (image) point at the centre of the viewport."""
        vp = self.viewport()
        return self.image_pos(QPointF(vp.width() / 2.0, vp.height() / 2.0), centre=False)

    def set_view(self, zoom: float, center: QPointF) -> None:
        """Show image point ``center`` in the middle of the view at ``zoom`` (leaves fit mode)."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._update_scene_rect()
        self.centerOn(center)
        self._fit_mode = False
        self._zoom_changed()

    def _content_rect(self) -> QRectF:
        """The shown image's rectangle (or the mask's, when there is no image) in scene units."""
        size = self.image_size
        if size is not None:
            return QRectF(0, 0, *size)
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
        self._place_split_handle()
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
